#include "engine/runtime.h"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>

#include <manta/runtime.h>

#include "engine/crash_report.h"
#include "engine/function_table.h"
#include "engine/job_files.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/option_checks.h"
#include "engine/teardown_guard.h"
#include "engine/text.h"
#include "gpu/topology.h"
#if MANTA_HAVE_UCX
#include "transport/ucx_data_plane.h"
#endif

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;
using Clock = std::chrono::steady_clock;

namespace {

Runtime* g_runtime = nullptr;
// The message being built on this thread. The main thread's thread_local objects are destroyed
// before the exit handlers run, and the shutdown implied at the end of the driver's main is one
// of them: it must not write into the freed buffer, so it builds its messages in buffers of its
// own (t_scratch_gone is trivially destructible, so it can still be read then).
thread_local bool t_scratch_gone = false;
struct Scratch {
  Buffer bytes;
  ~Scratch() { t_scratch_gone = true; }
};
thread_local Scratch t_scratch;

std::uint64_t lease_key(int reader, int tag) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(reader)) << 32 |
         static_cast<std::uint32_t>(tag);
}

std::uint64_t node_memory_share(int local_ranks) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) /
         static_cast<std::uint64_t>(std::max(1, local_ranks));
}

/// A short wait polls before it sleeps: a reply that comes within microseconds then costs no
/// futex wake and no context switch. Yielding keeps the core available to the thread it awaits.
/// While it polls it also drives the channel, so a reply is handled on this thread directly.
bool spin_until_signaled(ObjectStore::Waiter& w, const std::optional<Clock::time_point>& deadline,
                         std::chrono::microseconds spin, transport::ControlChannel& channel) {
  const auto until = Clock::now() + spin;
  while (!w.signaled.load(std::memory_order_acquire)) {
    const auto now = Clock::now();
    if (now >= until || (deadline && now >= *deadline)) return false;
    if (!channel.poll()) sched_yield();
  }
  return true;
}

std::optional<Clock::time_point> deadline_of(const detail::Timeout& t) {
  if (!t) return std::nullopt;
  return Clock::now() + *t;
}

}  // namespace

Runtime* runtime() noexcept { return g_runtime; }

Runtime::Runtime(Config config, transport::MpiWorld world)
    : config_(std::move(config)), world_(std::move(world)), store_(world_.rank) {
  g_runtime = this;
}

Runtime::~Runtime() {
  if (scheduler_) scheduler_->stop();
  if (channel_) channel_->stop();
  g_runtime = nullptr;
}

template <class Fill>
void send_message(transport::ControlChannel& channel, int dest, Fill&& fill) {
  Buffer own;
  Buffer& bytes = t_scratch_gone ? own : t_scratch.bytes;
  bytes.clear();
  WireWriter w(bytes);
  fill(w);
  channel.send(dest, bytes.span());
}

void Runtime::send(int dest, const std::function<void(WireWriter&)>& fill) {
  send_message(*channel_, dest, fill);
}

void Runtime::start() {
  auto& table = FunctionTable::instance();
  if (std::string mismatch = check_function_tables(world_.comm, table.listing());
      !mismatch.empty()) {
    if (world_.rank == 0) std::fprintf(stderr, "manta: init failed: %s\n", mismatch.c_str());
    transport::finish_mpi(world_);
    std::fflush(stderr);
    std::_Exit(1);
  }
  const gpu::Topology topo = gpu::discover_topology(config_.topology_xml);
  const int cpus =
      config_.num_cpus > 0 ? config_.num_cpus : gpu::cores_for_rank(topo, world_.local_size);
  ResourceSet total = ResourceSet::cpus(cpus);
  for (const auto& [name, amount] : config_.custom_resources) total.set(name, amount);
  total.set("actor_slots", config_.max_actors);
  if (total.get("memory") == 0)
    total.set("memory", static_cast<double>(node_memory_share(world_.local_size)));
  ranks_ = exchange_rank_table(world_.comm, {world_.rank, world_.hostname, total});
  start_memory();
  store_capacity_.store(store_.capacity(), std::memory_order_relaxed);
  for (const auto& r : ranks_) totals_.push_back(r.total);
  forward_threshold_ = config_.forward_threshold > 0
                           ? static_cast<std::uint64_t>(config_.forward_threshold)
                           : static_cast<std::uint64_t>(4 * cpus);
  default_resources_ = std::make_shared<const ResourceSet>(ResourceSet::cpus(1));
  if (world_.rank == 0) {
    loads_.resize(ranks_.size());
    sent_to_.assign(ranks_.size(), 0);
    spill_hint_sent_.assign(ranks_.size(), 0);
    actors_on_.assign(ranks_.size(), 0);
    for (std::size_t r = 0; r < ranks_.size(); ++r)
      loads_[r].total = loads_[r].available = ranks_[r].total;
  }
  const int max_workers = config_.max_workers > 0 ? config_.max_workers : std::max(64, 16 * cpus);
  scheduler_ = std::make_unique<LocalScheduler>(
      total, cpus, max_workers, [this](const TaskPtr& t) { run_task(t); },
      std::chrono::microseconds(config_.wait_spin_us),
      [this] { return channel_ && channel_->poll(); });
  transport::ChannelOptions opts;
  opts.spin = std::chrono::microseconds(config_.progress_spin_us);
  opts.max_sleep = std::chrono::microseconds(config_.progress_max_sleep_us);
  opts.chunk_size = config_.chunk_size;
  opts.tick = std::chrono::milliseconds(config_.report_interval_ms);
  channel_ = std::make_unique<transport::ControlChannel>(world_.comm, opts);
  start_data_plane();
  if (!config_.timeline.empty() || !config_.job_dir.empty()) {
    // The job directory's events leave memory as they are written, unless the whole trace is
    // also wanted at shutdown.
    timeline_ = std::make_unique<Timeline>(world_.rank, /*keep=*/!config_.timeline.empty());
  }
  ActorHost::Hooks hooks;
  hooks.finish = [this](const TaskPtr& t, detail::CallResult&& r,
                        std::shared_ptr<const ErrorInfo> e) {
    finish_task(t, std::move(r), std::move(e));
  };
  hooks.died = [this](const ActorId& id, std::shared_ptr<const ErrorInfo> cause) {
    if (stopping_) return;
    send(0, [&](WireWriter& w) {
      w.put(MessageType::actor_died).put(id);
      write_error(w, *cause);
    });
  };
  hooks.reserve = [this](const ResourceSet& r) { scheduler_->reserve(r); };
  hooks.release = [this](const ResourceSet& r) { scheduler_->release(r); };
  hooks.make_error = [this](ErrorKind k, const TaskSpec* t, std::string m) {
    return make_error(k, t, std::move(m));
  };
  hooks.idle_poll = [this] { return channel_ && channel_->poll(); };
  if (timeline_) {
    hooks.ran = [this](const TaskPtr& call, std::int64_t start, std::int64_t end) {
      timeline_->record(function_name(*call), call->id, start, end);
    };
  }
  hooks.idle_spin = std::chrono::microseconds(config_.wait_spin_us);
  hooks.max_threads = static_cast<std::size_t>(max_workers);
  actors_ = std::make_unique<ActorHost>(std::move(hooks));
  actors_started_.store(true, std::memory_order_release);  // ticks began before it existed
  // Messages start only now: other ranks may already call actors here, and the progress thread
  // must find every part their handlers use built (UBSan saw a call on a null ActorHost).
  channel_->start([this](int src, std::span<const std::byte> m) { on_message(src, m); },
                  [this] { on_tick(); });
  // After MPI and UCX, which install handlers of their own for these signals; before any task.
  install_crash_handler({world_.rank, world_.size, world_.hostname, config_.job_dir});
  scheduler_->start();
  log().info("{} ({}), {} workers, resources {}", world_.hostname, topo.summary, cpus,
             total.to_string());
  start_job_directory();
}

void Runtime::start_job_directory() {
  if (config_.job_dir.empty()) return;
  JobDirectory::Settings s;
  s.path = config_.job_dir;
  s.rank = world_.rank;
  s.world_size = world_.size;
  s.interval = std::chrono::milliseconds(static_cast<long>(config_.status_interval_s * 1000));
  s.job_id = job_id_;
  s.program = config_.program;
  JobDirectory::Hooks h;
  h.sample = [this] { return rank_status(); };
  h.report = [this](const std::string& json) {
    send(0, [&](WireWriter& w) { w.put(MessageType::status_report).str(json); });
  };
  h.checkpoint_requested = [] { return manta::checkpoint_requested(); };
  job_dir_ = std::make_unique<JobDirectory>(std::move(s), std::move(h), timeline_.get());
  job_dir_->start();
  log().info("job {}: rank {} of {} (pid {}) writes to {}", job_id_, world_.rank, world_.size,
             getpid(), config_.job_dir);
}

RankStatus Runtime::rank_status() const {
  RankStatus s;
  s.rank = world_.rank;
  s.host = world_.hostname;
  s.pid = static_cast<int>(getpid());
  const ResourceSet& total = ranks_[static_cast<std::size_t>(world_.rank)].total;
  s.cpus = total.get("CPU");
  s.cpus_free = scheduler_->available().get("CPU");
  s.resources = total.to_string();
  const std::uint64_t load = scheduler_->load();
  s.queued = std::min(scheduler_->queued(), load);
  s.running = load - s.queued;
  s.tasks_submitted = tasks_submitted_.load(std::memory_order_relaxed);
  s.tasks_executed = tasks_executed_.load(std::memory_order_relaxed);
  s.actors = actors_->alive();
  RankMemory m = local_memory();
  std::vector<ObjectSummary> none;
  store_.summarize(m, none, 0);
  s.objects = m.objects;
  s.object_bytes = m.bytes;
  s.capacity_bytes = m.capacity_bytes;
  s.spilled_objects = m.spilled_objects;
  s.spilled_bytes = m.spilled_bytes;
  s.reported_ms = Timeline::now_us() / 1000;
  return s;
}

void Runtime::start_memory() {
  const std::uint64_t capacity =
      config_.object_store_memory > 0
          ? config_.object_store_memory
          : std::max<std::uint64_t>(node_memory_share(world_.local_size) / 10 * 3, 64ull << 20);
  // One job id on every rank names the spill directory, so ranks find each other's files.
  std::uint64_t job = 0;
  if (world_.rank == 0) {
    job = static_cast<std::uint64_t>(getpid()) << 40 ^
          static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  }
  MPI_Bcast(&job, 1, MPI_UINT64_T, 0, world_.comm);
  job_id_ = fmt::format("{:x}", job);
  std::string root = config_.spill_dir;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp && *tmp ? tmp : "/tmp";
  }
  std::string error;
  try {
    spill_ = std::make_unique<SpillManager>(
        SpillSettings{root, job_id_, world_.rank, config_.spill_compression, config_.spill_batch,
                      config_.keep_spill, store_full_timeout(),
                      [this](std::uint64_t requested) {
                        return store_full_error(
                            requested,
                            ObjectStore::Room{false, store_.capacity(), store_.pinned_bytes()},
                            nullptr);
                      }},
        store_);
  } catch (const std::exception& e) {
    error = e.what();
  }
  // Every rank learns whether all could; the first that could not says why.
  int failed_rank = error.empty() ? world_.size : world_.rank, first = 0;
  MPI_Allreduce(&failed_rank, &first, 1, MPI_INT, MPI_MIN, world_.comm);
  if (first < world_.size) {
    if (first == world_.rank) {
      std::fprintf(stderr, "manta: init failed on rank %d: %s\n", world_.rank, error.c_str());
    }
    spill_.reset();
    transport::finish_mpi(world_);
    std::fflush(stderr);
    std::_Exit(1);
  }
  store_.set_capacity(
      capacity,
      static_cast<std::uint64_t>(static_cast<double>(capacity) * config_.spill_high_water), [this] {
        if (spill_) spill_->kick();
      });
  detail::set_buffer_pool_limit(std::min<std::uint64_t>(capacity / 4, 512ull << 20));
  log().info("object store: {} bytes, spilling past {:.0f} % to {}", capacity,
             config_.spill_high_water * 100, spill_->directory());
}

std::chrono::steady_clock::duration Runtime::store_full_timeout() const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(config_.store_full_timeout_s));
}

ErrorInfo Runtime::store_full_error(std::uint64_t requested, const ObjectStore::Room& room,
                                    const TaskSpec* task) const {
  const std::string spill_error = spill_ ? spill_->last_error() : std::string();
  std::string why, fix = "raise --manta-object-store-memory or release objects sooner";
  if (requested > room.capacity) {
    why = "the object is larger than the whole store";
  } else if (!spill_error.empty()) {
    // Memory holds objects that could spill if the disk had room: more memory is not the fix.
    why = fmt::format(
        "{} bytes of it are pinned by get views, running tasks or transfers, and {} bytes "
        "cannot leave memory because spilling failed: {}",
        room.pinned, store_.unwritten_bytes(), spill_error);
    fix =
        "give --manta-spill-dir a file system with more room, or hold fewer objects at once "
        "(drop ObjectRefs and get results no longer needed)";
  } else {
    why = fmt::format(
        "{} bytes of it are pinned by get views, running tasks or transfers, and room did not "
        "appear within {} s",
        room.pinned, config_.store_full_timeout_s);
  }
  ErrorInfo info = make_error(
      ErrorKind::store_full, task,
      fmt::format("object store full on rank {}: {} bytes requested, capacity {} bytes, {} bytes "
                  "pinned ({}); {}",
                  world_.rank, requested, room.capacity, room.pinned, why, fix));
  info.requested_bytes = requested;
  info.capacity_bytes = room.capacity;
  info.pinned_bytes = room.pinned;
  return info;
}

void Runtime::start_data_plane() {
  // Collective; every rank must agree on the transport, so a rank that asks for MPI makes it MPI.
  const bool want_ucx = transport::all_true(world_.comm, config_.transport != "mpi");
  std::string why = "built without UCX";
#if MANTA_HAVE_UCX
  if (want_ucx) {
    transport::UcxDataPlane::Options o;
    o.chunk_size = config_.chunk_size;
    data_plane_ = transport::UcxDataPlane::create(world_.comm, o, &why);
  } else {
    why = "--manta-transport=mpi";
  }
#endif
#if MANTA_HAVE_UCX
  if (data_plane_) {
    // Reads of this rank's memory are served by its own progress (UCX emulates RMA over
    // shared memory here), so the loop stays awake while any object is exposed to a reader.
    channel_->set_extra_progress([this, dp = data_plane_] {
      return dp->progress() || dp->busy() || leases_open_.load(std::memory_order_relaxed) > 0;
    });
    log().info("large objects move by UCX RMA reads");
    return;
  }
#endif
  if (config_.transport == "ucx") {
    if (world_.rank == 0) {
      std::fprintf(stderr,
                   "manta: init failed: --manta-transport=ucx but UCX cannot be used (%s); use "
                   "--manta-transport=mpi or auto\n",
                   why.c_str());
    }
    std::fflush(stderr);
    transport::finish_mpi(world_);
    std::_Exit(2);
  }
  (void)want_ucx;
  log().info("large objects move over MPI ({})", why);
}

int Runtime::serve() {
  {
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait(lock, [&] { return stop_requested_; });
  }
  stopping_ = true;
  store_.stop();
  actors_->stop();
  scheduler_->stop();
  if (job_dir_) job_dir_->finish("", "", "");
  send_timeline();
  send(0, [](WireWriter& w) { w.put(MessageType::shutdown_ack); });
  channel_->stop();
  if (spill_) spill_->stop();
  close_transports(0, /*process_ends=*/true);
  return 0;
}

void Runtime::shutdown(bool failed, const std::string& reason) {
  if (stopping_) return;
  std::string memory;  // while every rank still answers
  if (!failed && (!config_.summary.empty() || job_dir_)) {
    try {
      memory = memory_summary(20).to_string();
    } catch (const std::exception& e) {
      log().error("memory summary: {}", e.what());
    }
    print_summary(memory);
  }
  if (stopping_.exchange(true)) return;
  store_.stop();
  actors_->stop();
  scheduler_->stop();
  for (int r = 1; r < world_.size; ++r) {
    send(r, [&](WireWriter& w) { w.put(MessageType::shutdown).put<std::uint8_t>(failed); });
  }
  std::unique_lock lock(stop_mutex_);
  const bool all = stop_cv_.wait_for(lock, std::chrono::seconds(config_.shutdown_timeout_s),
                                     [&] { return acks_ == world_.size - 1; });
  lock.unlock();
  if (!all) {
    const std::string why =
        fmt::format("{} of {} ranks did not stop within {} s (a task still running?)",
                    world_.size - 1 - acks_, world_.size - 1, config_.shutdown_timeout_s);
    log().error("{}; aborting the job", why);
    if (job_dir_) job_dir_->finish("failed", reason.empty() ? why : reason + "; " + why, memory);
    transport::abort_job(world_.comm, failed ? 1 : 3);
  }
  // Every rank's last report came before its acknowledgement.
  if (job_dir_) job_dir_->finish(failed ? "failed" : "finished", reason, memory);
  channel_->stop();
  if (spill_) spill_->stop();
  write_timeline();
  close_transports(failed ? 1 : 0, /*process_ends=*/false);
}

void Runtime::close_transports(int exit_code, bool process_ends) {
  TeardownGuard guard(world_.rank, std::chrono::seconds(config_.shutdown_timeout_s), exit_code,
                      [this](int code) {
                        if (!config_.job_dir.empty())
                          write_rank_exit(config_.job_dir, world_.rank, world_.size, code);
                      });
  if (data_plane_) {
    guard.step("closing the UCX data plane");
    data_plane_.reset();
  }
  guard.step("MPI_Finalize");
  transport::finish_mpi(world_, process_ends);
}

void Runtime::send_timeline() {
  if (!timeline_ || config_.timeline.empty()) return;
  Buffer events = timeline_->take_encoded();
  send(0, [&](WireWriter& w) {
    w.put(MessageType::timeline);
    w.buffer().append(events.data(), events.size());
  });
}

void Runtime::write_timeline() {
  if (!timeline_ || config_.timeline.empty()) return;
  std::vector<std::string> hosts;
  for (const auto& r : ranks_) hosts.push_back(r.host);
  try {
    const std::size_t n = timeline_->write_chrome_trace(config_.timeline, hosts);
    std::fprintf(stderr, "manta: timeline of %zu tasks written to %s\n", n,
                 config_.timeline.c_str());
  } catch (const std::exception& e) {
    log().error("{}", e.what());
  }
}

RuntimeStats Runtime::stats() const {
  RuntimeStats s;
  s.tasks_submitted = tasks_submitted_.load();
  s.tasks_executed = tasks_executed_.load();
  s.tasks_forwarded = tasks_forwarded_.load();
  s.tasks_handed_on = tasks_handed_on_.load();
  s.channel = channel_->stats();
  const auto objects = store_.stats();
  s.objects = objects.objects;
  s.object_bytes = objects.bytes;
  s.worker_threads = scheduler_->thread_count();
  return s;
}

std::string Runtime::function_name(const TaskSpec& t) const {
  if (!t.name.empty()) return t.name;
  const auto* f = FunctionTable::instance().at(t.function);
  return f ? f->name : fmt::format("function #{}", t.function);
}

ErrorInfo Runtime::make_error(ErrorKind kind, const TaskSpec* task, std::string message) const {
  ErrorInfo e;
  e.kind = kind;
  e.rank = world_.rank;
  if (task) e.task_name = function_name(*task);
  e.message = std::move(message);
  return e;
}

[[noreturn]] void Runtime::throw_if_stopped(const ObjectId& id) {
  throw RuntimeStoppedError(
      make_error(ErrorKind::shutdown, nullptr,
                 "the runtime is shutting down; " + id.to_string() + " will not arrive"));
}

// ---------------------------------------------------------------------------------------------
// Submission: the owner resolves arguments, then places the task (bottom-up).

TaskPtr Runtime::make_spec(detail::Submission&& s, const TaskOptions& options) {
  if (stopping_) {
    throw RuntimeStoppedError(
        make_error(ErrorKind::shutdown, nullptr, "task submitted after shutdown"));
  }
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    if (s.args[i].kind == detail::ArgSlot::Kind::ref && !s.args[i].ref) {
      ErrorInfo e = make_error(
          ErrorKind::object_lost, nullptr,
          "argument " + std::to_string(i + 1) + " of " + s.function->name +
              " is an empty ObjectRef (default-constructed or moved from): pass a ref that "
              "remote() or put() returned");
      e.task_name = s.function->name;
      throw ObjectLostError(std::move(e));
    }
  }
  auto t = std::make_shared<TaskSpec>();
  t->id = {world_.rank, next_seq_.fetch_add(1, std::memory_order_relaxed)};
  t->function = s.function->index;
  t->name = options.name;
  if (options.resources.empty() && options.memory == 0) {
    t->resources = default_resources_;
  } else {
    ResourceSet r = ResourceSet::from_map(options.resources);
    if (options.memory) r.set("memory", r.get("memory") + static_cast<double>(options.memory));
    t->resources = std::make_shared<const ResourceSet>(std::move(r));
  }
  t->on_rank = options.on_rank;
  t->max_retries = options.max_retries;
  t->retry_exceptions = options.retry_exceptions;
  SharedBuffer inline_bytes;
  if (!s.inline_bytes.empty())
    inline_bytes = std::make_shared<const Buffer>(std::move(s.inline_bytes));
  t->args.resize(s.args.size());
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    detail::ArgSlot& slot = s.args[i];
    TaskArg& a = t->args[i];
    a.tag = slot.tag;
    switch (slot.kind) {
      case detail::ArgSlot::Kind::inline_value:
        if (slot.size > config_.inline_limit) {
          // A large value argument becomes an object, so it moves only to where the task runs.
          // It takes room in the store as a put does.
          const ObjectStore::Room room = store_.reserve(slot.size, store_full_timeout());
          if (!room.ok) throw ObjectStoreFullError(store_full_error(slot.size, room, nullptr));
          ObjectId id{world_.rank, 0, next_seq_.fetch_add(1, std::memory_order_relaxed)};
          // The only argument's bytes are adopted whole; others are copied out of the shared
          // buffer.
          auto bytes =
              slot.offset == 0 && slot.size == inline_bytes->size()
                  ? inline_bytes
                  : std::make_shared<const Buffer>(inline_bytes->data() + slot.offset, slot.size);
          a.token = store_.create_ready(id, bytes, slot.tag, {}, slot.size);
          a.buffer = std::move(bytes);
          a.ref = id;
          a.location = world_.rank;
        } else {
          a.buffer = inline_bytes;
          a.offset = slot.offset;
        }
        a.size = slot.size;
        break;
      case detail::ArgSlot::Kind::ref:
        a.is_ref = true;
        a.ref = slot.ref->id();
        a.token = std::move(slot.ref);
        break;
    }
  }
  t->keep_alive = std::move(s.keep_alive);
  return t;
}

std::shared_ptr<detail::RefToken> Runtime::submit(detail::Submission&& s,
                                                  const TaskOptions& options) {
  check_task_options(options, world_.size, {"manta::task", s.function->name});
  TaskPtr t = make_spec(std::move(s), options);
  auto token = store_.create_pending(t->return_object());
  tasks_submitted_.fetch_add(1, std::memory_order_relaxed);
  resolve_arguments(t);
  return token;
}

void Runtime::resolve_arguments(const TaskPtr& t) {
  int refs = 0;
  for (const auto& a : t->args) refs += a.is_ref;
  if (refs == 0) {
    arguments_resolved(t);
    return;
  }
  t->unresolved.store(refs + 1);  // +1 so it cannot reach zero while callbacks are being set
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    if (t->args[i].is_ref) resolve_one(t, i);
  }
  if (t->unresolved.fetch_sub(1) == 1) arguments_resolved(t);
}

void Runtime::resolve_one(const TaskPtr& t, std::size_t i) {
  TaskArg& a = t->args[i];
  const ObjectId id = a.ref;
  ObjectStore::View v = store_.view(id);
  if (v.exists && v.state == ObjectStore::State::pending) {
    if (store_.when_finished(id, [this, t, i] { resolve_one(t, i); })) {
      if (id.owner != world_.rank && store_.start_resolve(id)) ask_owner(id, false);
      return;
    }
    v = store_.view(id);  // finished in between
  }
  if (!v.exists) {
    t->set_input_error(std::make_shared<const ErrorInfo>(make_error(
        ErrorKind::object_lost, t.get(), "argument " + id.to_string() + " is not known here")));
  } else if (v.state == ObjectStore::State::ready && v.size <= config_.inline_limit) {
    a.take(std::move(v.bytes), v.tag);  // the executor checks the tag against the parameter type
    a.location = world_.rank;
  } else if (v.state == ObjectStore::State::ready || v.state == ObjectStore::State::spilled) {
    // Large, or on disk: it stays in this rank's store until a task runs with it.
    a.location = world_.rank;
    a.size = v.size;
  } else if (v.state == ObjectStore::State::remote) {
    a.location = v.location;
    a.size = v.size;
  } else if (v.state == ObjectStore::State::failed) {
    t->set_input_error(v.error);
  }
  if (t->unresolved.fetch_sub(1) == 1) arguments_resolved(t);
}

void Runtime::arguments_resolved(const TaskPtr& t) {
  if (t->kind == TaskKind::actor_call) {
    route_call(t);  // with or without an input error: the host must see every sequence number
    return;
  }
  if (t->kind == TaskKind::actor_creation) {
    send(0, [&](WireWriter& w) {
      w.put(MessageType::create_actor);
      auto err = t->input_error();
      w.put<std::uint8_t>(err != nullptr);
      if (err) write_error(w, *err);
      write_task(w, *t, config_.inline_limit, world_.rank);
    });
    return;
  }
  if (auto err = t->input_error()) {
    complete_owned(t, nullptr, 0, err);  // a failed input fails the task with the same cause
    return;
  }
  place(t);
}

void Runtime::place(const TaskPtr& t) {
  const ResourceSet& req = *t->resources;
  if (t->on_rank >= 0) {
    if (t->on_rank >= world_.size) {
      fail_task(t, make_error(ErrorKind::unschedulable, t.get(),
                              fmt::format("on_rank({}) but the job has {} ranks (0..{})",
                                          t->on_rank, world_.size, world_.size - 1)));
    } else if (!req.fits_in(totals_[t->on_rank])) {
      fail_task(
          t, make_error(ErrorKind::unschedulable, t.get(),
                        fmt::format("on_rank({}) asks for {} but that rank offers {}", t->on_rank,
                                    req.to_string(), totals_[t->on_rank].to_string())));
    } else if (t->on_rank == world_.rank) {
      prepare_and_enqueue(t);
    } else {
      send_task(t->on_rank, t);
    }
    return;
  }
  if (!feasible_anywhere(req, totals_)) {
    fail_task(t, make_error(
                     ErrorKind::unschedulable, t.get(),
                     fmt::format("the task asks for {} and no rank offers that (rank 0 offers {}); "
                                 "ask for less, or start ranks with more (--manta-num-cpus, "
                                 "--manta-resources)",
                                 req.to_string(), totals_[0].to_string())));
    return;
  }
  const LocalScheduler::Admission here = scheduler_->admission(req);
  SpillbackView spill;
  spill.starts_now = here.starts_now;
  // Only work that would wait here looks at the other ranks: the hot path sends nothing.
  if (!here.starts_now && t->hand_ons < kMaxHandOns) spill.free_elsewhere = free_elsewhere(req);
  switch (decide_locally(req, scheduler_->total(), here.queued, forward_threshold_, world_.rank,
                         input_bytes_by_rank(*t), spill)) {
    case LocalDecision::run_here:
      prepare_and_enqueue(t);
      break;
    case LocalDecision::forward:
      forward_task(t);
      break;
    case LocalDecision::spill_back:
      hand_on(t);
      break;
  }
}

bool Runtime::free_elsewhere(const ResourceSet& request) {
  if (world_.size < 2) return false;
  if (world_.rank != 0) return spill_credit_.load(std::memory_order_relaxed) > 0;
  std::lock_guard lock(global_mutex_);
  loads_[0].queued = scheduler_->queued();
  loads_[0].available = scheduler_->available();
  loads_[0].assigned = 0;
  return pick_free_rank(request, loads_, /*exclude=*/0).has_value();
}

void Runtime::hand_on(const TaskPtr& t) {
  ++t->hand_ons;  // bounded (kMaxHandOns): a task never bounces between busy ranks forever
  tasks_handed_on_.fetch_add(1, std::memory_order_relaxed);
  if (world_.rank == 0) {
    schedule_globally(t);  // rank 0 holds the view: it picks the free rank itself
    return;
  }
  // Spend one credit of rank 0's hint (it may have been spent meanwhile: then the global
  // scheduler still finds the least loaded rank).
  std::uint64_t credit = spill_credit_.load(std::memory_order_relaxed);
  while (credit > 0 && !spill_credit_.compare_exchange_weak(credit, credit - 1)) {
  }
  forward_task(t);
}

bool Runtime::movable(const TaskSpec& t) const {
  if (t.kind != TaskKind::task || t.on_rank >= 0 || t.hand_ons >= kMaxHandOns) return false;
  for (const TaskArg& a : t.args) {
    // Large inputs held here stay with their data (locality); small ones travel with the task.
    if (a.ref.valid() && (a.is_ref || a.size > config_.inline_limit)) return false;
  }
  return true;
}

void Runtime::balance_waiting_work() {
  std::vector<std::pair<int, std::uint64_t>> hints;
  std::uint64_t free_for_rank0 = 0;
  {
    std::lock_guard lock(global_mutex_);
    loads_[0].queued = scheduler_->queued();
    loads_[0].available = scheduler_->available();
    loads_[0].assigned = 0;
    // Nothing waits anywhere and no hint is out: nothing to do (the common, idle tick).
    bool any = false;
    for (std::size_t r = 0; r < loads_.size() && !any; ++r)
      any = loads_[r].queued > 0 || spill_hint_sent_[r] > 0;
    if (!any) return;
    const std::vector<std::uint64_t> elsewhere = free_slots_elsewhere(*default_resources_, loads_);
    free_for_rank0 = loads_[0].queued > 0 ? elsewhere[0] : 0;
    for (std::size_t r = 1; r < loads_.size(); ++r) {
      // Only ranks with waiting work hear of free slots, and only when the number changes.
      const std::uint64_t hint = loads_[r].queued > 0 ? elsewhere[r] : 0;
      if (hint != spill_hint_sent_[r]) {
        spill_hint_sent_[r] = hint;
        hints.emplace_back(static_cast<int>(r), hint);
      }
    }
  }
  for (const auto& [rank, hint] : hints) {
    send(rank, [&, hint = hint](WireWriter& w) { w.put(MessageType::spill_hint).put(hint); });
  }
  if (free_for_rank0 == 0) return;
  for (const TaskPtr& t :
       scheduler_->take_waiting(free_for_rank0, [this](const TaskSpec& s) { return movable(s); })) {
    ++t->hand_ons;
    tasks_handed_on_.fetch_add(1, std::memory_order_relaxed);
    schedule_globally(t);
  }
}

void Runtime::on_spill_hint(WireReader& r) {
  const auto hint = r.get<std::uint64_t>();
  std::uint64_t left = hint;
  if (hint > 0 && !stopping_) {
    // Tasks already waiting here go first: they have waited longest for a free CPU.
    for (const TaskPtr& t :
         scheduler_->take_waiting(hint, [this](const TaskSpec& s) { return movable(s); })) {
      ++t->hand_ons;
      tasks_handed_on_.fetch_add(1, std::memory_order_relaxed);
      forward_task(t);
      --left;
    }
  }
  spill_credit_.store(left, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Runtime::input_bytes_by_rank(const TaskSpec& t) const {
  std::vector<std::uint64_t> bytes;
  for (const TaskArg& a : t.args) {
    if (!a.ref.valid() || a.location < 0 || a.location >= world_.size ||
        a.size < kLocalityMinBytes / 16) {
      continue;
    }
    if (bytes.empty()) bytes.assign(static_cast<std::size_t>(world_.size), 0);
    std::uint64_t n = a.size;
    // Bytes this rank spilled count half: reading them back is cheaper than a transfer, but
    // not free.
    if (a.location == world_.rank && store_.view(a.ref).state == ObjectStore::State::spilled) {
      n /= 2;
    }
    bytes[static_cast<std::size_t>(a.location)] += n;
  }
  return bytes;
}

void Runtime::fail_task(const TaskPtr& t, ErrorInfo error) {
  auto err = std::make_shared<const ErrorInfo>(std::move(error));
  if (t->id.submitter == world_.rank) {
    complete_owned(t, nullptr, 0, err);
  } else {
    send_gated(t->id.submitter, [&](WireWriter& w) {
      w.put(MessageType::task_done).put(t->id).put(ResultKind::failed);
      write_error(w, *err);
    });
  }
}

void Runtime::forward_task(const TaskPtr& t) {
  tasks_forwarded_.fetch_add(1, std::memory_order_relaxed);
  if (world_.rank == 0) {
    schedule_globally(t);
    return;
  }
  if (t->id.submitter == world_.rank) {  // kept for the reply; a task from elsewhere is not ours
    std::lock_guard lock(pending_mutex_);
    pending_[t->id] = t;
  }
  send(0, [&](WireWriter& w) {
    w.put(MessageType::forward_task);
    write_task(w, *t, config_.inline_limit, world_.rank);
  });
}

void Runtime::schedule_globally(const TaskPtr& t) {
  std::optional<int> target;
  const std::vector<std::uint64_t> input_bytes = input_bytes_by_rank(*t);
  {
    std::lock_guard lock(global_mutex_);
    loads_[0].queued = scheduler_->queued();
    loads_[0].available = scheduler_->available();
    loads_[0].assigned = 0;
    target = pick_rank(*t->resources, loads_, global_hint_++, input_bytes);
    if (target && *target != 0) {
      ++loads_[*target].assigned;
      ++sent_to_[*target];
    }
    if (log().should_log(spdlog::level::debug)) {
      std::string view;
      for (std::size_t r = 0; r < loads_.size(); ++r) {
        view += fmt::format(" r{}:q{}+a{} free {}", r, loads_[r].queued, loads_[r].assigned,
                            loads_[r].available.get("CPU"));
      }
      log().debug("global scheduler: {} -> rank {};{}", function_name(*t), target.value_or(-1),
                  view);
    }
  }
  if (!target) {
    fail_task(t, make_error(ErrorKind::unschedulable, t.get(),
                            "the task asks for " + t->resources->to_string() +
                                " and no rank offers that"));
  } else if (*target == world_.rank) {
    prepare_and_enqueue(t);
  } else {
    send_task(*target, t);
  }
}

void Runtime::send_task(int dest, const TaskPtr& t) {
  if (t->id.submitter == world_.rank) {
    std::lock_guard lock(pending_mutex_);
    pending_[t->id] = t;
  }
  send_message(*channel_, dest, [&](WireWriter& w) {
    w.put(MessageType::submit_task);
    write_task(w, *t, config_.inline_limit, world_.rank);
  });
}

// ---------------------------------------------------------------------------------------------
// Execution: fetch reference arguments, queue, run, report.

void Runtime::prepare_and_enqueue(const TaskPtr& t) {
  fetch_arguments(
      t,
      [this](const TaskPtr& task) {
        // A creation with a lost argument still goes to its actor, which then dies of it.
        if (auto e = task->input_error(); e && task->kind != TaskKind::actor_creation) {
          finish_task(task, {}, e);
        } else {
          scheduler_->enqueue(task);
        }
      },
      /*defer=*/t->kind == TaskKind::task);
}

void Runtime::fetch_arguments(const TaskPtr& t, std::function<void(const TaskPtr&)> then,
                              bool defer) {
  std::vector<std::size_t> to_pull, to_restore;
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    TaskArg& a = t->args[i];
    if (!a.is_ref) continue;
    // Here already: made here, or a copy an earlier get or task fetched.
    ObjectStore::View v = store_.view(a.ref);
    const bool here = v.exists && (v.state == ObjectStore::State::ready ||
                                   v.state == ObjectStore::State::spilled);
    if (here && defer && v.size > config_.inline_limit) {
      // Taken when the task runs: a queued task pins nothing, so its input may spill meanwhile.
      a.location = world_.rank;
      a.size = v.size;
      continue;
    }
    if (here && v.state == ObjectStore::State::ready) {
      a.take(std::move(v.bytes), v.tag);
      continue;
    }
    (here ? to_restore : to_pull).push_back(i);
  }
  if (to_pull.empty() && to_restore.empty()) {
    then(t);
    return;
  }
  t->unresolved.store(static_cast<int>(to_pull.size() + to_restore.size()) + 1);
  auto done = std::make_shared<std::function<void(const TaskPtr&)>>(std::move(then));
  for (std::size_t i : to_restore) {
    restore_argument(t, i, [t, done] {
      if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
    });
  }
  for (std::size_t i : to_pull) {
    TaskArg& a = t->args[i];
    const ObjectId id = a.ref;
    pull(id, a.location, a.size,
         [this, t, i, done, id, defer](SharedBuffer bytes, std::uint64_t tag,
                                       std::shared_ptr<const ErrorInfo> err,
                                       std::uint64_t reserved) {
           TaskArg& arg = t->args[i];
           if (!err) {
             // Keep the copy, so later tasks and gets here need no transfer.
             if (id.owner == world_.rank) {
               apply_freed(id, store_.set_ready(id, bytes, tag, {}, reserved));
             } else {
               store_.store_copy(id, bytes, tag, reserved);
               send(id.owner, [&](WireWriter& w) {
                 w.put(MessageType::copy_done).put(id).put<std::int32_t>(-1).put<std::uint8_t>(1);
               });
             }
           }
           if (err) {
             t->set_input_error(std::move(err));
           } else if (defer && bytes->size() > config_.inline_limit) {
             arg.location = world_.rank;  // taken from the store when the task runs
             arg.size = bytes->size();
           } else {
             arg.take(std::move(bytes), tag);
           }
           if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
         });
  }
  if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
}

void Runtime::restore_argument(const TaskPtr& t, std::size_t i, std::function<void()> done) {
  const ObjectId id = t->args[i].ref;
  auto check = [this, t, i, done, id] {
    ObjectStore::View v = store_.view(id);
    TaskArg& a = t->args[i];
    if (v.exists && v.state == ObjectStore::State::ready) {
      a.take(std::move(v.bytes), v.tag);
      done();
    } else if (v.exists && v.state == ObjectStore::State::spilled) {
      if (auto error = store_.take_restore_error(id)) {
        // The store cannot make room for it: the task gets it straight from the file.
        read_spilled(
            id, v, std::move(error),
            [t, i, done, tag = v.tag](SharedBuffer bytes, std::shared_ptr<const ErrorInfo> err) {
              if (bytes) {
                t->args[i].take(std::move(bytes), tag);
              } else {
                t->set_input_error(std::move(err));
              }
              done();
            });
        return;
      }
      restore_argument(t, i, done);  // spilled again before it was taken
    } else {
      t->set_input_error(v.error ? v.error
                                 : std::make_shared<const ErrorInfo>(make_error(
                                       ErrorKind::object_lost, t.get(),
                                       "argument " + id.to_string() + " is gone from this rank")));
      done();
    }
  };
  if (!store_.when_restored(id, check)) {
    check();
    return;
  }
  spill_->restore(id);
}

std::shared_ptr<const ErrorInfo> Runtime::materialize_arguments(const TaskPtr& t) {
  for (TaskArg& a : t->args) {
    if (!a.is_ref) continue;
    try {
      detail::StoredValue v = get(a.ref, std::nullopt);
      a.take(std::move(v.bytes), v.tag);
    } catch (const Error& e) {
      ErrorInfo info = e.info();
      if (info.task_name.empty()) info.task_name = function_name(*t);
      return std::make_shared<const ErrorInfo>(std::move(info));
    }
  }
  return nullptr;
}

void Runtime::run_task(const TaskPtr& t) {
  if (t->kind == TaskKind::actor_creation) {
    start_actor(t);
    return;
  }
  const detail::FunctionEntry* f = FunctionTable::instance().at(t->function);
  detail::CallResult result;
  std::shared_ptr<const ErrorInfo> error = materialize_arguments(t);
  if (error) {
    // An input could not be read back (e.g. its spill file is damaged): the task fails with it.
  } else if (!f) {
    error = std::make_shared<const ErrorInfo>(
        make_error(ErrorKind::unregistered, t.get(), "no such function on this rank"));
  } else {
    constexpr std::size_t kSmall = 8;
    detail::ArgView small[kSmall];
    std::vector<detail::ArgView> big;
    detail::ArgView* views = small;
    if (t->args.size() > kSmall) {
      big.resize(t->args.size());
      views = big.data();
    }
    for (std::size_t i = 0; i < t->args.size(); ++i) {
      const TaskArg& a = t->args[i];
      views[i] = {a.buffer ? a.buffer->data() + a.offset : nullptr, a.size, a.tag,
                  a.buffer ? &a.buffer : nullptr};
    }
    const std::int64_t start_us = timeline_ ? Timeline::now_us() : 0;
    const RunningCallScope running(RunningCallScope::Kind::task, f->name, t->name, t->id, t->actor);
    try {
      f->invoke(f->key, nullptr, views, t->args.size(), result);
    } catch (const Error& e) {
      ErrorInfo info = e.info();
      if (info.rank < 0) info.rank = world_.rank;
      if (info.task_name.empty()) info.task_name = function_name(*t);
      error = std::make_shared<const ErrorInfo>(std::move(info));
    } catch (const std::exception& e) {
      ErrorInfo info = make_error(ErrorKind::task, t.get(), e.what());
      info.exception_type = detail::demangle(typeid(e).name());
      error = std::make_shared<const ErrorInfo>(std::move(info));
    } catch (...) {
      ErrorInfo info =
          make_error(ErrorKind::task, t.get(), "an exception not derived from std::exception");
      info.exception_type = "unknown";
      error = std::make_shared<const ErrorInfo>(std::move(info));
    }
    if (timeline_) timeline_->record(function_name(*t), t->id, start_us, Timeline::now_us());
  }
  tasks_executed_.fetch_add(1, std::memory_order_relaxed);
  // Inputs go back to the store's keeping (spillable) as soon as the task is done with them.
  for (TaskArg& a : t->args) {
    if (a.ref.valid() && a.size > config_.inline_limit) {
      a.buffer.reset();
      a.is_ref = true;  // a retry takes it again
      a.location = world_.rank;
    }
  }
  finish_task(t, std::move(result), std::move(error));
}

bool Runtime::retry(const TaskPtr& t, const ErrorInfo& error) {
  if (!t->retry_exceptions || error.kind != ErrorKind::task || t->attempt >= t->max_retries ||
      stopping_) {
    return false;
  }
  ++t->attempt;
  log().info("retrying {} ({} of {}) after: {}", function_name(*t), t->attempt, t->max_retries,
             error.message);
  place(t);
  return true;
}

void Runtime::finish_task(const TaskPtr& t, detail::CallResult&& result,
                          std::shared_ptr<const ErrorInfo> error) {
  const int owner = t->id.submitter;
  std::uint64_t reserved = 0;
  // Small results are let in without asking (like inline values arriving in messages): the
  // spill that follows makes the room, and the hot path of tiny tasks skips the store's lock.
  const bool stays_here =
      result.size() > config_.inline_limit || (!result.contained.empty() && owner != world_.rank);
  if (!error && stays_here) {
    // The result takes room in this store: wait for it (spilling makes it), or fail the task.
    const std::uint64_t size = result.size();
    const ObjectStore::Room room = store_.reserve(size, store_full_timeout());
    if (room.ok) {
      reserved = size;
    } else {
      error = std::make_shared<const ErrorInfo>(store_full_error(size, room, t.get()));
    }
  }
  if (owner == world_.rank) {
    if (t->from_wire) {
      // It left this rank (forwarded) and came back: drop the original kept for its reply.
      std::lock_guard lock(pending_mutex_);
      pending_.erase(t->id);
    }
    if (error && retry(t, *error)) return;
    SharedBuffer bytes;
    if (!error) {
      bytes = result.shared ? std::move(result.shared)
                            : std::make_shared<const Buffer>(std::move(result.bytes));
    }
    complete_owned(t, std::move(bytes), result.tag, std::move(error), std::move(result.contained),
                   reserved);
    return;
  }
  // Replies release the submitter's hold on the arguments: they wait for this rank's borrows.
  if (error) {
    send_gated(owner, [&](WireWriter& w) {
      w.put(MessageType::task_done).put(t->id).put(ResultKind::failed);
      write_error(w, *error);
    });
  } else if (result.size() <= config_.inline_limit && result.contained.empty()) {
    send_gated(owner, [&](WireWriter& w) {
      w.put(MessageType::task_done).put(t->id).put(ResultKind::value).put(result.tag);
      w.bytes(result.shared ? result.shared->span() : result.bytes.span());
    });
  } else {
    // Large results stay here; the owner learns where, and getters pull them. So do results
    // holding references: this copy keeps them alive for as long as the owner keeps the result.
    const std::uint64_t size = result.size();
    store_.store_primary(t->return_object(),
                         result.shared ? std::move(result.shared)
                                       : std::make_shared<const Buffer>(std::move(result.bytes)),
                         result.tag, std::move(result.contained), reserved);
    send_gated(owner, [&](WireWriter& w) {
      w.put(MessageType::task_done)
          .put(t->id)
          .put(ResultKind::located)
          .put(result.tag)
          .put(world_.rank)
          .put(size)
          .put<std::uint8_t>(0);
    });
  }
}

void Runtime::complete_owned(const TaskPtr& t, SharedBuffer bytes, std::uint64_t tag,
                             std::shared_ptr<const ErrorInfo> error, TokenList contained,
                             std::uint64_t reserved) {
  const ObjectId id = t->return_object();
  if (error) {
    if (reserved) store_.unreserve(reserved);
    apply_freed(id, store_.set_failed(id, std::move(error)));
  } else {
    apply_freed(id, store_.set_ready(id, std::move(bytes), tag, std::move(contained), reserved));
  }
}

// ---------------------------------------------------------------------------------------------
// Objects across ranks.

void Runtime::pull(const ObjectId& id, int from, std::uint64_t size, PullDone done,
                   bool may_read_file) {
  // Room first: a transfer never lands in a store that has none (it waits for spilling).
  auto shared = std::make_shared<PullDone>(std::move(done));
  store_.reserve_async(size, [this, id, from, size, shared, may_read_file] {
    send_pull_request(id, from, size, std::move(*shared), may_read_file);
  });
}

void Runtime::send_pull_request(const ObjectId& id, int from, std::uint64_t reserved, PullDone done,
                                bool may_read_file) {
  const int tag = channel_->new_transfer_tag();
  {
    std::lock_guard lock(pulls_mutex_);
    pulls_[tag] = {id, reserved, std::move(done)};
  }
  send(from, [&](WireWriter& w) {
    w.put(MessageType::pull_request).put(id).put(tag).put<std::uint8_t>(may_read_file);
  });
}

void Runtime::pull_copy(const ObjectId& id, int at, bool assigned) {
  pull(id, at, store_.view(id).size,
       [this, id, at, assigned](SharedBuffer bytes, std::uint64_t tag,
                                std::shared_ptr<const ErrorInfo> err, std::uint64_t reserved) {
         const bool ok = err == nullptr;
         if (!ok) {
           store_.fetch_failed(id, std::move(err));
         } else if (id.owner == world_.rank) {
           apply_freed(id, store_.set_ready(id, std::move(bytes), tag, {}, reserved));
         } else {
           store_.store_copy(id, std::move(bytes), tag, reserved);
         }
         if (id.owner == world_.rank) {
           read_ended(id, at, ok ? world_.rank : -1);
         } else {
           send(id.owner, [&](WireWriter& w) {
             w.put(MessageType::copy_done)
                 .put(id)
                 .put<std::int32_t>(assigned ? at : -1)
                 .put<std::uint8_t>(ok);
           });
         }
       });
}

void Runtime::read_ended(const ObjectId& id, int from, int copy_at) {
  bool known = false;
  ObjectStore::Freed freed;
  for (const auto& a : store_.reader_done(id, from, copy_at, &known, &freed)) {
    send_located(a.requester, id, a);
  }
  apply_freed(id, std::move(freed));
}

void Runtime::send_located(int dest, const ObjectId& id, const ObjectStore::Assignment& a) {
  send(dest, [&](WireWriter& w) {
    w.put(MessageType::object_status)
        .put(id)
        .put(ResultKind::located)
        .put(a.tag)
        .put<std::int32_t>(a.at)
        .put(a.size)
        .put<std::uint8_t>(1);
  });
}

void Runtime::ask_owner(const ObjectId& id, bool want_pull) {
  send(id.owner, [&](WireWriter& w) {
    w.put(MessageType::resolve_object).put(id).put<std::uint8_t>(want_pull);
  });
}

void Runtime::on_resolve_object(int source, WireReader& r) {
  const auto id = r.get<ObjectId>();
  const bool want_pull = r.get<std::uint8_t>() != 0;
  auto reply = [this, source, id, want_pull] {
    ObjectStore::View v = store_.view(id);
    if (v.exists && v.state != ObjectStore::State::failed &&
        !(v.state == ObjectStore::State::ready && v.size <= config_.inline_limit)) {
      if (want_pull) {
        // The owner picks the copy to read; a busy broadcast waits for the next copy.
        if (auto a = store_.assign_reader(id, source, /*may_queue=*/true)) {
          send_located(source, id, *a);
        }
        return;
      }
      send(source, [&](WireWriter& w) {
        w.put(MessageType::object_status)
            .put(id)
            .put(ResultKind::located)
            .put(v.tag)
            .put<std::int32_t>(store_.any_location(id))
            .put(v.size)
            .put<std::uint8_t>(0);
      });
      return;
    }
    send(source, [&](WireWriter& w) {
      w.put(MessageType::object_status).put(id);
      if (!v.exists) {
        w.put(ResultKind::failed);
        write_error(w, make_error(ErrorKind::object_lost, nullptr,
                                  id.to_string() + " was freed by its owner before it was read"));
      } else if (v.state == ObjectStore::State::failed) {
        w.put(ResultKind::failed);
        write_error(w, *v.error);
      } else {
        w.put(ResultKind::value).put(v.tag).bytes(v.bytes->span());
      }
    });
  };
  if (!store_.when_finished(id, reply)) reply();
}

void Runtime::apply_freed(const ObjectId& id, ObjectStore::Freed&& freed) {
  if (!stopping_) {
    for (int rank : freed.tell) {
      if (rank == world_.rank) continue;
      send_gated(rank, [&](WireWriter& w) { w.put(MessageType::free_object).put(id); });
    }
  }
  // The references it held are dropped here, outside the store's lock; that may free more.
  freed.contained.clear();
  freed.decoded.reset();
  freed.spill.reset();
  store_.serve_reservations();  // memory may have been freed: transfers waiting for room go
}

void Runtime::register_borrow(const ObjectId& id) {
  if (stopping_) return;
  {
    std::lock_guard lock(gate_mutex_);
    ++unacked_borrows_;
  }
  send(id.owner, [&](WireWriter& w) { w.put(MessageType::add_borrower).put(id); });
}

void Runtime::send_gated(int dest, const std::function<void(WireWriter&)>& fill) {
  std::lock_guard lock(gate_mutex_);
  if (unacked_borrows_ == 0) {
    send(dest, fill);
    return;
  }
  Buffer message;
  WireWriter w(message);
  fill(w);
  gated_.emplace_back(dest, std::move(message));
}

void Runtime::on_borrow_ack() {
  std::lock_guard lock(gate_mutex_);
  if (unacked_borrows_ > 0) --unacked_borrows_;
  if (unacked_borrows_ > 0) return;
  for (auto& [dest, message] : gated_) channel_->send(dest, message.span());
  gated_.clear();
}

void Runtime::throw_larger_than_store(const char* what, std::uint64_t bytes, bool at_least) const {
  const std::uint64_t capacity = store_capacity();
  ErrorInfo info = make_error(
      ErrorKind::store_full, nullptr,
      fmt::format("object store full on rank {}: {} of {}{} bytes ({}) is larger than the whole "
                  "store ({} bytes, {}), so it fails at once; raise "
                  "--manta-object-store-memory above its size, or split it into smaller objects",
                  world_.rank, what, at_least ? "at least " : "", bytes, human_bytes(bytes),
                  capacity, human_bytes(capacity)));
  info.requested_bytes = bytes;
  info.capacity_bytes = capacity;
  throw ObjectStoreFullError(std::move(info));
}

std::shared_ptr<detail::RefToken> Runtime::put(SharedBuffer bytes, std::uint64_t tag,
                                               TokenList contained) {
  const std::uint64_t size = bytes->size();
  if (store_capacity() != 0 && size > store_capacity()) throw_larger_than_store("put", size, false);
  const ObjectStore::Room room = store_.reserve(size, store_full_timeout());
  if (!room.ok) throw ObjectStoreFullError(store_full_error(size, room, nullptr));
  ObjectId id{world_.rank, 0, next_seq_.fetch_add(1, std::memory_order_relaxed)};
  return store_.create_ready(id, std::move(bytes), tag, std::move(contained), size);
}

std::shared_ptr<detail::RefToken> Runtime::acquire_ref(const ObjectId& id) {
  ObjectStore::Acquired a = store_.acquire(id);
  if (a.new_borrow) register_borrow(id);
  return std::move(a.token);
}

void Runtime::release_ref(const ObjectId& id) {
  ObjectStore::Released r = store_.release(id);
  if (r.tell_owner && !stopping_) {
    send_gated(id.owner, [&](WireWriter& w) { w.put(MessageType::remove_borrower).put(id); });
  }
  apply_freed(id, std::move(r.freed));
}

void Runtime::cache_decoded(const ObjectId& id, std::uint64_t tag,
                            std::shared_ptr<const void> value, bool views_bytes) {
  store_.cache_decoded(id, tag, std::move(value), views_bytes);
}

void Runtime::read_spilled(const ObjectId& id, const ObjectStore::View& v,
                           std::shared_ptr<const ErrorInfo> no_room, ReadPastStore done) {
  spill_->read_spilled(id, v.spill,
                       [this, id, no_room = std::move(no_room), done = std::move(done)](
                           SharedBuffer bytes, std::string error, bool lost) {
                         if (bytes) {
                           done(std::move(bytes), nullptr);
                         } else if (lost) {
                           // The object is gone for good: every later reader hears the same.
                           auto info = std::make_shared<const ErrorInfo>(
                               make_error(ErrorKind::object_lost, nullptr, std::move(error)));
                           store_.restore_failed(id, info);
                           done(nullptr, std::move(info));
                         } else {
                           ErrorInfo info = *no_room;
                           info.message += "; reading " + id.to_string() +
                                           " past the store failed too: " + error;
                           done(nullptr, std::make_shared<const ErrorInfo>(std::move(info)));
                         }
                       });
}

detail::StoredValue Runtime::read_past_store(const ObjectId& id, const ObjectStore::View& v,
                                             const ErrorInfo& no_room) {
  auto result =
      std::make_shared<std::promise<std::pair<SharedBuffer, std::shared_ptr<const ErrorInfo>>>>();
  auto future = result->get_future();
  read_spilled(id, v, std::make_shared<const ErrorInfo>(no_room),
               [result](SharedBuffer bytes, std::shared_ptr<const ErrorInfo> error) {
                 result->set_value({std::move(bytes), std::move(error)});
               });
  auto [bytes, error] = future.get();
  if (error) throw_error(*error);
  return {std::move(bytes), v.tag, nullptr, 0};
}

detail::StoredValue Runtime::get(const ObjectId& id, detail::Timeout timeout) {
  const auto deadline = deadline_of(timeout);
  LocalScheduler* sched =
      LocalScheduler::current() == scheduler_.get() ? scheduler_.get() : nullptr;
  ObjectStore::Waiter waiter;
  bool registered = false, lent = false;
  auto cleanup = [&] {
    if (registered) store_.remove_waiter(id, &waiter);
    if (lent) sched->worker_unblocked(&waiter);
  };
  for (;;) {
    ObjectStore::View v = store_.view(id);
    if (!v.exists) {
      cleanup();
      throw ObjectLostError(make_error(ErrorKind::object_lost, nullptr,
                                       id.to_string() +
                                           " is not known on this rank (its ObjectRef is empty or "
                                           "was not made by Manta)"));
    }
    if (v.state == ObjectStore::State::ready) {
      cleanup();
      return {std::move(v.bytes), v.tag, std::move(v.decoded), v.decoded_tag};
    }
    if (v.state == ObjectStore::State::failed) {
      cleanup();
      throw_error(*v.error);
    }
    if (v.state == ObjectStore::State::spilled) {
      if (auto error = store_.take_restore_error(id)) {
        // The store cannot make room for it: the caller gets it straight from the file.
        cleanup();
        return read_past_store(id, v, *error);
      }
      spill_->restore(id);  // waiters wake when it is back in memory
    } else if (v.state == ObjectStore::State::remote) {
      if (store_.start_fetch(id)) {
        if (id.owner == world_.rank) {
          auto a = store_.assign_reader(id, world_.rank, /*may_queue=*/false);
          pull_copy(id, a ? a->at : v.location, a.has_value());
        } else {
          ask_owner(id, /*want_pull=*/true);  // the owner says which copy to read
        }
      }
    } else if (id.owner != world_.rank) {
      if (store_.start_resolve(id)) ask_owner(id, /*want_pull=*/true);
    } else if (sched && sched->run_inline(TaskId{id.owner, id.seq})) {
      continue;  // ran the task ourselves
    }
    if (store_.stopped()) {
      cleanup();
      throw_if_stopped(id);
    }
    if (!registered) {
      store_.add_waiter(id, &waiter);
      registered = true;
      continue;  // look again: it may have finished before we were registered
    }
    if (sched && !lent) {
      sched->worker_blocked(&waiter, [&waiter] { waiter.notify(); });
      lent = true;
    }
    if (sched && sched->help(&waiter)) continue;
    if (spin_until_signaled(waiter, deadline, std::chrono::microseconds(config_.wait_spin_us),
                            *channel_)) {
      waiter.signaled.store(false, std::memory_order_relaxed);
      continue;
    }
    std::unique_lock lock(waiter.mutex);
    if (deadline) {
      if (!waiter.cv.wait_until(lock, *deadline, [&] { return waiter.signaled.load(); })) {
        lock.unlock();
        cleanup();
        throw GetTimeoutError(make_error(
            ErrorKind::get_timeout, nullptr,
            fmt::format("{} was not ready within {} ms", id.to_string(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(*timeout).count())));
      }
    } else {
      waiter.cv.wait(lock, [&] { return waiter.signaled.load(); });
    }
    waiter.signaled.store(false, std::memory_order_relaxed);
  }
}

std::vector<bool> Runtime::wait(const std::vector<ObjectId>& ids, std::size_t num_ready,
                                detail::Timeout timeout) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].valid()) {
      throw ObjectLostError(make_error(
          ErrorKind::object_lost, nullptr,
          "wait: ref " + std::to_string(i + 1) + " of " + std::to_string(ids.size()) +
              " is an empty ObjectRef (default-constructed or moved from); it can never be ready"));
    }
  }
  const auto deadline = deadline_of(timeout);
  num_ready = std::min(num_ready, ids.size());
  LocalScheduler* sched =
      LocalScheduler::current() == scheduler_.get() ? scheduler_.get() : nullptr;
  ObjectStore::Waiter waiter;
  // However the wait ends, an exception included, the store and the scheduler let go of the
  // waiter before it goes.
  struct Release {
    ObjectStore& store;
    LocalScheduler* sched;
    const std::vector<ObjectId>& ids;
    ObjectStore::Waiter& waiter;
    bool registered = false;
    bool lent = false;
    ~Release() {
      if (registered) {
        for (const auto& id : ids) store.remove_waiter(id, &waiter);
      }
      if (lent) sched->worker_unblocked(&waiter);
    }
  } release{store_, sched, ids, waiter};
  std::vector<bool> ready(ids.size(), false);
  for (;;) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      ObjectStore::View v = store_.view(ids[i]);
      ready[i] = v.exists && v.state != ObjectStore::State::pending;
      count += ready[i];
      if (!ready[i] && v.exists && ids[i].owner != world_.rank && store_.start_resolve(ids[i])) {
        ask_owner(ids[i], false);
      }
    }
    const bool timed_out = deadline && Clock::now() >= *deadline;
    if (count >= num_ready || timed_out || store_.stopped()) break;
    if (!release.registered) {
      release.registered = true;
      for (const auto& id : ids) store_.add_waiter(id, &waiter);
      continue;
    }
    if (sched && !release.lent) {
      sched->worker_blocked(&waiter, [&waiter] { waiter.notify(); });
      release.lent = true;
    }
    if (sched && sched->help(&waiter)) continue;
    std::unique_lock lock(waiter.mutex);
    if (deadline) {
      waiter.cv.wait_until(lock, *deadline, [&] { return waiter.signaled.load(); });
    } else {
      waiter.cv.wait(lock, [&] { return waiter.signaled.load(); });
    }
    waiter.signaled.store(false, std::memory_order_relaxed);
  }
  return ready;
}

// ---------------------------------------------------------------------------------------------
// Actors. The creator sends the creation to rank 0, which places the actor, records it in the
// actor table, has the host build it and tells the creator where it lives. Callers learn the
// host from rank 0 once and then call the host directly, numbering their calls.

ActorId Runtime::create_actor(detail::Submission&& s, const ActorOptions& options,
                              std::uint64_t class_tag) {
  check_actor_options(options, world_.size, {"manta::actor", s.function->name});
  TaskOptions to;
  to.on_rank = options.on_rank;
  to.max_retries = 0;
  TaskPtr t = make_spec(std::move(s), to);
  ResourceSet held;
  for (const auto& [k, v] : options.resources) held.set(k, v);
  ResourceSet request = held;
  request.set("actor_slots", 1);
  t->resources = std::make_shared<const ResourceSet>(std::move(request));
  t->kind = TaskKind::actor_creation;
  t->actor = ActorId{world_.rank, 0, next_seq_.fetch_add(1, std::memory_order_relaxed)};
  t->actor_name = options.name;
  t->max_restarts_actor = options.max_restarts;
  t->max_concurrency = options.max_concurrency;
  t->class_tag = class_tag;
  const ActorId id = t->actor;
  {
    std::lock_guard lock(routes_mutex_);
    routes_[id];
    creations_[id] = t;
  }
  resolve_arguments(t);
  if (!options.name.empty()) {
    // A named creation returns once rank 0 accepted the name, so a duplicate fails right here.
    std::unique_lock lock(routes_mutex_);
    if (!routes_cv_.wait_for(lock, std::chrono::seconds(config_.shutdown_timeout_s), [&] {
          return routes_[id].known || routes_[id].accepted || stopping_;
        })) {
      throw std::runtime_error("manta::actor: no answer from rank 0 about actor '" + options.name +
                               "'");
    }
    if (auto death = routes_[id].death) throw std::invalid_argument(death->message);
  }
  return id;
}

std::shared_ptr<detail::RefToken> Runtime::submit_actor_call(const ActorId& actor,
                                                             detail::Submission&& s) {
  if (!actor.valid()) throw std::invalid_argument("call on an empty ActorHandle");
  TaskOptions to;
  to.max_retries = 0;
  TaskPtr t = make_spec(std::move(s), to);
  t->resources = std::make_shared<const ResourceSet>();
  t->kind = TaskKind::actor_call;
  t->actor = actor;
  t->caller = world_.rank;
  {
    std::lock_guard lock(routes_mutex_);
    t->actor_seq = routes_[actor].next_seq++;
  }
  auto token = store_.create_pending(t->return_object());
  tasks_submitted_.fetch_add(1, std::memory_order_relaxed);
  resolve_arguments(t);
  return token;
}

void Runtime::route_call(const TaskPtr& t) {
  std::unique_lock lock(routes_mutex_);
  ActorRoute& r = routes_[t->actor];
  if (r.death) {
    auto death = r.death;
    lock.unlock();
    if (t->function != kRestartMarker) complete_owned(t, nullptr, 0, death);
    return;
  }
  if (r.known) {
    const int host = r.host;
    lock.unlock();
    send_call(host, t);
    return;
  }
  r.waiting.push_back(t);
  const bool ask = !std::exchange(r.asked, true);
  lock.unlock();
  if (ask) send(0, [&](WireWriter& w) { w.put(MessageType::actor_lookup).put(t->actor); });
}

void Runtime::send_call(int host, const TaskPtr& t) {
  if (host == world_.rank) {
    fetch_arguments(t, [this](const TaskPtr& call) { actors_->deliver(call); });
    return;
  }
  if (t->function != kRestartMarker) {  // a marker has no result to wait for
    std::lock_guard lock(pending_mutex_);
    pending_[t->id] = t;
  }
  send_message(*channel_, host, [&](WireWriter& w) {
    w.put(MessageType::actor_call);
    auto err = t->input_error();
    w.put<std::uint8_t>(err != nullptr);
    if (err) write_error(w, *err);
    write_task(w, *t, config_.inline_limit, world_.rank);
  });
}

void Runtime::kill_actor(const ActorId& actor, bool no_restart) {
  if (!actor.valid()) throw std::invalid_argument("kill of an empty ActorHandle");
  if (!no_restart) {
    auto t = std::make_shared<TaskSpec>();
    t->id = {world_.rank, next_seq_.fetch_add(1, std::memory_order_relaxed)};
    t->kind = TaskKind::actor_call;
    t->function = kRestartMarker;
    t->resources = std::make_shared<const ResourceSet>();
    t->actor = actor;
    t->caller = world_.rank;
    {
      std::lock_guard lock(routes_mutex_);
      t->actor_seq = routes_[actor].next_seq++;
    }
    route_call(t);
    return;
  }
  {
    // This rank's later calls fail at once; calls already sent fail at the host unless they ran.
    std::lock_guard lock(routes_mutex_);
    ActorRoute& route = routes_[actor];
    route.death = std::make_shared<const ErrorInfo>(
        make_error(ErrorKind::actor_died, nullptr, actor.to_string() + " was killed"));
    if (!route.known) {
      route.known = true;
      for (const TaskPtr& call : route.waiting) complete_owned(call, nullptr, 0, route.death);
      route.waiting.clear();
    }
  }
  send_kill(0, actor, no_restart, /*at_host=*/false);
}

std::optional<ActorId> Runtime::lookup_actor(const std::string& name, std::uint64_t class_tag,
                                             const std::string& class_name) {
  std::uint64_t request;
  {
    std::lock_guard lock(names_mutex_);
    request = next_name_request_++;
    name_answers_[request];
  }
  send(0, [&](WireWriter& w) { w.put(MessageType::name_lookup).put(request).str(name); });
  std::unique_lock lock(names_mutex_);
  if (!names_cv_.wait_for(lock, std::chrono::seconds(config_.shutdown_timeout_s),
                          [&] { return name_answers_[request].done || stopping_; })) {
    throw std::runtime_error("manta::get_actor: no answer from rank 0");
  }
  NameAnswer answer = name_answers_[request];
  name_answers_.erase(request);
  if (!answer.found) return std::nullopt;
  if (answer.class_tag != class_tag) {
    throw std::invalid_argument("manta::get_actor<" + class_name + ">(\"" + name +
                                "\"): that actor is a " +
                                detail::type_name_of_tag(answer.class_tag));
  }
  return answer.id;
}

void Runtime::send_kill(int dest, const ActorId& id, bool no_restart, bool at_host) {
  send(dest, [&](WireWriter& w) {
    w.put(MessageType::actor_kill).put(id).put<std::uint8_t>(no_restart).put<std::uint8_t>(at_host);
  });
}

void Runtime::reply_location(int dest, const ActorId& id) {
  // With table_mutex_ held.
  const ActorRecord& rec = actor_table_[id];
  send(dest, [&](WireWriter& w) {
    w.put(MessageType::actor_location).put(id).put<std::uint8_t>(rec.death != nullptr);
    if (rec.death) {
      write_error(w, *rec.death);
    } else {
      w.put(rec.host);
    }
  });
}

void Runtime::on_create_actor(WireReader& r, const SharedBuffer& message) {
  std::shared_ptr<const ErrorInfo> input_error;
  if (r.get<std::uint8_t>()) input_error = std::make_shared<const ErrorInfo>(read_error(r));
  place_actor(read_task(r, message), std::move(input_error), /*first_try=*/true);
}

bool Runtime::place_actor(const TaskPtr& t, std::shared_ptr<const ErrorInfo> input_error,
                          bool first_try) {
  auto dead = [&](std::string why) {
    return std::make_shared<const ErrorInfo>(
        make_error(ErrorKind::actor_died, t.get(), std::move(why)));
  };
  std::optional<int> host;
  std::optional<bool> kill;
  std::string waits_for;  // set when it waits for an actor slot
  {
    std::lock_guard lock(table_mutex_);
    ActorRecord& rec = actor_table_[t->actor];
    rec.class_tag = t->class_tag;
    if (input_error) {
      rec.death = dead("it could not be created: " + input_error->message);
    } else if (auto it = actor_names_.find(t->actor_name);
               first_try && !t->actor_name.empty() && it != actor_names_.end()) {
      rec.death = dead("the actor name '" + t->actor_name + "' is taken by " +
                       it->second.to_string() + "; pick another name or kill that actor first");
    } else {
      const ResourceSet& req = *t->resources;
      std::optional<int> pick;
      {
        std::lock_guard g(global_mutex_);
        loads_[0].queued = scheduler_->queued();
        loads_[0].available = scheduler_->available();
        // The actor table knows exactly how many actors live on each rank: use that for the
        // slots instead of load reports, which lag behind a burst of creations and kills.
        std::vector<RankLoad> view = loads_;
        for (std::size_t k = 0; k < view.size(); ++k) {
          const double slots =
              view[k].total.get("actor_slots") - static_cast<double>(actors_on_[k]);
          view[k].available.set("actor_slots", std::max(0.0, slots));
          view[k].queued = 0;  // queued tasks take no actor slots
          view[k].assigned = 0;
        }
        auto has_slot = [&](int k) {
          return view[static_cast<std::size_t>(k)].available.get("actor_slots") >= 1;
        };
        if (t->on_rank >= 0) {
          if (t->on_rank < world_.size && req.fits_in(loads_[t->on_rank].total)) {
            if (has_slot(t->on_rank)) {
              pick = t->on_rank;
            } else {
              waits_for = fmt::format("rank {} hosts its {} actors (--manta-max-actors)",
                                      t->on_rank, actors_on_[t->on_rank]);
            }
          }
        } else if (feasible_anywhere(req, totals_)) {
          pick = pick_rank(req, view, global_hint_++);
          if (pick && !has_slot(*pick)) {
            // The least loaded rank is full of actors: only ranks with a free slot may host it
            // (where it may still wait for other resources, such as CPUs, to free up).
            std::vector<RankLoad> with_slots = view;
            for (std::size_t k = 0; k < with_slots.size(); ++k) {
              if (!has_slot(static_cast<int>(k))) with_slots[k].total.set("actor_slots", 0);
            }
            pick = pick_rank(req, with_slots, global_hint_);
          }
          if (!pick) {
            // Every rank that could host it is full: a creation sent on would wait in a queue
            // there, unseen. It waits here, said so, until an actor ends.
            std::uint64_t live = 0;
            for (auto n : actors_on_) live += n;
            waits_for = fmt::format(
                "every rank that could host it is full ({} actors live on {} ranks, "
                "--manta-max-actors={} per rank)",
                live, world_.size, config_.max_actors);
          }
        }
        if (pick && *pick != 0) {
          ++loads_[*pick].assigned;
          ++sent_to_[*pick];
        }
        if (pick) ++actors_on_[*pick];
      }
      if (!waits_for.empty()) {
        if (first_try && !t->actor_name.empty()) actor_names_[t->actor_name] = t->actor;
        rec.name = t->actor_name;
        actors_waiting_.push_back(t);
        if (first_try) {
          // The first of a burst warns (visible on stderr); the rest go to the log.
          const bool first = actors_waiting_.size() == 1;
          const std::string text = fmt::format(
              "actor {} ({}) waits for a free actor slot: {}; it is created when an actor "
              "there ends (kill actors you no longer need, or raise --manta-max-actors){}",
              t->actor.to_string(), function_name(*t), waits_for,
              first ? "" : fmt::format(" [{} creations wait]", actors_waiting_.size()));
          if (first) {
            log().warn("{}", text);
          } else {
            log().info("{}", text);
          }
          // The creator learns that rank 0 took it (a named creation returns).
          send(t->id.submitter, [&](WireWriter& w) {
            w.put(MessageType::actor_location).put(t->actor).put<std::uint8_t>(0).put(-1);
          });
        }
        return false;
      }
      if (!pick) {
        rec.death = dead(fmt::format(
            "no rank can host it: it asks for {}{} (rank 0 offers {}); ask for less, or start "
            "ranks with "
            "more (--manta-resources, --manta-max-actors)",
            req.to_string(), t->on_rank >= 0 ? fmt::format(" on rank {}", t->on_rank) : "",
            totals_[0].to_string()));
      } else {
        rec.host = *pick;
        rec.name = t->actor_name;
        if (!rec.name.empty()) actor_names_[rec.name] = t->actor;
        host = pick;
        kill = rec.kill_pending;
        if (!first_try) {
          log().info("actor {} ({}) got a slot on rank {}", t->actor.to_string(), function_name(*t),
                     *pick);
        }
      }
    }
    rec.placed = true;
    if (rec.death && !first_try) {
      if (auto it = actor_names_.find(rec.name);
          !rec.name.empty() && it != actor_names_.end() && it->second == t->actor) {
        actor_names_.erase(it);
      }
    }
    reply_location(t->id.submitter, t->actor);
    for (int waiting : rec.waiting) reply_location(waiting, t->actor);
    rec.waiting.clear();
  }
  if (host && *host == world_.rank) {
    // Queue it here now, so the next placement already sees it in rank 0's load.
    prepare_and_enqueue(t);
    if (kill) send_kill(*host, t->actor, *kill, /*at_host=*/true);
  } else if (host) {
    send(*host, [&](WireWriter& w) {
      w.put(MessageType::host_actor);
      write_task(w, *t, config_.inline_limit, world_.rank);
    });
    if (kill) send_kill(*host, t->actor, *kill, /*at_host=*/true);
  }
  return true;
}

void Runtime::place_waiting_actors() {
  std::deque<TaskPtr> waiting;
  {
    std::lock_guard lock(table_mutex_);
    waiting.swap(actors_waiting_);
  }
  // Those that still find no slot queue again, in their order.
  for (const TaskPtr& t : waiting) place_actor(t, nullptr, /*first_try=*/false);
}

void Runtime::on_host_actor(WireReader& r, const SharedBuffer& message) {
  placed_by_rank0_.fetch_add(1, std::memory_order_relaxed);
  // The creation waits in the local queue until its resources are free; run_task then starts
  // the actor, which keeps holding them.
  prepare_and_enqueue(read_task(r, message));
}

void Runtime::start_actor(const TaskPtr& creation) {
  ActorSettings settings;
  settings.max_restarts = creation->max_restarts_actor;
  settings.max_concurrency = creation->max_concurrency;
  settings.resources = *creation->resources;
  actors_->create(creation, std::move(settings));
}

void Runtime::on_actor_location(WireReader& r) {
  const auto id = r.get<ActorId>();
  const bool dead = r.get<std::uint8_t>() != 0;
  std::shared_ptr<const ErrorInfo> death;
  int host = -1;
  if (dead) {
    death = std::make_shared<const ErrorInfo>(read_error(r));
  } else {
    host = r.get<int>();
  }
  std::vector<TaskPtr> waiting;
  if (!dead && host < 0) {
    // Rank 0 took it but it waits for an actor slot: a named creation may return; calls wait.
    {
      std::lock_guard lock(routes_mutex_);
      routes_[id].accepted = true;
    }
    routes_cv_.notify_all();
    return;
  }
  {
    std::lock_guard lock(routes_mutex_);
    ActorRoute& route = routes_[id];
    route.known = true;
    route.host = host;
    if (death) route.death = death;
    death = route.death;  // killed by this rank meanwhile
    waiting.swap(route.waiting);
  }
  routes_cv_.notify_all();
  std::sort(waiting.begin(), waiting.end(),
            [](const TaskPtr& a, const TaskPtr& b) { return a->actor_seq < b->actor_seq; });
  for (const TaskPtr& call : waiting) {
    if (death) {
      if (call->function != kRestartMarker) complete_owned(call, nullptr, 0, death);
    } else {
      send_call(host, call);
    }
  }
}

void Runtime::on_actor_call(WireReader& r, const SharedBuffer& message) {
  std::shared_ptr<const ErrorInfo> input_error;
  if (r.get<std::uint8_t>()) input_error = std::make_shared<const ErrorInfo>(read_error(r));
  TaskPtr t = read_task(r, message);
  if (input_error) t->set_input_error(std::move(input_error));
  fetch_arguments(t, [this](const TaskPtr& call) { actors_->deliver(call); });
}

// ---------------------------------------------------------------------------------------------
// Messages (progress thread).

void Runtime::on_message(int source, std::span<const std::byte> message) {
  try {
    WireReader r(message);
    const auto type = r.get<MessageType>();
    switch (type) {
      case MessageType::submit_task:
      case MessageType::forward_task: {
        auto copy = std::make_shared<const Buffer>(message.data(), message.size());
        WireReader rr(copy->span());
        rr.get<MessageType>();
        TaskPtr t = read_task(rr, copy);
        if (stopping_) return;
        if (source == 0) placed_by_rank0_.fetch_add(1, std::memory_order_relaxed);  // cumulative
        if (type == MessageType::submit_task) {
          prepare_and_enqueue(t);
        } else {
          schedule_globally(t);
        }
        break;
      }
      case MessageType::task_done:
        on_task_done(source, r);
        break;
      case MessageType::resolve_object:
        on_resolve_object(source, r);
        break;
      case MessageType::object_status:
        on_object_status(r);
        break;
      case MessageType::pull_request:
        on_pull_request(source, r);
        break;
      case MessageType::pull_header:
        on_pull_header(source, r);
        break;
      case MessageType::free_object: {
        const auto id = r.get<ObjectId>();
        apply_freed(id, store_.free_copy(id));
        break;
      }
      case MessageType::add_borrower: {
        const auto id = r.get<ObjectId>();
        if (!store_.add_borrower(id, source)) {
          log().debug("rank {} registered as borrower of {} after it was freed", source,
                      id.to_string());
        }
        send(source, [&](WireWriter& w) { w.put(MessageType::borrow_ack).put(id); });
        break;
      }
      case MessageType::borrow_ack:
        on_borrow_ack();
        break;
      case MessageType::remove_borrower: {
        const auto id = r.get<ObjectId>();
        apply_freed(id, store_.remove_borrower(id, source));
        break;
      }
      case MessageType::copy_done: {
        const auto id = r.get<ObjectId>();
        const auto from = r.get<std::int32_t>();
        const bool ok = r.get<std::uint8_t>() != 0;
        bool known = false;
        ObjectStore::Freed freed;
        for (const auto& a : store_.reader_done(id, from, ok ? source : -1, &known, &freed)) {
          send_located(a.requester, id, a);
        }
        apply_freed(id, std::move(freed));
        // Freed while the copy was made: the copy has nothing left to serve.
        if (!known && ok) {
          send_gated(source, [&](WireWriter& w) { w.put(MessageType::free_object).put(id); });
        }
        break;
      }
      case MessageType::pull_done: {
        const auto tag = r.get<int>();
        Lease lease;
        {
          std::lock_guard lock(leases_mutex_);
          auto it = leases_.find(lease_key(source, tag));
          if (it == leases_.end()) break;
          lease = std::move(it->second);
          leases_.erase(it);
          if (lease.handle != 0) leases_open_.fetch_sub(1, std::memory_order_relaxed);
        }
#if MANTA_HAVE_UCX
        if (data_plane_ && lease.handle != 0) data_plane_->unexpose(lease.handle);
#endif
        break;
      }
      case MessageType::summary_request:
        on_summary_request(source, r);
        break;
      case MessageType::summary_reply:
        on_summary_reply(r);
        break;
      case MessageType::load_report:
        on_load_report(source, r);
        break;
      case MessageType::shutdown: {
        std::lock_guard lock(stop_mutex_);
        stop_requested_ = true;
        stop_cv_.notify_all();
        break;
      }
      case MessageType::create_actor:
      case MessageType::host_actor:
      case MessageType::actor_call: {
        auto copy = std::make_shared<const Buffer>(message.data(), message.size());
        WireReader rr(copy->span());
        rr.get<MessageType>();
        if (stopping_) return;
        if (type == MessageType::create_actor) on_create_actor(rr, copy);
        if (type == MessageType::host_actor) on_host_actor(rr, copy);
        if (type == MessageType::actor_call) on_actor_call(rr, copy);
        break;
      }
      case MessageType::actor_location:
        on_actor_location(r);
        break;
      case MessageType::actor_lookup: {
        const auto id = r.get<ActorId>();
        std::lock_guard lock(table_mutex_);
        ActorRecord& rec = actor_table_[id];
        if (rec.placed) {
          reply_location(source, id);
        } else {
          rec.waiting.push_back(source);  // its creation has not reached rank 0 yet
        }
        break;
      }
      case MessageType::actor_kill: {
        const auto id = r.get<ActorId>();
        const bool no_restart = r.get<std::uint8_t>() != 0;
        if (r.get<std::uint8_t>() != 0) {  // at the host
          actors_->kill(id, no_restart);
          break;
        }
        std::optional<int> host;  // rank 0: find the host
        {
          std::lock_guard lock(table_mutex_);
          ActorRecord& rec = actor_table_[id];
          auto waiting = std::find_if(actors_waiting_.begin(), actors_waiting_.end(),
                                      [&](const TaskPtr& t) { return t->actor == id; });
          if (!rec.placed && no_restart && waiting != actors_waiting_.end()) {
            // Killed while it waited for an actor slot: it never starts.
            actors_waiting_.erase(waiting);
            rec.placed = true;
            rec.death = std::make_shared<const ErrorInfo>(
                make_error(ErrorKind::actor_died, nullptr,
                           id.to_string() + " was killed while it waited for an actor slot"));
            if (auto it = actor_names_.find(rec.name);
                !rec.name.empty() && it != actor_names_.end() && it->second == id) {
              actor_names_.erase(it);
            }
            for (int asker : rec.waiting) reply_location(asker, id);
            rec.waiting.clear();
          } else if (!rec.placed) {
            rec.kill_pending = no_restart;
          } else if (!rec.death) {
            host = rec.host;
          }
        }
        if (host) send_kill(*host, id, no_restart, /*at_host=*/true);
        break;
      }
      case MessageType::actor_died: {
        const auto id = r.get<ActorId>();
        auto cause = std::make_shared<const ErrorInfo>(read_error(r));
        bool slot_freed = false;
        {
          std::lock_guard lock(table_mutex_);
          ActorRecord& rec = actor_table_[id];
          if (rec.placed && rec.host >= 0 && !rec.death) {
            std::lock_guard g(global_mutex_);
            if (actors_on_[rec.host] > 0) --actors_on_[rec.host];
            slot_freed = !actors_waiting_.empty();
          }
          rec.death = cause;
          if (auto it = actor_names_.find(rec.name);
              !rec.name.empty() && it != actor_names_.end() && it->second == id) {
            actor_names_.erase(it);
          }
        }
        if (slot_freed) place_waiting_actors();
        break;
      }
      case MessageType::name_lookup: {
        const auto request = r.get<std::uint64_t>();
        const std::string name = r.str();
        std::lock_guard lock(table_mutex_);
        auto it = actor_names_.find(name);
        const bool found = it != actor_names_.end();
        send(source, [&](WireWriter& w) {
          w.put(MessageType::name_result).put(request).put<std::uint8_t>(found);
          if (found) w.put(it->second).put(actor_table_[it->second].class_tag);
        });
        break;
      }
      case MessageType::name_result: {
        const auto request = r.get<std::uint64_t>();
        {
          std::lock_guard lock(names_mutex_);
          NameAnswer& a = name_answers_[request];
          a.found = r.get<std::uint8_t>() != 0;
          if (a.found) {
            a.id = r.get<ActorId>();
            a.class_tag = r.get<std::uint64_t>();
          }
          a.done = true;
        }
        names_cv_.notify_all();
        break;
      }
      case MessageType::timeline:
        if (timeline_) timeline_->add_encoded(message.subspan(1));
        break;
      case MessageType::status_report:
        if (job_dir_) job_dir_->update(r.str());
        break;
      case MessageType::spill_hint:
        on_spill_hint(r);
        break;
      case MessageType::shutdown_ack: {
        std::lock_guard lock(stop_mutex_);
        ++acks_;
        stop_cv_.notify_all();
        break;
      }
      default:
        log().error("unknown message type {} from rank {}", static_cast<int>(type), source);
    }
  } catch (const std::exception& e) {
    log().error("failed to handle a message from rank {}: {}", source, e.what());
  }
}

void Runtime::on_task_done(int /*source*/, WireReader& r) {
  const auto id = r.get<TaskId>();
  const auto kind = r.get<ResultKind>();
  TaskPtr t;
  {
    std::lock_guard lock(pending_mutex_);
    if (auto it = pending_.find(id); it != pending_.end()) {
      t = std::move(it->second);
      pending_.erase(it);
    }
  }
  if (kind == ResultKind::failed && t) {
    ErrorInfo e = read_error(r);
    if (retry(t, e)) return;
    const ObjectId oid = id.return_object();
    apply_freed(oid, store_.set_failed(oid, std::make_shared<const ErrorInfo>(std::move(e))));
    return;
  }
  apply_result(id.return_object(), kind, r);
}

void Runtime::on_object_status(WireReader& r) {
  const auto id = r.get<ObjectId>();
  apply_result(id, r.get<ResultKind>(), r);
}

void Runtime::apply_result(const ObjectId& id, ResultKind kind, WireReader& r) {
  if (kind == ResultKind::failed) {
    apply_freed(id, store_.set_failed(id, std::make_shared<const ErrorInfo>(read_error(r))));
  } else if (kind == ResultKind::value) {
    const auto tag = r.get<std::uint64_t>();
    auto bytes = r.bytes();
    apply_freed(
        id, store_.set_ready(id, std::make_shared<const Buffer>(bytes.data(), bytes.size()), tag));
  } else {
    const auto tag = r.get<std::uint64_t>();
    const auto at = r.get<std::int32_t>();
    const auto size = r.get<std::uint64_t>();
    const bool assigned = r.get<std::uint8_t>() != 0;
    const bool wanted = store_.view(id).exists;
    apply_freed(id, store_.set_remote(id, at, size, tag, assigned && wanted));
    if (!assigned) return;
    if (wanted) {
      pull_copy(id, at, true);
    } else {
      send(id.owner, [&](WireWriter& w) {
        w.put(MessageType::copy_done).put(id).put<std::int32_t>(at).put<std::uint8_t>(0);
      });
    }
  }
}

void Runtime::on_pull_request(int source, WireReader& r) {
  const auto id = r.get<ObjectId>();
  const auto tag = r.get<int>();
  const bool may_read_file = r.get<std::uint8_t>() != 0;
  serve_pull(source, tag, id, may_read_file);
}

void Runtime::serve_pull(int source, int tag, const ObjectId& id, bool may_read_file) {
  ObjectStore::View v = store_.view(id);
  if (v.exists && v.state == ObjectStore::State::spilled) {
    if (may_read_file) {
      // The reader reads the file itself when it sees it; the slot stays until pull_done.
      {
        std::lock_guard lock(leases_mutex_);
        leases_[lease_key(source, tag)] = {nullptr, 0, v.spill};
      }
      serves_.fetch_add(1, std::memory_order_relaxed);
      bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
      send(source, [&](WireWriter& w) {
        w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
        w.put<std::uint8_t>(2).str(spill_->file_path()).put(v.spill->offset).put(v.spill->check);
      });
      return;
    }
    if (auto error = store_.take_restore_error(id)) {
      // No room here to read it back into the store: send it from a buffer of its own.
      serves_.fetch_add(1, std::memory_order_relaxed);
      bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
      read_spilled(
          id, v, std::move(error),
          [this, source, tag, obj_tag = v.tag](SharedBuffer bytes,
                                               std::shared_ptr<const ErrorInfo> err) {
            send(source, [&](WireWriter& w) {
              w.put(MessageType::pull_header).put(tag);
              if (err) {
                w.put<std::uint8_t>(0);
                write_error(w, *err);
              } else {
                w.put<std::uint8_t>(1).put(obj_tag).put(bytes->size()).put<std::uint8_t>(0);
              }
            });
            if (!err) channel_->send_data(source, tag, bytes);
          });
      return;
    }
    // It cannot read the file: read it back here, then send it.
    if (store_.when_restored(id, [this, source, tag, id] { serve_pull(source, tag, id, false); })) {
      spill_->restore(id);
      return;
    }
    v = store_.view(id);
  }
  if (!v.exists || v.state != ObjectStore::State::ready) {
    send(source, [&](WireWriter& w) {
      w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(0);
      // A restore that failed (a damaged spill file) says why.
      write_error(w, v.exists && v.state == ObjectStore::State::failed && v.error
                         ? *v.error
                         : make_error(ErrorKind::object_lost, nullptr,
                                      id.to_string() + " is no longer on rank " +
                                          std::to_string(world_.rank)));
    });
    return;
  }
  serves_.fetch_add(1, std::memory_order_relaxed);
  bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
  if (v.cached_copy) serves_of_copies_.fetch_add(1, std::memory_order_relaxed);
#if MANTA_HAVE_UCX
  std::uint64_t handle = 0;
  Buffer descriptor;
  if (data_plane_ && v.size > 0) {
    try {
      handle = data_plane_->expose(v.bytes->data(), v.size, descriptor);
    } catch (const std::exception& e) {
      // The reader still gets the object: over MPI, below.
      log().warn("cannot register {} for RMA reads ({}); sending it over MPI", id.to_string(),
                 e.what());
    }
  }
  if (handle != 0) {
    // The reader copies straight out of this buffer; it stays alive until pull_done.
    {
      std::lock_guard lock(leases_mutex_);
      leases_[lease_key(source, tag)] = {v.bytes, handle};
      leases_open_.fetch_add(1, std::memory_order_relaxed);
    }
    send(source, [&](WireWriter& w) {
      w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
      w.put<std::uint8_t>(1).bytes(descriptor.span());
    });
    return;
  }
#endif
  send(source, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
    w.put<std::uint8_t>(0);
  });
  channel_->send_data(source, tag, v.bytes);
}

void Runtime::on_pull_header(int source, WireReader& r) {
  const auto tag = r.get<int>();
  const bool ok = r.get<std::uint8_t>() != 0;
  Pull pull;
  {
    std::lock_guard lock(pulls_mutex_);
    auto it = pulls_.find(tag);
    if (it == pulls_.end()) return;
    pull = std::move(it->second);
    pulls_.erase(it);
  }
  const std::uint64_t reserved = pull.reserved;
  // A failed read gives its room back before the caller hears of it.
  auto fail = [this, reserved, done = pull.done](std::shared_ptr<const ErrorInfo> error) {
    store_.unreserve(reserved);
    done(nullptr, 0, std::move(error), 0);
  };
  if (!ok) {
    fail(std::make_shared<const ErrorInfo>(read_error(r)));
    return;
  }
  const auto obj_tag = r.get<std::uint64_t>();
  const auto size = r.get<std::uint64_t>();
  const auto how = r.get<std::uint8_t>();  // 0: MPI messages, 1: RMA, 2: the holder's spill file
  fetches_.fetch_add(1, std::memory_order_relaxed);
  bytes_fetched_.fetch_add(size, std::memory_order_relaxed);
  if (how == 0) {
    channel_->receive_data(
        source, tag, size, [done = std::move(pull.done), obj_tag, reserved](Buffer b) {
          done(std::make_shared<const Buffer>(std::move(b)), obj_tag, nullptr, reserved);
        });
    return;
  }
  const ObjectId id = pull.id;
  if (how == 2) {
    const std::string path = r.str();
    const auto offset = r.get<std::uint64_t>();
    const auto check = r.get<std::uint64_t>();
    spill_->read_file(
        path, offset, size, check,
        [this, source, tag, id, obj_tag, reserved, path, fail, done = std::move(pull.done)](
            SharedBuffer bytes, std::string error, bool unreachable) {
          send(source, [&](WireWriter& w) { w.put(MessageType::pull_done).put(tag); });
          if (unreachable) {
            // This rank does not see that file (node-local disk): the holder restores and sends.
            log().debug("reading {} from {} failed ({}); asking rank {} to send it", id.to_string(),
                        path, error, source);
            send_pull_request(id, source, reserved, done, /*may_read_file=*/false);
            return;
          }
          if (!error.empty()) {
            // The bytes are gone or damaged: no other copy to try.
            fail(std::make_shared<const ErrorInfo>(make_error(
                ErrorKind::object_lost, nullptr,
                fmt::format("{} could not be read on rank {} from the spill file of rank {}: {}",
                            id.to_string(), world_.rank, source, error))));
            return;
          }
          done(std::move(bytes), obj_tag, nullptr, reserved);
        });
    return;
  }
#if MANTA_HAVE_UCX
  auto descriptor = r.bytes();
  auto into = std::make_shared<Buffer>(size);
  data_plane_->get(
      source, descriptor, into->data(), size,
      [this, source, tag, id, into, obj_tag, reserved, fail,
       done = std::move(pull.done)](std::string error) {
        send(source, [&](WireWriter& w) { w.put(MessageType::pull_done).put(tag); });
        if (!error.empty()) {
          fail(std::make_shared<const ErrorInfo>(make_error(
              ErrorKind::object_lost, nullptr,
              fmt::format("reading {} from rank {} failed: {}", id.to_string(), source, error))));
          return;
        }
        done(into, obj_tag, nullptr, reserved);
      });
#else
  fail(std::make_shared<const ErrorInfo>(
      make_error(ErrorKind::object_lost, nullptr,
                 fmt::format("rank {} offered an RMA read but this build has no UCX", source))));
#endif
}

void Runtime::on_summary_request(int source, WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  const auto max_objects = r.get<std::uint64_t>();
  RankMemory m = local_memory();
  std::vector<ObjectSummary> objects;
  store_.summarize(m, objects, max_objects);
  send(source, [&](WireWriter& w) {
    w.put(MessageType::summary_reply).put(request);
    w.put<std::int32_t>(m.rank)
        .put(m.objects)
        .put(m.bytes)
        .put(m.owned_objects)
        .put(m.in_use_bytes)
        .put(m.pinned_bytes)
        .put(m.spillable_bytes)
        .put(m.primary_copies)
        .put(m.cached_copies)
        .put(m.borrowed_refs)
        .put(m.bytes_fetched)
        .put(m.bytes_served)
        .put(m.fetches)
        .put(m.serves)
        .put(m.serves_of_copies)
        .put(m.capacity_bytes)
        .put(m.spilled_objects)
        .put(m.spilled_bytes)
        .put(m.spill_files)
        .put(m.spill_file_bytes)
        .put(m.bytes_spilled)
        .put(m.bytes_restored)
        .put(m.bytes_read_from_files)
        .put(m.spill_seconds)
        .put(m.restore_seconds);
    w.str(m.spill_file);
    w.put(static_cast<std::uint32_t>(objects.size()));
    for (const auto& o : objects) {
      w.put(o.id).put<std::int32_t>(o.rank).put(o.size).str(o.role).str(o.state);
      w.put<std::uint8_t>(o.referenced).put<std::uint8_t>(o.pinned);
      w.put<std::uint8_t>(o.in_memory).put<std::uint8_t>(o.spilled);
      w.put<std::int32_t>(o.borrowers)
          .put<std::int32_t>(o.locations)
          .put<std::int32_t>(o.contained);
    }
  });
}

void Runtime::on_summary_reply(WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  RankMemory m;
  m.rank = r.get<std::int32_t>();
  m.objects = r.get<std::uint64_t>();
  m.bytes = r.get<std::uint64_t>();
  m.owned_objects = r.get<std::uint64_t>();
  m.in_use_bytes = r.get<std::uint64_t>();
  m.pinned_bytes = r.get<std::uint64_t>();
  m.spillable_bytes = r.get<std::uint64_t>();
  m.primary_copies = r.get<std::uint64_t>();
  m.cached_copies = r.get<std::uint64_t>();
  m.borrowed_refs = r.get<std::uint64_t>();
  m.bytes_fetched = r.get<std::uint64_t>();
  m.bytes_served = r.get<std::uint64_t>();
  m.fetches = r.get<std::uint64_t>();
  m.serves = r.get<std::uint64_t>();
  m.serves_of_copies = r.get<std::uint64_t>();
  m.capacity_bytes = r.get<std::uint64_t>();
  m.spilled_objects = r.get<std::uint64_t>();
  m.spilled_bytes = r.get<std::uint64_t>();
  m.spill_files = r.get<std::uint64_t>();
  m.spill_file_bytes = r.get<std::uint64_t>();
  m.bytes_spilled = r.get<std::uint64_t>();
  m.bytes_restored = r.get<std::uint64_t>();
  m.bytes_read_from_files = r.get<std::uint64_t>();
  m.spill_seconds = r.get<double>();
  m.restore_seconds = r.get<double>();
  m.spill_file = r.str();
  std::vector<ObjectSummary> objects(r.get<std::uint32_t>());
  for (auto& o : objects) {
    o.id = r.get<ObjectId>();
    o.rank = r.get<std::int32_t>();
    o.size = r.get<std::uint64_t>();
    o.role = r.str();
    o.state = r.str();
    o.referenced = r.get<std::uint8_t>() != 0;
    o.pinned = r.get<std::uint8_t>() != 0;
    o.in_memory = r.get<std::uint8_t>() != 0;
    o.spilled = r.get<std::uint8_t>() != 0;
    o.borrowers = r.get<std::int32_t>();
    o.locations = r.get<std::int32_t>();
    o.contained = r.get<std::int32_t>();
  }
  {
    std::lock_guard lock(summary_mutex_);
    auto it = summaries_.find(request);
    if (it == summaries_.end()) return;  // the asker gave up
    it->second.summary.ranks.push_back(m);
    for (auto& o : objects) it->second.summary.objects.push_back(std::move(o));
    ++it->second.replies;
  }
  summary_cv_.notify_all();
}

RankMemory Runtime::local_memory() const {
  RankMemory m;
  m.rank = world_.rank;
  m.bytes_fetched = bytes_fetched_.load(std::memory_order_relaxed);
  m.bytes_served = bytes_served_.load(std::memory_order_relaxed);
  m.fetches = fetches_.load(std::memory_order_relaxed);
  m.serves = serves_.load(std::memory_order_relaxed);
  m.serves_of_copies = serves_of_copies_.load(std::memory_order_relaxed);
  if (spill_) {
    const SpillStats st = spill_->stats();
    m.spill_files = st.has_file ? 1 : 0;
    m.spill_file = spill_->file_path();
    m.spill_file_bytes = st.file_bytes;
    m.bytes_spilled = st.bytes_spilled;
    m.bytes_restored = st.bytes_restored;
    m.bytes_read_from_files = st.bytes_read_from_files;
    m.spill_seconds = st.spill_seconds;
    m.restore_seconds = st.restore_seconds;
  }
  return m;
}

MemorySummary Runtime::memory_summary(std::size_t max_objects) {
  std::uint64_t request;
  {
    std::lock_guard lock(summary_mutex_);
    request = next_summary_++;
    summaries_[request];
  }
  for (int r = 0; r < world_.size; ++r) {
    send(r, [&](WireWriter& w) {
      w.put(MessageType::summary_request).put(request).put<std::uint64_t>(max_objects);
    });
  }
  std::unique_lock lock(summary_mutex_);
  const bool all = summary_cv_.wait_for(lock, std::chrono::seconds(config_.shutdown_timeout_s),
                                        [&] { return summaries_[request].replies == world_.size; });
  MemorySummary out = std::move(summaries_[request].summary);
  const int replies = summaries_[request].replies;
  summaries_.erase(request);
  lock.unlock();
  if (!all) {
    throw RuntimeStoppedError(
        make_error(ErrorKind::shutdown, nullptr,
                   fmt::format("memory_summary: {} of {} ranks did not answer within {} s",
                               world_.size - replies, world_.size, config_.shutdown_timeout_s)));
  }
  std::sort(out.ranks.begin(), out.ranks.end(),
            [](const RankMemory& a, const RankMemory& b) { return a.rank < b.rank; });
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectSummary& a, const ObjectSummary& b) { return a.size > b.size; });
  if (out.objects.size() > max_objects) out.objects.resize(max_objects);
  return out;
}

void Runtime::print_summary(const std::string& text) {
  if (config_.summary.empty() || text.empty()) return;
  if (config_.summary == "-") {
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  } else if (std::FILE* f = std::fopen(config_.summary.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
    std::fprintf(stderr, "manta: memory summary written to %s\n", config_.summary.c_str());
  } else {
    log().error("--manta-summary={}: cannot write there ({})", config_.summary,
                std::strerror(errno));
  }
}

const char* Runtime::transport_name() const noexcept { return data_plane_ ? "ucx" : "mpi"; }

void Runtime::on_load_report(int source, WireReader& r) {
  const auto queued = r.get<std::uint64_t>();
  const auto received = r.get<std::uint64_t>();
  ResourceSet available = read_resources(r);
  std::lock_guard lock(global_mutex_);
  if (source < 0 || static_cast<std::size_t>(source) >= loads_.size()) return;
  loads_[source].queued = queued;
  loads_[source].available = std::move(available);
  // Placements sent but not yet seen by that rank when it reported are still on their way.
  loads_[source].assigned = sent_to_[source] > received ? sent_to_[source] - received : 0;
}

void Runtime::on_tick() {
  if (stopping_) return;
  // A call blocked on queued actor work gets that work a thread.
  if (actors_started_.load(std::memory_order_acquire)) actors_->keep_moving();
  // A pin let go (a get view dropped) frees nothing by itself: look again for room here.
  if (spill_ && store_.spill_needed() > 0) {
    spill_->kick();
    store_.serve_reservations();
  }
  if (world_.rank == 0) {
    if (world_.size > 1) balance_waiting_work();
    return;
  }
  const std::uint64_t waiting = scheduler_->queued();
  ResourceSet available = scheduler_->available();
  // Report changes, including new placements by rank 0: it counts those not yet reported.
  const std::uint64_t placed = placed_by_rank0_.load(std::memory_order_relaxed);
  if (placed == reported_placed_ && waiting == reported_waiting_ &&
      available == reported_available_) {
    return;
  }
  reported_placed_ = placed;
  reported_waiting_ = waiting;
  reported_available_ = available;
  send(0, [&](WireWriter& w) {
    w.put(MessageType::load_report).put(waiting).put(placed);
    write_resources(w, available);
  });
}

}  // namespace manta::engine

namespace manta::detail {

RefToken::~RefToken() {
  if (auto* rt = engine::runtime()) rt->release_ref(id_);
}

std::shared_ptr<RefToken> acquire_ref(const ObjectId& id) {
  if (auto* rt = engine::runtime()) return rt->acquire_ref(id);
  return std::make_shared<RefToken>(id);
}

}  // namespace manta::detail
