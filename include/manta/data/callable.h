// How a dataset's functions travel to the ranks that run them. Every rank runs the same binary,
// so a function is named, not shipped: a function registered with MANTA_REMOTE goes by its
// registered name; a lambda without captures (or any empty function object) is rebuilt from its
// type; a function object with state goes by its Boost encoding (it needs `serialize`).
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <manta/buffer.h>
#include <manta/data/errors.h>
#include <manta/detail/function_lookup.h>
#include <manta/detail/function_registry.h>
#include <manta/serialization.h>

namespace manta::data {

template <class F>
concept FunctionPointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;
template <class F>
concept EmptyFunctionObject =
    std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F>;
template <class F>
concept SerializableFunctionObject =
    std::is_class_v<F> && !std::is_empty_v<F> && std::is_default_constructible_v<F> &&
    requires(F & f, manta::detail::OutArchive& ar) {
  f.serialize(ar, 0u);
};

/// A callable a dataset can send to other ranks.
template <class F>
concept PortableFunction =
    FunctionPointer<F> || EmptyFunctionObject<F> || SerializableFunctionObject<F>;

namespace detail {

template <class F>
constexpr void check_portable() {
  static_assert(PortableFunction<F>,
                "a dataset transform runs on other ranks, so it must be a function registered "
                "with MANTA_REMOTE, a lambda without captures, or a function object with a "
                "default constructor and a Boost serialize(Archive&, unsigned) for its state "
                "(a lambda with captures cannot travel: put its state in such an object)");
}

/// The bytes that name or carry `f`.
template <class F>
std::vector<std::byte> save_function(const F& f) {
  check_portable<F>();
  if constexpr (FunctionPointer<F>) {
    const manta::detail::FunctionEntry* entry =
        manta::detail::find_function(manta::detail::key_of(f));
    if (entry == nullptr) {
      throw DataError("a dataset transform of type " + manta::detail::type_name<F>() +
                      " is a function that MANTA_REMOTE did not register (or manta::init has "
                      "not run): register it with MANTA_REMOTE(name) at namespace scope");
    }
    const auto* p = reinterpret_cast<const std::byte*>(entry->name.data());
    return {p, p + entry->name.size()};
  } else if constexpr (EmptyFunctionObject<F>) {
    return {};
  } else {
    Buffer out;
    Codec<F>::encode(f, out);
    return {out.data(), out.data() + out.size()};
  }
}

/// `f` again, on any rank, from the bytes save_function made.
template <class F>
F load_function(const std::vector<std::byte>& bytes) {
  check_portable<F>();
  if constexpr (FunctionPointer<F>) {
    const std::string name(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const manta::detail::FunctionEntry* entry = manta::detail::find_function_named(name);
    if (entry == nullptr || entry->is_method || entry->is_factory) {
      throw DataError("dataset transform '" + name + "' is not a registered function here");
    }
    F f;
    std::memcpy(&f, entry->key.bytes.data(), sizeof f);
    return f;
  } else if constexpr (EmptyFunctionObject<F>) {
    return F{};
  } else {
    return Codec<F>::decode(bytes.data(), bytes.size());
  }
}

/// A short name for plans and errors: the registered name, or the type's.
template <class F>
std::string function_label(const F& f) {
  if constexpr (FunctionPointer<F>) {
    if (const auto* e = manta::detail::find_function(manta::detail::key_of(f))) return e->name;
  }
  std::string name = manta::detail::type_name<F>();
  if (name.size() > 48) name = name.substr(0, 45) + "...";
  return name;
}

}  // namespace detail
}  // namespace manta::data
