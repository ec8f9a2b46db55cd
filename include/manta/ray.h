// Ray's C++ API names over Manta, so that a Ray C++ program builds against Manta by changing its
// include (<ray/api.h> to <manta/ray.h>) and its link line, and runs under mpirun or srun.
//   ray::Init();
//   auto ref = ray::Task(Plus).Remote(1, 2);     // Plus registered with RAY_REMOTE(Plus)
//   int three = *ref.Get();
// Each name is a thin layer over Manta's own API (<manta/manta.h>), which may be mixed with it.
// Where a Ray call cannot mean the same on MPI ranks (other languages' workers, a `ray start`
// cluster, detached actors), it fails to compile or throws a RayException that says why.
// docs/porting_from_ray.md lists every call, its Manta equivalent and what differs on purpose.
#pragma once

#include <algorithm>
#include <boost/optional.hpp>
#include <boost/serialization/base_object.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace ray {

template <class T>
class ObjectRef;

namespace internal {

/// The base of every error this layer throws, as in Ray; what() is Manta's message (rank, task,
/// cause).
class RayException : public std::exception {
 public:
  explicit RayException(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }
  std::string msg_;
};
/// An actor died before or while running the call.
class RayActorException : public RayException {
  using RayException::RayException;
};
/// The task threw: what() holds its exception's type and message.
class RayTaskException : public RayException {
  using RayException::RayException;
};
/// Declared for Ray programs that catch it; a rank that fails ends a Manta job (the MPI job),
/// so nothing throws it.
class RayWorkerException : public RayException {
  using RayException::RayException;
};
/// The object was lost with every copy and could not be rebuilt.
class UnreconstructableException : public RayException {
  using RayException::RayException;
};
/// The function was never registered with RAY_REMOTE.
class RayFunctionNotFound : public RayException {
  using RayException::RayException;
};
/// A runtime environment asks for what Manta cannot give (anything but env_vars).
class RayRuntimeEnvException : public RayException {
  using RayException::RayException;
};
/// Get or Wait with a timeout that passed first.
class RayTimeoutException : public RayException {
  using RayException::RayException;
};

/// Rethrows the Manta error in flight as the Ray exception a Ray program catches.
[[noreturn]] inline void rethrow_as_ray() {
  try {
    throw;
  } catch (const manta::ActorDiedError& e) {
    throw RayActorException(e.what());
  } catch (const manta::TaskError& e) {
    throw RayTaskException(e.what());
  } catch (const manta::ObjectLostError& e) {
    throw UnreconstructableException(e.what());
  } catch (const manta::UnregisteredFunctionError& e) {
    throw RayFunctionNotFound(e.what());
  } catch (const manta::GetTimeoutError& e) {
    throw RayTimeoutException(e.what());
  } catch (const manta::Error& e) {
    throw RayException(e.what());
  }
}

/// Runs `f`, turning Manta's errors into Ray's; other exceptions pass unchanged.
template <class F>
decltype(auto) guarded(F&& f) {
  try {
    return f();
  } catch (const manta::Error&) {
    rethrow_as_ray();
  }
}

template <class T>
inline constexpr bool always_false = false;

/// This process's command line (Linux /proc/self/cmdline), so that ray::Init() without
/// arguments still sees the --manta-* settings given to the program.
inline std::vector<std::string> process_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      args.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < all.size()) args.push_back(all.substr(start));
  if (args.empty()) args.emplace_back("manta-program");
  return args;
}

}  // namespace internal

using internal::RayException;

// ---- runtime environment --------------------------------------------------------------------

/// Ray's runtime environment. Every rank runs the same binary from a shared file system, so only
/// `env_vars` has a meaning here; any other field throws RayRuntimeEnvException when set.
class RuntimeEnv {
 public:
  using EnvVars = std::map<std::string, std::string>;

  template <class T>
  void Set(const std::string& name, const T& value) {
    if (name != "env_vars") unsupported(name);
    if constexpr (std::is_convertible_v<const T&, EnvVars>) {
      env_vars_ = value;
    } else if constexpr (requires { typename T::value_type; } &&
                         std::is_convertible_v<typename T::value_type,
                                               std::pair<const std::string, std::string>>) {
      env_vars_ = EnvVars(value.begin(), value.end());  // an unordered_map, say
    } else {
      throw internal::RayRuntimeEnvException(
          "RuntimeEnv::Set(\"env_vars\", m): m must map names to values, e.g. "
          "std::map<std::string, std::string>");
    }
    has_env_vars_ = true;
  }
  template <class T>
  T Get(const std::string& name) const {
    if (name != "env_vars") unsupported(name);
    if (!has_env_vars_) throw internal::RayRuntimeEnvException("RuntimeEnv: env_vars is not set");
    return T(env_vars_.begin(), env_vars_.end());
  }
  [[nodiscard]] bool Contains(const std::string& name) const {
    return name == "env_vars" && has_env_vars_;
  }
  bool Remove(const std::string& name) {
    if (!Contains(name)) return false;
    env_vars_.clear();
    has_env_vars_ = false;
    return true;
  }
  [[nodiscard]] bool Empty() const { return !has_env_vars_; }
  [[nodiscard]] const EnvVars& env_vars() const noexcept { return env_vars_; }

 private:
  [[noreturn]] static void unsupported(const std::string& name) {
    throw internal::RayRuntimeEnvException(
        "RuntimeEnv field '" + name +
        "' is not supported: every rank of a Manta job runs the same program from a shared file "
        "system, so only 'env_vars' applies (other settings go on the mpirun or srun line)");
  }
  EnvVars env_vars_;
  bool has_env_vars_ = false;
};

// ---- starting and stopping ------------------------------------------------------------------

enum class ActorLifetime { NON_DETACHED, DETACHED };

/// Ray's settings. The cluster is the MPI job, so `address`, `head_args` and `code_search_path`
/// (a `ray start` cluster, code loaded at run time) are refused; `manta_args` are Manta's own
/// settings (e.g. "--manta-workers=4") added to the command line's.
struct RayConfig {
  std::string address;
  bool local_mode = false;
  std::vector<std::string> code_search_path;
  std::vector<std::string> head_args;
  std::string ray_namespace;
  boost::optional<RuntimeEnv> runtime_env;
  ActorLifetime default_actor_lifetime = ActorLifetime::NON_DETACHED;
  std::string redis_password;  // no Redis here: ignored
  std::vector<std::string> manta_args;
};

namespace internal {

inline void check_config(const RayConfig& c) {
  auto refuse = [](const std::string& field, const std::string& why) {
    throw RayException("RayConfig::" + field + " is not supported: " + why);
  };
  const char* mpi =
      "the cluster is the set of ranks mpirun or srun starts; run the program "
      "with `mpirun -np N ./program` instead";
  if (!c.address.empty()) refuse("address", mpi);
  if (!c.head_args.empty()) refuse("head_args", mpi);
  if (c.local_mode) refuse("local_mode", "run the program on one rank (mpirun -np 1) instead");
  if (!c.code_search_path.empty())
    refuse("code_search_path", "every rank runs the same binary, which holds every function");
  if (c.default_actor_lifetime == ActorLifetime::DETACHED)
    refuse("default_actor_lifetime = DETACHED", "an actor cannot outlive the MPI job");
}

/// Starts Manta with `args` (argv[0] first) plus the settings `config` implies.
inline void start(std::vector<std::string> args, const RayConfig& config) {
  if (!config.ray_namespace.empty()) args.push_back("--manta-namespace=" + config.ray_namespace);
  if (config.runtime_env) {
    for (const auto& [name, value] : config.runtime_env->env_vars())
      args.push_back("--manta-env=" + name + "=" + value);
  }
  args.insert(args.end(), config.manta_args.begin(), config.manta_args.end());
  // MPI and Manta may keep pointers into argv for the whole process, past a later Init.
  static std::deque<std::vector<std::string>> storage;
  static std::deque<std::vector<char*>> pointers;
  storage.push_back(std::move(args));
  pointers.emplace_back();
  for (auto& a : storage.back()) pointers.back().push_back(a.data());
  pointers.back().push_back(nullptr);
  int argc = static_cast<int>(storage.back().size());
  char** argv = pointers.back().data();
  guarded([&] { manta::init(argc, argv); });
}

}  // namespace internal

/// Starts the runtime on every rank, as manta::init does: rank 0 returns and runs the program as
/// the driver; the other ranks serve tasks until the driver calls Shutdown (or returns from
/// main), then wait for its next Init, or its exit, when they exit too. Code before Init runs on
/// every rank. A second call while running does nothing; one after Shutdown starts a new runtime
/// on the same ranks, with this call's settings.
inline void Init(RayConfig& config, int argc, char** argv) {
  internal::check_config(config);  // a setting that cannot apply is an error even when running
  if (manta::is_initialized()) return;
  internal::start(std::vector<std::string>(argv, argv + argc), config);
}
/// Takes the command line from the process (so --manta-* settings given to the program apply).
inline void Init(RayConfig& config) {
  internal::check_config(config);
  if (manta::is_initialized()) return;
  internal::start(internal::process_arguments(), config);
}
inline void Init() {
  RayConfig config;
  Init(config);
}
inline bool IsInitialized() { return manta::is_initialized(); }
inline void Shutdown() { manta::shutdown(); }
/// The job's namespace for named actors (RayConfig::ray_namespace; "default" when unset).
inline std::string GetNamespace() { return manta::get_namespace(); }

// ---- objects --------------------------------------------------------------------------------

/// Ray's ObjectRef: a manta::ObjectRef<T> whose Get() returns a copy the caller may change, as
/// Ray's does (manta::get shares one read-only copy between a rank's threads).
template <class T>
class ObjectRef : public manta::ObjectRef<T> {
 public:
  ObjectRef() = default;
  ObjectRef(manta::ObjectRef<T> ref) : manta::ObjectRef<T>(std::move(ref)) {}  // NOLINT

  std::shared_ptr<T> Get() const {
    return copy(internal::guarded([&] { return manta::get(base()); }));
  }
  /// Throws RayTimeoutException when `timeout_ms` passes first; negative waits forever.
  std::shared_ptr<T> Get(int timeout_ms) const {
    return copy(internal::guarded([&] { return manta::get(base(), timeout_ms); }));
  }
  [[nodiscard]] std::string ID() const { return this->id().to_string(); }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& boost::serialization::base_object<manta::ObjectRef<T>>(*this);
  }

 private:
  const manta::ObjectRef<T>& base() const noexcept { return *this; }
  static std::shared_ptr<T> copy(const std::shared_ptr<const T>& value) {
    static_assert(std::is_copy_constructible_v<T>,
                  "ray::ObjectRef<T>::Get copies the value, as Ray does: T needs a copy "
                  "constructor (manta::get(ref) shares it without a copy)");
    return std::make_shared<T>(*value);
  }
};

template <>
class ObjectRef<void> : public manta::ObjectRef<void> {
 public:
  ObjectRef() = default;
  ObjectRef(manta::ObjectRef<void> ref) : manta::ObjectRef<void>(std::move(ref)) {}  // NOLINT
  void Get() const {
    internal::guarded([&] { manta::get(static_cast<const manta::ObjectRef<void>&>(*this)); });
  }
  void Get(int timeout_ms) const {
    internal::guarded([&] {
      manta::get(static_cast<const manta::ObjectRef<void>&>(*this),
                 manta::detail::timeout_of_ms(timeout_ms));
    });
  }
  [[nodiscard]] std::string ID() const { return this->id().to_string(); }
};

template <class T>
ObjectRef<std::decay_t<T>> Put(T&& value) {
  return internal::guarded([&] { return manta::put(std::forward<T>(value)); });
}

template <class T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref) {
  return ref.Get();
}
template <class T>
std::shared_ptr<T> Get(const ObjectRef<T>& ref, int timeout_ms) {
  return ref.Get(timeout_ms);
}
/// The timeout bounds the whole call.
template <class T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>>& refs, int timeout_ms = -1) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<T>> out;
  out.reserve(refs.size());
  for (const auto& ref : refs) {
    int left = -1;
    if (timeout_ms >= 0) {
      const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
      left = static_cast<int>(std::max<std::int64_t>(0, timeout_ms - spent));
    }
    out.push_back(ref.Get(left));
  }
  return out;
}

template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;
  std::vector<ObjectRef<T>> unready;
};

/// Returns once `num_objects` of `objects` are finished or `timeout_ms` passed (negative: no
/// limit); `ready` holds at most `num_objects`, in the order of `objects`.
template <class T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>& objects, int num_objects, int timeout_ms = -1) {
  if (num_objects < 0 || static_cast<std::size_t>(num_objects) > objects.size()) {
    throw RayException("ray::Wait: num_objects is " + std::to_string(num_objects) +
                       ", which must be between 0 and the number of objects (" +
                       std::to_string(objects.size()) + ")");
  }
  std::vector<manta::ObjectRef<T>> plain(objects.begin(), objects.end());
  auto waited = internal::guarded(
      [&] { return manta::wait(plain, static_cast<std::size_t>(num_objects), timeout_ms); });
  return {std::vector<ObjectRef<T>>(waited.ready.begin(), waited.ready.end()),
          std::vector<ObjectRef<T>>(waited.unready.begin(), waited.unready.end())};
}

// ---- placement groups -----------------------------------------------------------------------

enum PlacementStrategy {
  PACK = 0,
  SPREAD = 1,
  STRICT_PACK = 2,
  STRICT_SPREAD = 3,
  UNRECOGNIZED = 4
};
enum class PlacementGroupState {
  PENDING = 0,
  CREATED = 1,
  REMOVED = 2,
  RESCHEDULING = 3,
  UNRECOGNIZED = 4
};

struct PlacementGroupCreationOptions {
  std::string name;
  std::vector<std::unordered_map<std::string, double>> bundles;
  PlacementStrategy strategy = PACK;
};

class PlacementGroup;
namespace internal {
PlacementGroupState state_of(const PlacementGroup& pg);
}

/// A group of resources reserved together (a manta::PlacementGroup).
class PlacementGroup {
 public:
  PlacementGroup() = default;
  explicit PlacementGroup(manta::PlacementGroup group) : group_(std::move(group)) {}

  [[nodiscard]] std::string GetID() const { return group_.id().to_string(); }
  [[nodiscard]] std::string GetName() const { return group_.name(); }
  [[nodiscard]] PlacementStrategy GetStrategy() const {
    return static_cast<PlacementStrategy>(static_cast<int>(group_.strategy()));
  }
  [[nodiscard]] std::vector<std::unordered_map<std::string, double>> GetBundles() const {
    std::vector<std::unordered_map<std::string, double>> out;
    for (const auto& b : group_.bundles()) out.emplace_back(b.begin(), b.end());
    return out;
  }
  /// True once every bundle is reserved, false when `timeout_seconds` passed first. A group that
  /// no layout of this job's ranks could hold fails at once: Wait throws a RayException with
  /// the reason (Ray would wait forever, for nodes that an MPI job never gets).
  bool Wait(int timeout_seconds) const {
    return internal::guarded([&] { return group_.wait(timeout_seconds); });
  }
  [[nodiscard]] PlacementGroupState GetState() const { return internal::state_of(*this); }
  [[nodiscard]] const manta::PlacementGroup& group() const noexcept { return group_; }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& group_;
  }

 private:
  manta::PlacementGroup group_;
};

namespace internal {

/// The groups this process created or looked up, by id, so that Ray's calls by id and by name
/// find them. Groups live in the process that created them (the driver, as a rule).
struct PlacementGroupRegistry {
  std::mutex mutex;
  std::map<std::string, PlacementGroup> groups;
  std::set<std::string> removed;  // ids of the groups RemovePlacementGroup removed

  static PlacementGroupRegistry& instance() {
    static PlacementGroupRegistry registry;
    return registry;
  }
};

inline PlacementGroupState state_of(const PlacementGroup& pg) {
  auto& r = PlacementGroupRegistry::instance();
  {
    std::lock_guard lock(r.mutex);
    if (r.removed.contains(pg.GetID())) return PlacementGroupState::REMOVED;
  }
  const manta::ObjectRef<bool> ready = pg.group().ready();
  if (!ready.valid()) return PlacementGroupState::UNRECOGNIZED;
  if (manta::wait(std::vector{ready}, 1, 0).ready.empty()) return PlacementGroupState::PENDING;
  try {
    manta::get(ready);
    return PlacementGroupState::CREATED;
  } catch (const manta::Error&) {
    return PlacementGroupState::REMOVED;  // it could never fit, or it was removed elsewhere
  }
}

}  // namespace internal

inline PlacementGroup CreatePlacementGroup(const PlacementGroupCreationOptions& options) {
  if (options.bundles.empty()) {
    throw RayException(
        "ray::CreatePlacementGroup: no bundles; give at least one, e.g. "
        "{{\"CPU\", 1}}");
  }
  if (options.strategy == UNRECOGNIZED) {
    throw RayException(
        "ray::CreatePlacementGroup: strategy UNRECOGNIZED; use PACK, SPREAD, "
        "STRICT_PACK or STRICT_SPREAD");
  }
  std::vector<manta::ResourceMap> bundles;
  for (const auto& b : options.bundles) bundles.emplace_back(b.begin(), b.end());
  PlacementGroup pg(internal::guarded([&] {
    return manta::placement_group(
        std::move(bundles), static_cast<manta::PlacementStrategy>(options.strategy), options.name);
  }));
  auto& r = internal::PlacementGroupRegistry::instance();
  std::lock_guard lock(r.mutex);
  r.groups[pg.GetID()] = pg;
  return pg;
}

/// The group with this id, created by this process; throws RayException when there is none.
inline PlacementGroup GetPlacementGroupById(const std::string& id) {
  auto& r = internal::PlacementGroupRegistry::instance();
  std::lock_guard lock(r.mutex);
  auto it = r.groups.find(id);
  if (it == r.groups.end()) {
    throw RayException("ray::GetPlacementGroupById: no placement group '" + id +
                       "' was created by this process (rank " + std::to_string(manta::rank()) +
                       ")");
  }
  return it->second;
}

/// The group of that name created by this process (the last one, if several share it).
inline PlacementGroup GetPlacementGroup(const std::string& name) {
  auto& r = internal::PlacementGroupRegistry::instance();
  std::lock_guard lock(r.mutex);
  const PlacementGroup* found = nullptr;
  for (const auto& [id, pg] : r.groups) {
    if (pg.GetName() == name && !r.removed.contains(id)) found = &pg;
  }
  if (!found) {
    throw RayException("ray::GetPlacementGroup: no placement group named '" + name +
                       "' was created by this process (rank " + std::to_string(manta::rank()) +
                       ")");
  }
  return *found;
}

inline std::vector<PlacementGroup> GetAllPlacementGroups() {
  auto& r = internal::PlacementGroupRegistry::instance();
  std::lock_guard lock(r.mutex);
  std::vector<PlacementGroup> out;
  for (const auto& [id, pg] : r.groups) out.push_back(pg);
  return out;
}

/// Frees the group's bundles and kills the actors in it (their ranks learn of it by message, so a
/// call made at once may still run). Removing twice does nothing.
inline void RemovePlacementGroup(const std::string& placement_group_id) {
  PlacementGroup pg = GetPlacementGroupById(placement_group_id);
  internal::guarded([&] { manta::remove_placement_group(pg.group()); });
  auto& r = internal::PlacementGroupRegistry::instance();
  std::lock_guard lock(r.mutex);
  r.removed.insert(placement_group_id);
}

// ---- tasks ----------------------------------------------------------------------------------

namespace internal {

/// Options that tasks and actors share, kept here so SetResource can add to SetResources.
template <class Self, class Builder>
class CommonOptions {
 public:
  Self& SetResources(const std::unordered_map<std::string, double>& resources) {
    resources_ = manta::ResourceMap(resources.begin(), resources.end());
    builder().resources(resources_);
    return self();
  }
  Self& SetResource(const std::string& name, double value) {
    resources_[name] = value;
    builder().resources(resources_);
    return self();
  }
  /// Runs in bundle `bundle_index` of `group` (-1: any bundle with room).
  Self& SetPlacementGroup(const PlacementGroup& group, int bundle_index = -1) {
    guarded([&] { builder().placement_group(group.group(), bundle_index); });
    return self();
  }
  /// Only env_vars applies (see RuntimeEnv): seen through manta::getenv inside the task or
  /// the actor's calls, which are threads of a shared process.
  Self& SetRuntimeEnv(const RuntimeEnv& env) {
    builder().env(manta::EnvVars(env.env_vars().begin(), env.env_vars().end()));
    return self();
  }

 protected:
  Self& self() { return static_cast<Self&>(*this); }
  Builder& builder() { return self().builder_; }

 private:
  manta::ResourceMap resources_;
};

}  // namespace internal

/// ray::Task(f): a call of a function registered with RAY_REMOTE; options chain before Remote.
template <class F>
class TaskCaller : public internal::CommonOptions<TaskCaller<F>, manta::TaskBuilder<F>> {
 public:
  using Value = typename manta::TaskBuilder<F>::Value;

  explicit TaskCaller(F f)
      : builder_(internal::guarded([&] { return manta::TaskBuilder<F>(f); })) {}

  TaskCaller& SetName(std::string name) {
    builder_.name(std::move(name));
    return *this;
  }
  TaskCaller& SetMaxRetries(int max_retries) {
    builder_.max_retries(max_retries);
    return *this;
  }
  template <class... A>
  ObjectRef<Value> Remote(A&&... args) {
    return internal::guarded([&] { return builder_.remote(std::forward<A>(args)...); });
  }

 private:
  friend class internal::CommonOptions<TaskCaller<F>, manta::TaskBuilder<F>>;
  manta::TaskBuilder<F> builder_;
};

template <class F>
auto Task(F f) {
  static_assert(std::is_function_v<std::remove_pointer_t<F>>,
                "ray::Task takes a function registered with RAY_REMOTE; call an actor's method "
                "through its handle: handle.Task(&C::m)");
  using Fn = std::remove_cvref_t<decltype(+f)>;
  return TaskCaller<Fn>(+f);
}

// ---- actors ---------------------------------------------------------------------------------

template <class T>
class ActorHandle;

/// A call of one method on an actor, finished with Remote(args...).
template <class T, class M>
class ActorTaskCaller {
 public:
  using Value = typename manta::ActorMethodCall<T, M>::Value;
  explicit ActorTaskCaller(manta::ActorMethodCall<T, M> call) : call_(std::move(call)) {}

  /// Names this call in errors and timelines.
  ActorTaskCaller& SetName(std::string name) {
    call_.name(std::move(name));
    return *this;
  }
  /// Resources this call takes on the actor's rank while it runs, beyond the actor's own: the
  /// call waits until they are free, and fails at once if the rank can never offer them.
  ActorTaskCaller& SetResources(const std::unordered_map<std::string, double>& resources) {
    resources_ = manta::ResourceMap(resources.begin(), resources.end());
    call_.resources(resources_);
    return *this;
  }
  ActorTaskCaller& SetResource(const std::string& name, double value) {
    resources_[name] = value;
    call_.resources(resources_);
    return *this;
  }

  template <class... A>
  ObjectRef<Value> Remote(A&&... args) {
    return internal::guarded([&] { return call_.remote(std::forward<A>(args)...); });
  }

 private:
  manta::ActorMethodCall<T, M> call_;
  manta::ResourceMap resources_;
};

/// Ray's handle to an actor; copyable and serializable, so it may be passed to tasks.
template <class T>
class ActorHandle {
 public:
  ActorHandle() = default;
  explicit ActorHandle(manta::ActorHandle<T> handle) : handle_(handle) {}

  template <class M>
  ActorTaskCaller<T, M> Task(M method) const {
    return ActorTaskCaller<T, M>(internal::guarded([&] { return handle_.task(method); }));
  }
  /// Kills the actor; no_restart = false lets max_restarts rebuild it.
  void Kill(bool no_restart = true) const {
    internal::guarded([&] { handle_.kill(no_restart); });
  }
  [[nodiscard]] std::string ID() const { return handle_.id().to_string(); }
  [[nodiscard]] const manta::ActorHandle<T>& handle() const noexcept { return handle_; }

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    handle_.serialize(ar, version);
  }

 private:
  manta::ActorHandle<T> handle_;
};

/// ray::Actor(factory): creates an actor from a factory returning T*, registered with
/// RAY_REMOTE.
template <class F>
class ActorCreator : public internal::CommonOptions<ActorCreator<F>, manta::ActorBuilder<F>> {
 public:
  using Class = typename manta::ActorBuilder<F>::Class;

  explicit ActorCreator(F f)
      : builder_(internal::guarded([&] { return manta::ActorBuilder<F>(f); })) {}

  /// Registers the actor under `name` in the job's namespace (or `ray_namespace`).
  ActorCreator& SetName(std::string name) {
    internal::guarded([&] { builder_.name(std::move(name)); });
    return *this;
  }
  ActorCreator& SetName(std::string name, std::string ray_namespace) {
    internal::guarded([&] { builder_.name(std::move(name), std::move(ray_namespace)); });
    return *this;
  }
  ActorCreator& SetMaxRestarts(int max_restarts) {
    builder_.max_restarts(max_restarts);
    return *this;
  }
  ActorCreator& SetMaxConcurrency(int max_concurrency) {
    builder_.max_concurrency(max_concurrency);
    return *this;
  }
  template <class... A>
  ActorHandle<Class> Remote(A&&... args) {
    return ActorHandle<Class>(
        internal::guarded([&] { return builder_.remote(std::forward<A>(args)...); }));
  }

 private:
  friend class internal::CommonOptions<ActorCreator<F>, manta::ActorBuilder<F>>;
  manta::ActorBuilder<F> builder_;
};

template <class F>
auto Actor(F factory) {
  using Fn = std::remove_cvref_t<decltype(+factory)>;
  return ActorCreator<Fn>(+factory);
}

/// The live actor named `name` in the job's namespace, or none.
template <class T>
boost::optional<ActorHandle<T>> GetActor(const std::string& name) {
  auto found = internal::guarded([&] { return manta::get_actor<T>(name); });
  if (!found) return boost::none;
  return ActorHandle<T>(*found);
}
template <class T>
boost::optional<ActorHandle<T>> GetActor(const std::string& name,
                                         const std::string& ray_namespace) {
  auto found = internal::guarded([&] { return manta::get_actor<T>(name, ray_namespace); });
  if (!found) return boost::none;
  return ActorHandle<T>(*found);
}

/// Ends the actor whose method calls it (actors are threads: the rank's process goes on).
[[noreturn]] inline void ExitActor() { manta::exit_actor(); }
inline bool WasCurrentActorRestarted() { return manta::was_actor_restarted(); }

// ---- what cannot mean the same here ---------------------------------------------------------

/// Cross-language calls need Ray's Python or Java workers: Manta's ranks run C++ only.
template <class R>
struct PyFunction {
  std::string module_name;
  std::string function_name;
};
template <class R>
struct JavaFunction {
  std::string class_name;
  std::string function_name;
};
struct PyActorClass {
  std::string module_name;
  std::string class_name;
};
struct JavaActorClass {
  std::string class_name;
};

template <class R>
void Task(PyFunction<R>) {
  static_assert(internal::always_false<R>,
                "ray::Task(PyFunction): Manta runs C++ on every rank; there are no Python workers");
}
template <class R>
void Task(JavaFunction<R>) {
  static_assert(internal::always_false<R>,
                "ray::Task(JavaFunction): Manta runs C++ on every rank; there are no Java workers");
}
template <class C = PyActorClass>
void Actor(PyActorClass) {
  static_assert(internal::always_false<C>,
                "ray::Actor(PyActorClass): Manta runs C++ on every rank; there are no Python "
                "workers");
}
template <class C = JavaActorClass>
void Actor(JavaActorClass) {
  static_assert(internal::always_false<C>,
                "ray::Actor(JavaActorClass): Manta runs C++ on every rank; there are no Java "
                "workers");
}

}  // namespace ray

namespace manta {
namespace detail {
/// A ray::ObjectRef passed where a function takes T is resolved before the task runs, as a
/// manta::ObjectRef is.
template <class T>
struct is_object_ref<ray::ObjectRef<T>> : std::true_type {};
}  // namespace detail

/// A ray::ObjectRef travels as its id, as a manta::ObjectRef does.
template <class T>
struct Codec<ray::ObjectRef<T>> {
  static void encode(const ray::ObjectRef<T>& ref, Buffer& out) {
    Codec<ObjectRef<T>>::encode(ref, out);
  }
  static ray::ObjectRef<T> decode(const std::byte* data, std::size_t size) {
    return ray::ObjectRef<T>(Codec<ObjectRef<T>>::decode(data, size));
  }
};
}  // namespace manta

/// Registers remote functions, actor factories and methods, as MANTA_REMOTE does.
#define RAY_REMOTE(...) MANTA_DETAIL_REGISTER(#__VA_ARGS__, __VA_ARGS__)
/// One overload of an overloaded function: RAY_FUNC(f, int, double), as MANTA_FUNC.
#define RAY_FUNC(f, ...) MANTA_FUNC(f, __VA_ARGS__)
