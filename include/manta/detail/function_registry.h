// The table of remote functions, filled by MANTA_REMOTE at static initialisation. Every rank
// runs the same binary, so a function is found by its registered name, never by loading code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/buffer.h>
#include <manta/detail/function_traits.h>
#include <manta/detail/store_encode.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace manta::detail {

/// The bytes of one argument as the executing rank sees them.
struct ArgView {
  const std::byte* data = nullptr;
  std::size_t size = 0;
  std::uint64_t tag = 0;
  const SharedBuffer* owner = nullptr;  // the buffer holding data, so views can keep it alive
};

/// How a parameter travels and is held while the call runs: by value, except that a
/// std::string_view parameter receives a std::string and a std::span<const T> a std::vector<T>
/// (a view of the caller's memory means nothing on another rank; these own what they show).
template <class P>
struct arg_wire {
  using type = std::decay_t<P>;
  static_assert(!std::is_pointer_v<type>,
                "a remote function or method cannot take a pointer: its address means nothing on "
                "another rank; take the value (or an ObjectRef<T> to share one object)");
};
template <class P>
requires std::is_same_v<std::decay_t<P>, std::string_view>
struct arg_wire<P> {
  using type = std::string;
};
template <class P>
requires requires {
  typename std::decay_t<P>::element_type;
} && std::is_same_v<std::decay_t<P>, std::span<typename std::decay_t<P>::element_type>>
struct arg_wire<P> {
  using E = typename std::decay_t<P>::element_type;
  static_assert(std::is_const_v<E>,
                "a remote function cannot take std::span<T>: changes would not reach the caller; "
                "take std::span<const T> (it receives a std::vector<T>) or return the result");
  using type = std::vector<std::remove_const_t<E>>;
};
template <class P>
using arg_t = typename arg_wire<P>::type;

/// A result is returned by value; one that views memory would outlive what it views.
template <class R>
constexpr void check_result_type() {
  using V = std::decay_t<R>;
  static_assert(!std::is_same_v<V, std::string_view>,
                "a remote function cannot return std::string_view: the memory it shows is gone "
                "once the call returns; return std::string");
  static_assert(!(std::is_pointer_v<V> && !std::is_class_v<std::remove_pointer_t<V>>),
                "a remote function cannot return a pointer: its address means nothing on another "
                "rank; return the value");
}

/// What a call produced: encoded bytes (or a buffer adopted whole, without a copy), the type tag
/// of the value, and the references encoded inside it.
struct CallResult {
  Buffer bytes;
  SharedBuffer shared;
  std::uint64_t tag = 0;
  std::vector<std::shared_ptr<RefToken>> contained;

  [[nodiscard]] std::size_t size() const noexcept { return shared ? shared->size() : bytes.size(); }
};

/// Encodes a returned value into `out`.
template <class V>
void encode_result(const V& value, CallResult& out) {
  out.tag = type_tag<V>();
  if constexpr (SharesBuffer<V>) {
    if ((out.shared = Codec<V>::share(value))) return;
  }
  RefCapture capture(out.contained);
  encode_for_store(value, out.bytes, "a task's result");
}

template <class M>
struct method_traits;
template <class T, class R, class... A>
struct method_traits<R (T::*)(A...)> {
  using object = T;
  using result = R;
  using params = std::tuple<A...>;
  static constexpr std::size_t arity = sizeof...(A);
};
template <class T, class R, class... A>
struct method_traits<R (T::*)(A...) const> : method_traits<R (T::*)(A...)> {};
template <class T, class R, class... A>
struct method_traits<R (T::*)(A...) noexcept> : method_traits<R (T::*)(A...)> {};
template <class T, class R, class... A>
struct method_traits<R (T::*)(A...) const noexcept> : method_traits<R (T::*)(A...)> {};

/// A method pointer type with its class replaced by T: what &Base::f converts to as a member of T.
template <class M, class T>
struct rebind_method;
template <class B, class R, class... A, class T>
struct rebind_method<R (B::*)(A...), T> {
  using type = R (T::*)(A...);
};
template <class B, class R, class... A, class T>
struct rebind_method<R (B::*)(A...) const, T> {
  using type = R (T::*)(A...) const;
};
template <class B, class R, class... A, class T>
struct rebind_method<R (B::*)(A...) noexcept, T> {
  using type = R (T::*)(A...) noexcept;
};
template <class B, class R, class... A, class T>
struct rebind_method<R (B::*)(A...) const noexcept, T> {
  using type = R (T::*)(A...) const noexcept;
};

/// Identifies a callable: the bytes of its pointer and, for a method, its class. A pointer to a
/// virtual method holds only its vtable slot, so `&Base::f` and `&Derived::f`, or two unrelated
/// classes' virtual methods in the same slot, have the same bytes; the class tells them apart.
struct FunctionKey {
  std::array<std::byte, 16> bytes{};
  std::uint64_t class_tag = 0;  // type_tag of a method's class; 0 for a free function
  friend bool operator==(const FunctionKey&, const FunctionKey&) = default;
};

template <class F>
FunctionKey key_of(F f) {
  static_assert(sizeof(F) <= sizeof(FunctionKey::bytes));
  FunctionKey k;
  std::memcpy(k.bytes.data(), &f, sizeof f);
  if constexpr (std::is_member_function_pointer_v<F>) {
    k.class_tag = type_tag<typename method_traits<F>::object>();
  }
  return k;
}

/// Calls the function (or, for a method, calls it on `instance`) with decoded arguments.
using Invoker = void (*)(const FunctionKey& fn, void* instance, const ArgView* args,
                         std::size_t nargs, CallResult& out);
/// Deletes an actor instance made by a factory.
using Destroyer = void (*)(void* instance);
/// Writes a checkpointable actor's state (see Checkpointable) into `out`.
using StateSaver = void (*)(const void* instance, Buffer& out);
/// A new instance of a checkpointable actor's class, default-constructed, with the state in
/// [data, data + size) loaded into it.
using StateLoader = void* (*)(const std::byte* data, std::size_t size);

struct FunctionEntry {
  std::string name;       // as written in MANTA_REMOTE
  std::string signature;  // demangled, e.g. "int (*)(int, int)"
  FunctionKey key;
  Invoker invoke = nullptr;
  std::size_t arity = 0;
  bool is_method = false;            // &T::m: needs an instance
  bool is_factory = false;           // returns T*: creates an actor; the result holds the pointer
  std::uint64_t class_tag = 0;       // T of a method or a factory
  Destroyer destroy = nullptr;       // factories: deletes the T* they made
  StateSaver save_state = nullptr;   // factories of a Checkpointable T: saves its state
  StateLoader load_state = nullptr;  // ... and makes an instance from saved state
  std::string class_name;            // factories: T, demangled
  std::uint32_t index = 0;           // position in the name-sorted table, the same on every rank
};

/// Adds an entry; a second registration of the same function under the same name is ignored.
void register_function(FunctionEntry entry);

/// The entry for a callable, or nullptr (also before init).
const FunctionEntry* find_function(const FunctionKey& key);

/// The entry for a callable, or throws UnregisteredFunctionError naming it. `signature` names
/// its type; it is called only for the error (demangling costs more than a whole submission).
const FunctionEntry& lookup_function(const FunctionKey& key, std::string (*signature)(),
                                     const void* address);

/// Turns an actor instance (a `From*` as void*) into a pointer to its base class `To`, so that a
/// base-class method called on a derived actor gets the right `this` (with multiple or virtual
/// inheritance the address changes).
using Upcast = void* (*)(void* instance);
bool register_upcast(std::uint64_t from_class, std::uint64_t to_class, Upcast cast);
/// The registered cast, or nullptr.
Upcast find_upcast(std::uint64_t from_class, std::uint64_t to_class);

template <class From, class To>
void* upcast(void* instance) {
  return static_cast<To*>(static_cast<From*>(instance));
}
/// Registered during static initialisation wherever a call of a `To` method on a `From` actor is
/// written, so every rank (all run the same binary) can make that call.
template <class From, class To>
inline const bool upcast_registered = register_upcast(type_tag<From>(), type_tag<To>(),
                                                      &upcast<From, To>);

/// Splits "a, ns::b, &C::m" at top-level commas into trimmed names ("a", "ns::b", "C::m"). An
/// overload picked with MANTA_FUNC(f, int, double) is named "f(int, double)".
std::vector<std::string> split_registered_names(std::string_view text);

template <class T>
T decode_arg(const ArgView& arg, std::size_t position) {
  if (arg.tag != type_tag<T>()) {
    throw_serialization_error("argument " + std::to_string(position) + ": expected " +
                              type_name<T>() + ", got " + type_name_of_tag(arg.tag));
  }
  return decode_from<T>(arg.owner, arg.data, arg.size);
}

/// Passes a decoded argument as the parameter wants it: moved into by-value parameters.
template <class P, class V>
decltype(auto) pass_arg(V& value) {
  if constexpr (std::is_lvalue_reference_v<P>) {
    return (value);
  } else {
    return std::move(value);
  }
}

template <class R, class... A, std::size_t... I>
void call_with_args(R (*f)(A...), const ArgView* args, CallResult& out, std::index_sequence<I...>) {
  // Braced initialisation evaluates left to right, so arguments decode in order.
  std::tuple<arg_t<A>...> values{decode_arg<arg_t<A>>(args[I], I)...};
  if constexpr (std::is_void_v<R>) {
    f(pass_arg<A>(std::get<I>(values))...);
    out.tag = type_tag<void>();
  } else {
    using V = std::decay_t<R>;
    const V& result = f(pass_arg<A>(std::get<I>(values))...);
    encode_result(result, out);
  }
}

template <class R, class... A>
void invoke_free_function(const FunctionKey& key, void* /*instance*/, const ArgView* args,
                          std::size_t nargs, CallResult& out) {
  using Fn = R (*)(A...);
  if (nargs != sizeof...(A)) {
    throw_serialization_error("expected " + std::to_string(sizeof...(A)) + " arguments, got " +
                              std::to_string(nargs));
  }
  Fn f;
  std::memcpy(&f, key.bytes.data(), sizeof f);
  if constexpr (std::is_pointer_v<R> && std::is_class_v<std::remove_pointer_t<R>>) {
    // A factory: the new instance stays on this rank; the result carries its address.
    auto call = [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::tuple<arg_t<A>...> values{decode_arg<arg_t<A>>(args[I], I)...};
      return f(pass_arg<A>(std::get<I>(values))...);
    };
    R instance = call(std::index_sequence_for<A...>{});
    out.bytes.append(&instance, sizeof instance);
    out.tag = type_tag<R>();
  } else {
    call_with_args(f, args, out, std::index_sequence_for<A...>{});
  }
}

template <class T>
void destroy_instance(void* instance) {
  delete static_cast<T*>(instance);
}

/// An actor class whose state Manta can checkpoint: it has `template <class A> void save(A&)
/// const` and `template <class A> void load(A&)`, or a Boost `serialize(A&, unsigned)`, and a
/// default constructor (a restored instance is default-constructed, then loaded).
template <class T>
concept HasSaveLoad = requires(const T& c, T& t, OutArchive& out, InArchive& in) {
  c.save(out);
  t.load(in);
};
template <class T>
concept HasSerialize = requires(T& t, OutArchive& out) {
  t.serialize(out, 0u);
};
template <class T>
concept Checkpointable = std::is_default_constructible_v<T> &&(HasSaveLoad<T> || HasSerialize<T>);

template <class T>
void save_instance_state(const void* instance, Buffer& out) {
  const T& self = *static_cast<const T*>(instance);
  BufferWriteStream stream(out);
  OutArchive archive(stream, archive_flags);
  if constexpr (HasSaveLoad<T>) {
    self.save(archive);
  } else {
    const_cast<T&>(self).serialize(archive, 0u);  // Boost's serialize saves through a non-const T
  }
}

template <class T>
void* load_instance_state(const std::byte* data, std::size_t size) {
  auto instance = std::make_unique<T>();
  ByteReadStream stream(data, size);
  InArchive archive(stream, archive_flags);
  if constexpr (HasSaveLoad<T>) {
    instance->load(archive);
  } else {
    instance->serialize(archive, 0u);
  }
  return instance.release();
}

template <class R, class... A>
FunctionEntry make_entry(std::string name, R (*f)(A...)) {
  check_result_type<R>();
  FunctionEntry e;
  e.name = std::move(name);
  e.signature = type_name<R (*)(A...)>();
  e.key = key_of(f);
  e.invoke = &invoke_free_function<R, A...>;
  e.arity = sizeof...(A);
  if constexpr (std::is_pointer_v<R> && std::is_class_v<std::remove_pointer_t<R>>) {
    using T = std::remove_pointer_t<R>;
    e.is_factory = true;
    e.class_tag = type_tag<std::remove_cv_t<T>>();
    e.destroy = &destroy_instance<std::remove_cv_t<T>>;
    e.class_name = type_name<std::remove_cv_t<T>>();
    if constexpr (Checkpointable<std::remove_cv_t<T>>) {
      e.save_state = &save_instance_state<std::remove_cv_t<T>>;
      e.load_state = &load_instance_state<std::remove_cv_t<T>>;
    } else {
      static_assert(!HasSaveLoad<std::remove_cv_t<T>>,
                    "an actor class with save/load is checkpointable and needs a default "
                    "constructor: a restored actor is default-constructed, then loaded");
    }
  } else {
    (void)type_tag<std::decay_t<R>>();
  }
  // Instantiating the tags now records their names, so mismatches can be reported by name.
  ((void)type_tag<arg_t<A>>(), ...);
  return e;
}
template <class R, class... A>
FunctionEntry make_entry(std::string name, R (*f)(A...) noexcept) {
  return make_entry(std::move(name), reinterpret_cast<R (*)(A...)>(f));
}

template <class M, class R, class... A>
void invoke_method(const FunctionKey& key, void* instance, const ArgView* args, std::size_t nargs,
                   CallResult& out) {
  using T = typename method_traits<M>::object;
  if (nargs != sizeof...(A)) {
    throw_serialization_error("expected " + std::to_string(sizeof...(A)) + " arguments, got " +
                              std::to_string(nargs));
  }
  M m;
  std::memcpy(&m, key.bytes.data(), sizeof m);
  T* self = static_cast<T*>(instance);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    std::tuple<arg_t<A>...> values{decode_arg<arg_t<A>>(args[I], I)...};
    if constexpr (std::is_void_v<R>) {
      (self->*m)(pass_arg<A>(std::get<I>(values))...);
      out.tag = type_tag<void>();
    } else {
      using V = std::decay_t<R>;
      const V& result = (self->*m)(pass_arg<A>(std::get<I>(values))...);
      encode_result(result, out);
    }
  }
  (std::index_sequence_for<A...>{});
}

template <class M, class T, class R, class... A>
FunctionEntry make_method_entry(std::string name, M m, std::tuple<A...>*) {
  check_result_type<R>();
  FunctionEntry e;
  e.name = std::move(name);
  e.signature = type_name<M>();
  e.key = key_of(m);
  e.invoke = &invoke_method<M, R, A...>;
  e.arity = sizeof...(A);
  e.is_method = true;
  e.class_tag = type_tag<T>();
  if constexpr (!std::is_void_v<R>) (void)type_tag<std::decay_t<R>>();
  ((void)type_tag<arg_t<A>>(), ...);
  return e;
}

template <class F>
void register_one(const std::string& name, F f) {
  if constexpr (std::is_member_function_pointer_v<F>) {
    using Tr = method_traits<F>;
    register_function(make_method_entry<F, typename Tr::object, typename Tr::result>(
        name, f, static_cast<typename Tr::params*>(nullptr)));
  } else {
    register_function(make_entry(name, +f));
  }
}

/// Picks the overload of a function that takes exactly `A...` (see MANTA_FUNC).
template <class... A>
struct overload {
  template <class R>
  static constexpr auto of(R (*f)(A...)) noexcept {
    return f;
  }
};

template <class... F>
bool register_functions(const char* names, F... fs) {
  std::vector<std::string> list = split_registered_names(names);
  std::size_t i = 0;
  (register_one(list.at(i++), fs), ...);
  return true;
}

}  // namespace manta::detail

#define MANTA_DETAIL_CONCAT2(a, b) a##b
#define MANTA_DETAIL_CONCAT(a, b) MANTA_DETAIL_CONCAT2(a, b)

/// Registers the functions in `...` under the comma-separated names in the string `names`.
#define MANTA_DETAIL_REGISTER(names, ...)                                                  \
  [[maybe_unused]] static const bool MANTA_DETAIL_CONCAT(manta_registered_, __COUNTER__) = \
      ::manta::detail::register_functions(names, __VA_ARGS__)

/// Registers remote functions, actor factories and actor methods by name, once, at namespace
/// scope:   MANTA_REMOTE(add, physics::step, Counter::create, &Counter::incr);
#define MANTA_REMOTE(...) MANTA_DETAIL_REGISTER(#__VA_ARGS__, __VA_ARGS__)

/// One overload of an overloaded function, by its parameter types, wherever the function is
/// named: MANTA_REMOTE(MANTA_FUNC(area, double), MANTA_FUNC(area, double, double)) and
/// manta::task(MANTA_FUNC(area, double)).remote(2.0). Registered as "area(double)".
#define MANTA_FUNC(f, ...) ::manta::detail::overload<__VA_ARGS__>::of(&f)
