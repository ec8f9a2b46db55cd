// The public functions: init, shutdown, where code runs, and the entry points of the templates.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

#include <manta/manta.h>

#include "engine/checkpoint_restore.h"
#include "engine/config.h"
#include "engine/function_table.h"
#include "engine/job_directory.h"
#include "engine/job_files.h"
#include "engine/log.h"
#include "engine/option_checks.h"
#include "engine/runtime.h"
#include "engine/runtime_sessions.h"
#include "engine/task_env.h"
#include "engine/teardown_guard.h"
#include "transport/mpi_world.h"

namespace manta {
namespace {

int g_rank = 0;
int g_size = 1;
// The job across its runtimes (init again after shutdown: runtime_sessions.h).
struct Job {
  MPI_Comm channel = MPI_COMM_NULL;  // rank 0's word to the waiting ranks
  bool mpi_ours = false;             // Manta started MPI, so it finalizes it
  int runtimes = 0;                  // started so far in this process
};
Job g_job;
std::terminate_handler g_previous_terminate = nullptr;
const std::string* g_job_dir = nullptr;  // leaked: read at process exit, after static destructors
std::atomic<bool> g_checkpoint{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_checkpoint_signal(int) { g_checkpoint.store(true); }

void install_checkpoint_signal(int sig) {
  if (sig == 0) return;
  struct sigaction sa {};
  sa.sa_handler = on_checkpoint_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // MPI and file calls carry on where the signal found them
  sigaction(sig, &sa, nullptr);
}

/// The runtime, if it takes calls now (between init and shutdown).
engine::Runtime* open_runtime() noexcept {
  engine::Runtime* r = engine::Runtime::instance();
  return r && r->is_open() ? r : nullptr;
}

engine::Runtime& rt() {
  engine::Runtime* r = open_runtime();
  if (!r) {
    ErrorInfo info;
    info.kind = ErrorKind::shutdown;
    info.rank = g_rank;
    info.message = g_job.runtimes > 0
                       ? "Manta is not running: manta::shutdown stopped it; call manta::init "
                         "again to start a new runtime"
                       : "Manta is not running: call manta::init(argc, argv) first";
    throw RuntimeStoppedError(std::move(info));
  }
  return *r;
}

/// An object of a runtime that an earlier shutdown ended: nothing holds it any more.
void check_made_here(engine::Runtime& r, const ObjectId& id, const char* call) {
  if (r.made_here(id.seq)) return;
  ErrorInfo info;
  info.kind = ErrorKind::object_lost;
  info.rank = g_rank;
  info.message = fmt::format(
      "{} of {}, an object of a runtime that manta::shutdown ended: objects do not outlive "
      "their runtime; make it again (put or a task) after init",
      call, id.to_string());
  throw ObjectLostError(std::move(info));
}

/// MPI_Finalize, bounded as the rest of the teardown (--manta-shutdown-timeout): a rank that
/// hangs there ends with `exit_code` instead.
void finalize_mpi(int exit_code) {
  const engine::Runtime* r = engine::Runtime::instance();
  engine::TeardownGuard guard(g_rank, std::chrono::seconds(r ? r->config().shutdown_timeout_s : 60),
                              exit_code, [](int code) {
                                if (g_job_dir)
                                  engine::write_rank_exit(*g_job_dir, g_rank, g_size, code);
                              });
  guard.step("MPI_Finalize");
  MPI_Finalize();
}

/// Rank 0: the driver's process ends (or its runtime failed): the ranks waiting for another
/// runtime finalize MPI and exit, and so does this one, once, when Manta started MPI.
void end_job() {
  static std::atomic<bool> ended{false};
  if (ended.exchange(true) || g_job.channel == MPI_COMM_NULL) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  engine::sessions::announce_end(g_job.channel, g_size);
  MPI_Comm_free(&g_job.channel);
  if (g_job.mpi_ours) finalize_mpi(0);
}

/// The driver ended by an uncaught exception: say why, stop every rank, exit non-zero.
[[noreturn]] void on_terminate() {
  std::string why = "std::terminate called";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      why = "uncaught " + detail::demangle(typeid(ex).name()) + ": " + ex.what();
    } catch (...) {
      why = "uncaught exception of unknown type";
    }
  }
  std::fprintf(stderr, "manta: the driver on rank %d failed: %s; stopping all %d ranks\n", g_rank,
               why.c_str(), g_size);
  std::fflush(stderr);
  if (engine::Runtime* r = engine::Runtime::instance(); r && g_rank == 0 && r->close()) {
    r->shutdown(/*failed=*/true, why);
  }
  if (g_rank == 0) end_job();
  std::fflush(stdout);
  if (g_job_dir) engine::write_rank_exit(*g_job_dir, g_rank, g_size, 1);
  std::_Exit(1);
}

/// Rank 0: the trace and summary files can be written (found out now, not after the job ran).
std::string check_output_paths(const engine::Config& config) {
  if (!config.timeline.empty()) {
    if (std::FILE* f = std::fopen(config.timeline.c_str(), "a")) {
      std::fclose(f);
    } else {
      return fmt::format("--manta-timeline={}: cannot write there ({}); pick a writable path",
                         config.timeline, std::strerror(errno));
    }
  }
  if (!config.summary.empty() && config.summary != "-") {
    if (std::FILE* f = std::fopen(config.summary.c_str(), "a")) {
      std::fclose(f);
    } else {
      return fmt::format("--manta-summary={}: cannot write there ({}); pick a writable path",
                         config.summary, std::strerror(errno));
    }
  }
  return {};
}

/// --manta-restore: the checkpoint's manifest once every rank found it sound; otherwise rank 0
/// says why and every rank exits 2. Collective; an empty manifest without the setting.
spill::CheckpointManifest check_restore_or_exit(transport::MpiWorld& world,
                                                const engine::Config& config) {
  if (config.restore.empty()) return {};
  std::string why;
  try {
    return engine::check_restore(world.checkpoints, config.restore,
                                 engine::Checkpoints::program_name(config.program));
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (world.rank == 0) {
    std::fprintf(stderr, "manta: init failed: --manta-restore=%s: %s\n", config.restore.c_str(),
                 why.c_str());
  }
  std::fflush(stderr);
  transport::finish_mpi(world);
  std::_Exit(2);
}

/// Collective: when init failed on some rank, rank 0 (and a rank with an error of its own) says
/// why and every rank exits 2; with --manta-help rank 0 prints the settings and all exit 0.
void exit_unless_ok(transport::MpiWorld& world, const engine::Config& config,
                    const std::string& error, bool own_error) {
  const bool ok = transport::all_true(world.comm, error.empty());
  if (ok && !config.help) return;
  if (!error.empty() && world.rank == 0)
    std::fprintf(stderr, "manta: init failed: %s\n", error.c_str());
  if (own_error)
    std::fprintf(stderr, "manta: init failed on rank %d: %s\n", world.rank, error.c_str());
  if (config.help && world.rank == 0) std::fputs(engine::settings_help().c_str(), stdout);
  std::fflush(stdout);
  std::fflush(stderr);
  transport::finish_mpi(world);
  std::_Exit(ok ? 0 : 2);
}

/// Ranks other than 0, once their runtime stopped: the next runtime's arguments, or the end
/// (MPI finalized, the process exits 0).
engine::sessions::Argv wait_for_next_runtime() {
  engine::sessions::Next next = engine::sessions::wait_for_driver(g_job.channel);
  if (!next.again) {
    MPI_Comm_free(&g_job.channel);
    finalize_mpi(0);
    std::fflush(stdout);
    std::fflush(stderr);
    if (g_job_dir) engine::write_rank_exit(*g_job_dir, g_rank, g_size, 0);
    std::_Exit(0);
  }
  return engine::sessions::make_argv(std::move(next.args));
}

/// One runtime, from MPI's communicators to serving: returns on rank 0 (the driver); the other
/// ranks serve it, then wait for the next runtime or the end.
void start_runtime(int& argc, char**& argv) {
  transport::MpiWorld world = transport::start_mpi(argc, argv);
  if (g_job.channel == MPI_COMM_NULL) {
    g_job.mpi_ours = world.initialized_mpi;
    g_job.channel = engine::sessions::open_channel();
  }
  g_rank = world.rank;
  g_size = world.size;
  std::string error;
  engine::Config config;
  try {
    config = engine::parse_config(argc, argv);
    config.session = g_job.runtimes;
    engine::FunctionTable::instance().seal();
    if (argc > 0 && argv[0]) config.program = argv[0];
  } catch (const std::exception& e) {
    error = e.what();
  }
  bool own_error = false;
  // The stores of a node's ranks must fit in its memory; found out now, not when the node runs
  // out of memory in the middle of the job. One rank per node reports it.
  if (error.empty() && config.object_store_memory > 0) {
    std::string given = std::to_string(config.object_store_memory);
    for (const auto& [flag, g] : config.given) {
      if (flag == "--manta-object-store-memory") given = g.value;
    }
    error = engine::check_store_fits_node(config.object_store_memory, given, world.local_size,
                                          engine::node_memory_bytes(), world.hostname);
    own_error = !error.empty() && world.rank != 0 && world.local_rank == 0;
  }
  // Every rank makes and checks the job directory: on a cluster some may not see the same disk.
  if (error.empty() && !config.job_dir.empty()) {
    try {
      engine::JobDirectory::prepare(config.job_dir);
    } catch (const std::exception& e) {
      error = e.what();
      own_error = world.rank != 0;
    }
  }
  if (error.empty() && world.rank == 0) error = check_output_paths(config);
  exit_unless_ok(world, config, error, own_error);
  // A job started from a checkpoint checks it first, every rank together: a damaged one, or one
  // another program wrote, stops the job before anything runs.
  const spill::CheckpointManifest restore_from = check_restore_or_exit(world, config);
  engine::setup_logging(
      world.rank, config.log_level,
      config.job_dir.empty() ? "" : engine::JobDirectory::log_path(config.job_dir, world.rank));
  install_checkpoint_signal(config.checkpoint_signal);
  // Before the runtime's threads start (setenv is not thread-safe) and before user code runs.
  engine::set_job_env(config.job_env);
  // Leaked (read at exit); a later runtime's directory, if another, takes the exit records.
  if (!config.job_dir.empty() && (!g_job_dir || *g_job_dir != config.job_dir)) {
    g_job_dir = new std::string(config.job_dir);
  }
  // The runtime an earlier shutdown ended: its threads are gone, and refs it made, which
  // may still be dropped, reach the new one (which ignores them, see Runtime::release_ref).
  delete engine::Runtime::instance();
  // Leaked on purpose: it must outlive static destructors, which may still drop ObjectRefs.
  auto* runtime = new engine::Runtime(std::move(config), std::move(world));
  ++g_job.runtimes;
  runtime->start();
  if (g_rank != 0) {
    const int code = runtime->serve();
    std::fflush(stdout);
    std::fflush(stderr);
    if (code != 0) {
      if (g_job_dir) engine::write_rank_exit(*g_job_dir, g_rank, g_size, code);
      std::_Exit(code);
    }
    return;  // init waits for the driver's next runtime
  }
  if (!runtime->config().restore.empty()) {
    engine::set_restored(
        engine::restore(runtime->parts(), restore_from, runtime->config().restore));
  }
}

}  // namespace

void init(int& argc, char**& argv) {
  if (engine::Runtime* r = engine::Runtime::instance(); r && r->is_open()) {
    throw std::logic_error("manta::init called twice: the runtime is already running");
  }
  const bool again = g_job.runtimes > 0;
  if (again && g_job.channel == MPI_COMM_NULL) {
    throw std::logic_error(
        "manta::init after manta::shutdown: this program started MPI itself, so shutdown let "
        "the other ranks finish (the program may finalize MPI next); to start Manta again "
        "after shutdown, let manta::init start MPI");
  }
  if (again) {
    // Only the driver gets here (the other ranks wait in their first init): it hands them
    // its arguments, so that every rank starts the new runtime with the same settings.
    std::vector<std::string> args(argv, argv + argc);
    engine::sessions::announce_again(g_job.channel, g_size, args);
  }
  start_runtime(argc, argv);
  if (g_rank != 0) {
    // Serves runtime after runtime until the driver's process ends (then exits there).
    for (;;) {
      engine::sessions::Argv next = wait_for_next_runtime();
      start_runtime(next.argc, next.argv);
    }
  }
  if (again) return;
  g_previous_terminate = std::set_terminate(on_terminate);
  // Registered first, so it runs last: the driver's exit code, once shutdown and main are done.
  ::on_exit(
      [](int code, void*) {
        if (g_job_dir) engine::write_rank_exit(*g_job_dir, 0, g_size, code);
      },
      nullptr);
  std::atexit(end_job);  // after the implied shutdown below: the waiting ranks exit
  std::atexit([] {
    if (open_runtime()) shutdown();  // the end of the driver's main implies shutdown
  });
}

void shutdown() {
  engine::Runtime* r = engine::Runtime::instance();
  if (r && r->close()) {
    r->shutdown(false);
    // MPI is the program's, which may finalize it next: the other ranks must not wait.
    if (g_rank == 0 && !g_job.mpi_ours) end_job();
  }
}

bool is_initialized() noexcept { return open_runtime() != nullptr; }
bool checkpoint_requested() noexcept { return g_checkpoint.load(); }
int rank() noexcept { return g_rank; }
int world_size() noexcept { return g_size; }
std::string get_namespace() { return rt().config().name_space; }

RankStats local_stats() {
  engine::Runtime& r = rt();
  engine::RuntimeStats s = r.stats();
  RankStats out;
  out.rank = r.rank();
  out.tasks_submitted = s.tasks_submitted;
  out.tasks_executed = s.tasks_executed;
  out.tasks_forwarded = s.tasks_forwarded;
  out.tasks_handed_on = s.tasks_handed_on;
  out.messages_sent = s.channel.messages_sent;
  out.batches_sent = s.channel.batches_sent;
  out.bytes_transferred = s.channel.bytes_transferred;
  out.messages_to = s.channel.messages_to;
  out.results_sent = s.results_sent;
  out.result_batches = s.result_batches;
  out.tasks_leased = s.tasks_leased;
  out.lease_requests = s.lease_requests;
  out.tasks_refused = s.tasks_refused;
  out.objects = s.objects;
  out.object_bytes = s.object_bytes;
  out.worker_threads = s.worker_threads;
  out.transport = r.transport_name();
  out.endpoints_eager = s.data_plane.endpoints_eager;
  out.endpoints_on_first_use = s.data_plane.endpoints_on_first_use;
  return out;
}

MemorySummary memory_summary(std::size_t max_objects) {
  return rt().parts().memory.memory_summary(max_objects);
}

PlacementGroup placement_group(std::vector<ResourceMap> bundles, PlacementStrategy strategy,
                               std::string name) {
  auto [id, token] = rt().parts().placement.create(bundles, strategy, name);
  return PlacementGroup(id, std::move(bundles), strategy, std::move(name),
                        ObjectRef<bool>(std::move(token)));
}

void remove_placement_group(const PlacementGroup& pg) { rt().parts().placement.remove(pg.id()); }

bool PlacementGroup::wait(double timeout_seconds) const {
  if (!ready_.valid()) throw std::invalid_argument("PlacementGroup::wait on an empty group");
  if (!std::isfinite(timeout_seconds) || timeout_seconds < 0) {
    throw std::invalid_argument(
        fmt::format("PlacementGroup::wait({}): expected seconds of at least 0", timeout_seconds));
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::min(timeout_seconds, 1e9)));
  if (!detail::wait_objects({ready_.id()}, 1, timeout).at(0)) return false;
  return *manta::get(ready_);  // throws the group's failure
}

std::vector<int> PlacementGroup::bundle_ranks() const {
  if (!ready_.valid())
    throw std::invalid_argument("PlacementGroup::bundle_ranks on an empty group");
  manta::get(ready_);  // waits as get does (lending this worker's CPU); throws its failure
  return rt().parts().placement.ranks(id_);
}

namespace detail {

std::shared_ptr<RefToken> submit_task(Submission&& submission, const TaskOptions& options) {
  return rt().parts().submitter.submit(std::move(submission), options);
}

std::uint64_t store_capacity() noexcept {
  engine::Runtime* r = open_runtime();
  return r ? r->parts().objects.store_capacity() : 0;
}

void throw_larger_than_store(const char* what, std::uint64_t bytes, bool at_least) {
  rt().parts().objects.throw_larger_than_store(what, bytes, at_least);
}

std::shared_ptr<RefToken> put_object(SharedBuffer bytes, std::uint64_t tag,
                                     std::vector<std::shared_ptr<RefToken>> contained) {
  return rt().parts().objects.put(std::move(bytes), tag, std::move(contained));
}

StoredValue get_object(const ObjectId& id, Timeout timeout) {
  if (!id.valid()) {
    ErrorInfo info;
    info.kind = ErrorKind::object_lost;
    info.rank = g_rank;
    info.message = "get of an empty ObjectRef (default-constructed or moved from)";
    throw ObjectLostError(std::move(info));
  }
  engine::Runtime& r = rt();
  check_made_here(r, id, "get");
  return r.parts().objects.get(id, timeout);
}

void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value,
                   bool views_bytes) {
  if (engine::Runtime* r = open_runtime()) {
    r->parts().objects.cache_decoded(id, tag, std::move(value), views_bytes);
  }
}

std::vector<bool> wait_objects(const std::vector<ObjectId>& ids, std::size_t num_ready,
                               Timeout timeout) {
  engine::Runtime& r = rt();
  for (const ObjectId& id : ids) check_made_here(r, id, "wait");
  return r.parts().objects.wait(ids, num_ready, timeout);
}

ActorId create_actor(Submission&& factory_call, const ActorOptions& options,
                     std::uint64_t class_tag) {
  return rt().parts().routing.create_actor(std::move(factory_call), options, class_tag);
}

std::shared_ptr<RefToken> submit_actor_call(const ActorId& actor, Submission&& call,
                                            const ActorCallOptions& options) {
  return rt().parts().routing.submit_call(actor, std::move(call), options);
}

void kill_actor(const ActorId& actor, bool no_restart) {
  rt().parts().routing.kill_actor(actor, no_restart);
}

std::optional<ActorId> lookup_actor(const std::string& name, const std::string& name_space,
                                    std::uint64_t class_tag, const std::string& class_name) {
  return rt().parts().routing.lookup_actor(name, name_space, class_tag, class_name);
}

RefToken::~RefToken() {
  // After shutdown too: the runtime outlives the driver's last ObjectRefs.
  if (auto* r = engine::Runtime::instance()) r->release_ref(id_);
}

std::shared_ptr<RefToken> acquire_ref(const ObjectId& id) {
  if (auto* r = engine::Runtime::instance()) return r->acquire_ref(id);
  return std::make_shared<RefToken>(id);
}

}  // namespace detail
}  // namespace manta
