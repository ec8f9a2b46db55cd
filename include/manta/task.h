// manta::task(f).<options>.remote(args...): submit a registered function as a remote task.
#pragma once

#include <type_traits>
#include <utility>

#include <manta/detail/function_registry.h>
#include <manta/detail/function_traits.h>
#include <manta/detail/runtime_api.h>
#include <manta/init.h>
#include <manta/object_ref.h>
#include <manta/options.h>
#include <manta/placement_group.h>

namespace manta {
namespace detail {

template <class Param, class Arg>
void add_arg(Submission& s, Arg&& arg) {
  using P = arg_t<Param>;
  using A = std::decay_t<Arg>;
  ArgSlot slot;
  if constexpr (is_object_ref<A>::value && !is_object_ref<P>::value) {
    // An ObjectRef where the function takes a value: resolved before the task runs.
    static_assert(std::is_same_v<typename A::value_type, P>,
                  "manta::task: an ObjectRef<T> argument needs a parameter of type T (or "
                  "ObjectRef<T> to pass the reference itself)");
    slot.kind = ArgSlot::Kind::ref;
    slot.tag = type_tag<P>();
    slot.ref = arg.token();
  } else {
    static_assert(std::is_constructible_v<P, Arg&&>,
                  "manta::task: argument type does not convert to the parameter type");
    slot.kind = ArgSlot::Kind::inline_value;
    slot.tag = type_tag<P>();
    slot.offset = s.inline_bytes.size();
    // References inside the value (or the value itself, for ObjectRef<T> parameters) stay
    // alive until the task is done, so the executor can borrow them.
    RefCapture capture(s.keep_alive);
    // A large argument becomes an object in this rank's store: one that could never fit fails
    // here, before it is copied.
    if constexpr (std::is_same_v<P, A>) {
      encode_for_store(arg, s.inline_bytes, "a task argument");
    } else {
      encode_for_store(P(std::forward<Arg>(arg)), s.inline_bytes, "a task argument");
    }
    slot.size = s.inline_bytes.size() - slot.offset;
  }
  s.args.push_back(std::move(slot));
}

/// Encodes arguments against the parameter types in the tuple `Params`.
template <class Params, class... A, std::size_t... I>
void add_args(Submission& s, std::index_sequence<I...>, A&&... args) {
  (add_arg<std::tuple_element_t<I, Params>>(s, std::forward<A>(args)), ...);
}

}  // namespace detail

/// Builder returned by manta::task(f); options chain before .remote(...).
template <class F>
class TaskBuilder {
 public:
  using Traits = detail::function_traits<F>;
  using Result = typename Traits::result;
  using Value = std::conditional_t<std::is_void_v<Result>, void, std::decay_t<Result>>;

  /// As in Ray, a function that was never registered fails here, where the call is written,
  /// once the runtime is up (before init, at .remote()).
  explicit TaskBuilder(F f) : f_(f) {
    if (is_initialized()) function_ = &lookup();
  }

  TaskBuilder& name(std::string n) {
    options_.name = std::move(n);
    return *this;
  }
  TaskBuilder& resources(ResourceMap r) {
    options_.resources = std::move(r);
    return *this;
  }
  TaskBuilder& memory(std::uint64_t bytes) {
    options_.memory = bytes;
    return *this;
  }
  TaskBuilder& max_retries(int n) {
    options_.max_retries = n;
    return *this;
  }
  TaskBuilder& retry_exceptions(bool on = true) {
    options_.retry_exceptions = on;
    return *this;
  }
  TaskBuilder& on_rank(int rank) {
    options_.on_rank = rank;
    return *this;
  }
  /// Variables manta::getenv sees while the task runs (env.h); std::getenv does not.
  TaskBuilder& env(EnvVars vars) {
    options_.env = std::move(vars);
    return *this;
  }
  /// Runs the task in bundle `bundle_index` of `pg` (-1: any bundle with room): it takes its
  /// resources from the bundle's reservation, not the rank's free pool, on the bundle's rank.
  TaskBuilder& placement_group(const PlacementGroup& pg, int bundle_index = -1) {
    options_.placement_group = pg.target(bundle_index);
    return *this;
  }
  [[nodiscard]] const TaskOptions& options() const noexcept { return options_; }

  template <class... A>
  ObjectRef<Value> remote(A&&... args) const {
    static_assert(sizeof...(A) == Traits::arity,
                  "manta::task(f).remote: wrong number of arguments for f");
    detail::Submission s;
    s.function = function_ ? function_ : &lookup();
    s.args.reserve(sizeof...(A));
    detail::add_args<typename Traits::params>(s, std::index_sequence_for<A...>{},
                                              std::forward<A>(args)...);
    return ObjectRef<Value>(detail::submit_task(std::move(s), options_));
  }

 private:
  const detail::FunctionEntry& lookup() const {
    return detail::lookup_function(detail::key_of(f_), &detail::type_name<F>,
                                   reinterpret_cast<const void*>(f_));
  }

  F f_;
  const detail::FunctionEntry* function_ = nullptr;
  TaskOptions options_;
};

/// Starts a task submission for a function registered with MANTA_REMOTE.
template <class F>
auto task(F f) {
  static_assert(std::is_function_v<std::remove_pointer_t<F>>,
                "manta::task takes a function registered with MANTA_REMOTE");
  using R = typename detail::function_traits<std::remove_cvref_t<decltype(+f)>>::result;
  static_assert(
      !(std::is_pointer_v<R> && std::is_class_v<std::remove_pointer_t<R>>),
      "a function returning T* is an actor factory: create the actor with manta::actor(f)");
  return TaskBuilder<std::remove_cvref_t<decltype(+f)>>(+f);
}

}  // namespace manta
