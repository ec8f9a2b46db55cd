// Actors: state that lives on one rank and changes through method calls.
//   auto c = manta::actor(Counter::create).name("c").max_restarts(1).remote(0);
//   auto r = c.task(&Counter::incr).remote(5);   // calls from one caller run in order
// Names are unique within a namespace (as in Ray): by default the job's (--manta-namespace),
// or one given with .name(name, ns) and get_actor<T>(name, ns).
#pragma once

#include <boost/serialization/access.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <manta/detail/function_registry.h>
#include <manta/detail/runtime_api.h>
#include <manta/ids.h>
#include <manta/init.h>
#include <manta/object_ref.h>
#include <manta/options.h>
#include <manta/placement_group.h>
#include <manta/task.h>

namespace manta {

/// Options of an actor, chained before .remote(...).
struct ActorOptions {
  std::string name;              // registers the actor under this name (see get_actor)
  std::string name_space;        // the name's namespace; empty: the job's (get_namespace())
  ResourceMap resources;         // held for the actor's whole life; default none
  int max_restarts = 0;          // times kill(false) rebuilds it from its factory
  int max_concurrency = 1;       // calls that may run at once
  int on_rank = -1;              // create it on this rank
  BundleTarget placement_group;  // hold this bundle's reserved resources, on its rank
  EnvVars env;                   // seen by manta::getenv in its factory and every call (env.h)
};

/// Options of one actor method call, chained before .remote(...).
struct ActorCallOptions {
  std::string name;  // shown in errors and timelines instead of the method's name
  /// Taken from the actor's rank while this call runs, beyond what the actor holds (a GPU for
  /// one step, say): the call waits its turn until they are free. A request the rank can never
  /// meet fails the call at once with UnschedulableError.
  ResourceMap resources;
};

namespace detail {
ActorId create_actor(Submission&& factory_call, const ActorOptions& options,
                     std::uint64_t class_tag);
std::shared_ptr<RefToken> submit_actor_call(const ActorId& actor, Submission&& call,
                                            const ActorCallOptions& options);
void kill_actor(const ActorId& actor, bool no_restart);
/// `name_space` empty: the job's namespace.
std::optional<ActorId> lookup_actor(const std::string& name, const std::string& name_space,
                                    std::uint64_t class_tag, const std::string& class_name);

/// An explicitly given namespace must be named, and only a named actor has one.
inline void check_name_space(const std::string& name, const std::string& name_space,
                             const char* call) {
  if (name_space.empty()) {
    throw std::invalid_argument(std::string(call) +
                                ": the namespace is empty; give one, or leave it out to use the "
                                "job's namespace (--manta-namespace)");
  }
  if (name.empty()) {
    throw std::invalid_argument(std::string(call) + ": namespace '" + name_space +
                                "' given with an empty actor name; a namespace only holds names");
  }
}
}  // namespace detail

/// The job's namespace for actor names: --manta-namespace, "default" unless set.
std::string get_namespace();

template <class T, class M>
class ActorMethodCall {
  using Traits = detail::method_traits<M>;
  using Result = typename Traits::result;

 public:
  using Value = std::conditional_t<std::is_void_v<Result>, void, std::decay_t<Result>>;
  static_assert(std::is_base_of_v<typename Traits::object, T>,
                "handle.task(&C::method): the method must belong to the actor's class");

  /// An unregistered method fails here once the runtime is up (before init, at .remote()).
  ActorMethodCall(ActorId actor, M method) : actor_(actor), method_(method) {
    if (is_initialized()) function_ = &lookup();
  }

  /// Names this call in errors and timelines (as Ray's .SetName on an actor task).
  ActorMethodCall& name(std::string n) {
    options_.name = std::move(n);
    return *this;
  }
  /// Resources for this call only, e.g. {{"GPU", 1}}: see ActorCallOptions::resources.
  ActorMethodCall& resources(ResourceMap r) {
    options_.resources = std::move(r);
    return *this;
  }
  [[nodiscard]] const ActorCallOptions& options() const noexcept { return options_; }

  template <class... A>
  ObjectRef<Value> remote(A&&... args) const {
    static_assert(sizeof...(A) == Traits::arity,
                  "handle.task(&C::m).remote: wrong number of arguments for the method");
    detail::Submission s;
    s.function = function_ ? function_ : &lookup();
    s.args.reserve(sizeof...(A));
    detail::add_args<typename Traits::params>(s, std::index_sequence_for<A...>{},
                                              std::forward<A>(args)...);
    return ObjectRef<Value>(detail::submit_actor_call(actor_, std::move(s), options_));
  }

 private:
  const detail::FunctionEntry& lookup() const {
    const detail::FunctionEntry* found = detail::find_function(detail::key_of(method_));
    if constexpr (!std::is_same_v<T, typename Traits::object>) {
      // A base-class method on a derived actor: its host converts the instance first.
      static_cast<void>(detail::upcast_registered<T, typename Traits::object>);
      using Own = typename detail::rebind_method<M, T>::type;
      if constexpr (std::is_convertible_v<M, Own>) {
        // Registered only as the actor's own (&T::f): as a member of T it is that function.
        if (!found) found = detail::find_function(detail::key_of(static_cast<Own>(method_)));
      }
    }
    if (found) return *found;
    return detail::lookup_function(detail::key_of(method_), &detail::type_name<M>, nullptr);
  }

  ActorId actor_;
  M method_;
  const detail::FunctionEntry* function_ = nullptr;
  ActorCallOptions options_;
};

/// A reference to an actor. Copyable and serializable: pass it to tasks and other actors.
template <class T>
class ActorHandle {
 public:
  ActorHandle() = default;
  explicit ActorHandle(ActorId id) noexcept : id_(id) {}

  [[nodiscard]] ActorId id() const noexcept { return id_; }
  [[nodiscard]] bool valid() const noexcept { return id_.valid(); }

  /// A call of `method` on this actor; finish it with .remote(args...).
  template <class M>
  ActorMethodCall<T, M> task(M method) const {
    static_assert(std::is_member_function_pointer_v<M>, "handle.task takes &Class::method");
    return ActorMethodCall<T, M>(id_, method);
  }

  /// Stops the actor. With no_restart = false and restarts left, it is rebuilt from its
  /// factory instead. Calls that cannot run any more fail with ActorDiedError.
  void kill(bool no_restart = true) const { detail::kill_actor(id_, no_restart); }

  friend bool operator==(const ActorHandle& a, const ActorHandle& b) noexcept {
    return a.id_ == b.id_;
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& id_.creator& id_.reserved& id_.seq;
  }

 private:
  ActorId id_;
};

template <class F>
class ActorBuilder {
  using Traits = detail::function_traits<F>;
  using Pointer = typename Traits::result;
  static_assert(std::is_pointer_v<Pointer> && std::is_class_v<std::remove_pointer_t<Pointer>>,
                "manta::actor takes a factory registered with MANTA_REMOTE that returns T*");

 public:
  using Class = std::remove_cv_t<std::remove_pointer_t<Pointer>>;

  /// An unregistered factory fails here once the runtime is up (before init, at .remote()).
  explicit ActorBuilder(F factory) : factory_(factory) {
    if (is_initialized()) function_ = &lookup();
  }

  ActorBuilder& name(std::string n) {
    options_.name = std::move(n);
    return *this;
  }
  /// Registers the actor under `n` in namespace `ns` (not the job's).
  ActorBuilder& name(std::string n, std::string ns) {
    detail::check_name_space(n, ns, "manta::actor(f).name(name, ns)");
    options_.name = std::move(n);
    options_.name_space = std::move(ns);
    return *this;
  }
  ActorBuilder& resources(ResourceMap r) {
    options_.resources = std::move(r);
    return *this;
  }
  ActorBuilder& max_restarts(int n) {
    options_.max_restarts = n;
    return *this;
  }
  ActorBuilder& max_concurrency(int n) {
    options_.max_concurrency = n;
    return *this;
  }
  ActorBuilder& on_rank(int rank) {
    options_.on_rank = rank;
    return *this;
  }
  /// Variables manta::getenv sees in the factory and in every call of the actor (env.h).
  ActorBuilder& env(EnvVars vars) {
    options_.env = std::move(vars);
    return *this;
  }
  /// Creates the actor in bundle `bundle_index` of `pg` (-1: any bundle with room): it holds
  /// its resources out of the bundle's reservation and lives on the bundle's rank. Removing the
  /// group kills it.
  ActorBuilder& placement_group(const PlacementGroup& pg, int bundle_index = -1) {
    options_.placement_group = pg.target(bundle_index);
    return *this;
  }

  /// Creates the actor. Returns at once (calls made before it is ready wait for it), except for
  /// a named actor, which returns once the name is registered and throws std::invalid_argument
  /// if it is taken.
  template <class... A>
  ActorHandle<Class> remote(A&&... args) const {
    static_assert(sizeof...(A) == Traits::arity,
                  "manta::actor(f).remote: wrong number of arguments");
    detail::Submission s;
    s.function = function_ ? function_ : &lookup();
    detail::add_args<typename Traits::params>(s, std::index_sequence_for<A...>{},
                                              std::forward<A>(args)...);
    return ActorHandle<Class>(
        detail::create_actor(std::move(s), options_, detail::type_tag<Class>()));
  }

 private:
  const detail::FunctionEntry& lookup() const {
    return detail::lookup_function(detail::key_of(factory_), &detail::type_name<F>,
                                   reinterpret_cast<const void*>(factory_));
  }

  F factory_;
  const detail::FunctionEntry* function_ = nullptr;
  ActorOptions options_;
};

/// Starts an actor creation with a factory (a function returning T*) registered with MANTA_REMOTE.
template <class F>
auto actor(F factory) {
  return ActorBuilder<std::remove_cvref_t<decltype(+factory)>>(+factory);
}

/// The live actor registered under `name` in the job's namespace, if any. Throws
/// std::invalid_argument if it is not a T.
template <class T>
std::optional<ActorHandle<T>> get_actor(const std::string& name) {
  auto id = detail::lookup_actor(name, {}, detail::type_tag<T>(), detail::type_name<T>());
  if (!id) return std::nullopt;
  return ActorHandle<T>(*id);
}

/// The live actor registered under `name` in namespace `ns`, if any.
template <class T>
std::optional<ActorHandle<T>> get_actor(const std::string& name, const std::string& ns) {
  detail::check_name_space(name, ns, "manta::get_actor(name, ns)");
  auto id = detail::lookup_actor(name, ns, detail::type_tag<T>(), detail::type_name<T>());
  if (!id) return std::nullopt;
  return ActorHandle<T>(*id);
}

/// Ends the actor whose method calls it, from inside that method: no restart; this call and
/// every later one fail with ActorDiedError.
[[noreturn]] void exit_actor();

/// True inside an actor that was rebuilt after kill(false).
bool was_actor_restarted() noexcept;

}  // namespace manta
