#include "engine/runtime.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <manta/init.h>

#include "engine/crash_report.h"
#include "engine/function_table.h"
#include "engine/job_files.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/shared_store.h"
#include "engine/teardown_guard.h"
#include "gpu/binding.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

namespace {

// The progress thread's polling and sleeping, from the --manta-progress-* options.
transport::ChannelOptions channel_options(const Config& c) {
  transport::ChannelOptions opts;
  opts.spin = std::chrono::microseconds(c.progress_spin_us);
  opts.max_sleep = std::chrono::microseconds(c.progress_max_sleep_us);
  opts.deep_sleep = std::chrono::microseconds(c.progress_idle_sleep_us);
  opts.chunk_size = c.chunk_size;
  opts.tick = std::chrono::milliseconds(c.report_interval_ms);
  return opts;
}

// The one runtime of this process. Leaked on purpose (it must outlive static destructors, which
// may drop ObjectRefs), so it stays set after shutdown; is_open says whether it takes calls.
std::atomic<Runtime*> g_runtime{nullptr};

std::uint64_t node_memory_share(int local_ranks) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) /
         static_cast<std::uint64_t>(std::max(1, local_ranks));
}

}  // namespace

Runtime* Runtime::instance() noexcept { return g_runtime.load(std::memory_order_acquire); }

Runtime::Runtime(Config config, transport::MpiWorld world)
    : config_(std::move(config)),
      world_(std::move(world)),
      store_(world_.rank),
      ctx_(world_.rank, world_.size, config_, store_, outbox_) {
  g_runtime.store(this, std::memory_order_release);
}

Runtime::~Runtime() {
  if (parts_) parts_->local.stop();
  if (channel_) channel_->stop();
  g_runtime.store(nullptr, std::memory_order_release);
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
  start_hardware();
  const int cpus = hardware_.cpus;
  ResourceSet total = ResourceSet::cpus(cpus);
  for (const auto& [name, amount] : config_.custom_resources) total.set(name, amount);
  // The GPUs found are the GPU resource, unless --manta-resources names one.
  if (!config_.custom_resources.contains("GPU") && !hardware_.gpus.empty()) {
    total.set("GPU", static_cast<double>(hardware_.gpus.size()));
  }
  total.set("actor_slots", config_.max_actors);
  if (total.get("memory") == 0)
    total.set("memory", static_cast<double>(node_memory_share(world_.local_size)));
  ranks_ = exchange_rank_table(world_.comm, {world_.rank, world_.hostname, total});
  start_memory();
  transport::ChannelOptions opts = channel_options(config_);
  opts.on_thread_start = [this] { bind_thread(hardware_, -1); };
  channel_ = std::make_unique<transport::ControlChannel>(world_.comm, opts);
  outbox_.attach(*channel_);
  start_data_plane();
  if (!config_.timeline.empty() || !config_.job_dir.empty()) {
    // The job directory's events leave memory as they are written, unless the whole trace is
    // also wanted at shutdown.
    timeline_ = std::make_unique<Timeline>(world_.rank, /*keep=*/!config_.timeline.empty());
  }
  EngineSettings s;
  for (const auto& r : ranks_) s.totals.push_back(r.total);
  s.workers = cpus;
  s.max_workers = config_.max_workers > 0 ? config_.max_workers : std::max(64, 16 * cpus);
  s.poll = [this] { return channel_->poll(); };
  s.polling = [this](bool on) { on ? channel_->add_poller() : channel_->remove_poller(); };
  s.poll_collectives = [this] {
    return channel_->try_with_mpi([this] { return parts_->collectives.progress(); });
  };
  s.collective_parent = world_.groups;
  s.checkpoint_comm = world_.checkpoints;
  s.try_with_mpi = [this](const std::function<bool()>& step) {
    return channel_->try_with_mpi(step);
  };
  s.run_file_work = [this](std::function<void()> job) {
    if (spill_) {
      spill_->run_file_work(std::move(job));
    } else {
      job();
    }
  };
  s.timeline = timeline_.get();
  parts_ = std::make_unique<EngineParts>(ctx_, *data_plane_, std::move(s));
  parts_->local.set_gpus(gpu_pool_ordinals(hardware_, total.get("GPU")));
  parts_->local.set_thread_start(
      [this](std::size_t index) { bind_thread(hardware_, static_cast<int>(index)); });
  parts_->objects.set_store_capacity(store_.capacity());
  parts_->register_handlers(dispatcher_);
  channel_->add_extra_progress([this] { return parts_->collectives.progress(); });
  // Result batches that waited long enough leave from the progress loop (cheap when none).
  channel_->add_extra_progress([this] { return parts_->results.flush_due(); });
  // After MPI and UCX, which install handlers of their own for these signals, and before the
  // first message: a task that arrives then starts a worker thread at once (kick_locked).
  install_crash_handler({world_.rank, world_.size, world_.hostname, config_.job_dir});
  // Open before the first message: a task from another rank may call the API at once.
  open_.store(true, std::memory_order_release);
  // Messages start only now: other ranks may already call actors here, and the progress thread
  // must find every part their handlers use built.
  channel_->start([this](int src, std::span<const std::byte> m) { dispatcher_.dispatch(src, m); },
                  [this] { on_tick(); });
  parts_->local.start();
  log().info("{} ({}), {} workers, resources {}, threads {}", world_.hostname,
             hardware_.topology.summary, cpus, total.to_string(), hardware_.threads.summary);
  start_job_directory();
}

void Runtime::start_hardware() {
  hardware_ = plan_hardware(config_, world_);
  // Every rank learns whether all could; the first that could not says why.
  int failed_rank = hardware_.error.empty() ? world_.size : world_.rank, first = 0;
  MPI_Allreduce(&failed_rank, &first, 1, MPI_INT, MPI_MIN, world_.comm);
  if (first < world_.size) {
    if (first == world_.rank) {
      std::fprintf(stderr, "manta: init failed on rank %d: %s\n", world_.rank,
                   hardware_.error.c_str());
    }
    transport::finish_mpi(world_);
    std::fflush(stderr);
    std::_Exit(1);
  }
  for (const std::string& note : hardware_.notes) log().warn("{}", note);
  if (!hardware_.assignment.empty()) log().info("GPUs of this node:\n{}", hardware_.assignment);
  if (hardware_.bind != gpu::BindMode::none) place_large_buffers_on(hardware_.topology.numa_node);
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
    outbox_.send(0, [&](WireWriter& w) { w.put(MessageType::status_report).str(json); });
  };
  h.checkpoint_requested = [] { return manta::checkpoint_requested(); };
  job_dir_ = std::make_unique<JobDirectory>(std::move(s), std::move(h), timeline_.get());
  parts_->reports.set_job_directory(job_dir_.get());
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
  s.cpus_free = parts_->local.available().get("CPU");
  s.resources = total.to_string();
  const std::uint64_t load = parts_->local.load();
  s.queued = std::min(parts_->local.queued(), load);
  s.running = load - s.queued;
  s.tasks_submitted = parts_->submitter.submitted();
  s.tasks_executed = parts_->executor.executed();
  s.actors = parts_->actors.alive();
  RankMemory m = parts_->memory.local_memory();
  std::vector<ObjectSummary> none;
  store_.summarize(m, none, 0);
  s.objects = m.objects;
  s.object_bytes = m.bytes;
  s.capacity_bytes = m.capacity_bytes;
  s.spilled_objects = m.spilled_objects;
  s.spilled_bytes = m.spilled_bytes;
  s.reported_ms = Timeline::now_us() / 1000;
  const RankHardware hw = hardware_.describe(world_.rank, world_.hostname);
  s.cpuset = hw.cpuset;
  s.numa_node = hw.numa_node;
  s.binding = hw.binding;
  s.gpus = describe_gpus(hw.gpus);
  s.gpus_total = total.get("GPU");
  s.gpus_free = parts_->local.available().get("GPU");
  s.progress = progress_lines();
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
                      config_.keep_spill, ctx_.store_full_timeout(),
                      [this](std::uint64_t requested) {
                        return ctx_.store_full_error(
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
  ctx_.spill = spill_.get();
  start_shared_memory(capacity);
  store_.set_capacity(
      capacity,
      static_cast<std::uint64_t>(static_cast<double>(capacity) * config_.spill_high_water), [this] {
        if (spill_) spill_->kick();
      });
  detail::set_buffer_pool_limit(std::min<std::uint64_t>(capacity / 4, 512ull << 20));
  log().info("object store: {} bytes, spilling past {:.0f} % to {}", capacity,
             config_.spill_high_water * 100, spill_->directory());
}

void Runtime::start_shared_memory(std::uint64_t capacity) {
  std::vector<std::string> hosts;
  for (const auto& r : ranks_) hosts.push_back(r.host);
  ctx_.node_of = node_map(hosts, config_.node_size);
  const SharedStoreStart s = start_shared_store(config_, job_id_, world_.rank, world_.local_size,
                                                capacity, world_.local_rank == 0);
  for (const auto& name : s.removed)
    log().info("removed {}/{}, a shared memory segment of a job that ended", config_.shm_dir, name);
  if (!s.removed.empty()) {
    log().warn("removed {} shared memory segment{} that ended jobs left in {}", s.removed.size(),
               s.removed.size() == 1 ? "" : "s", config_.shm_dir);
  }
  // Every rank learns whether all could; the first that could not says why.
  int failed_rank = s.error.empty() ? world_.size : world_.rank, first = 0;
  MPI_Allreduce(&failed_rank, &first, 1, MPI_INT, MPI_MIN, world_.comm);
  if (first < world_.size) {
    if (first == world_.rank) {
      std::fprintf(stderr, "manta: init failed on rank %d: %s\n", world_.rank, s.error.c_str());
    }
    stop_shared_store();
    spill_.reset();
    transport::finish_mpi(world_);
    std::fflush(stderr);
    std::_Exit(1);
  }
  if (!s.warning.empty() && world_.local_rank == 0) log().warn("{}", s.warning);
  ctx_.shared_store = s.enabled;
  // Readers go to a copy on their own node only where they can read it in place; on private
  // memory every rank is a node of its own, so a broadcast spreads over copies as before.
  if (s.enabled) store_.set_nodes(ctx_.node_of);
  if (s.enabled) log().info("large objects live in shared memory under {}", config_.shm_dir);
}

void Runtime::start_data_plane() {
  transport::DataPlaneOptions o;
  o.chunk_size = config_.chunk_size;
  o.want_ucx = config_.transport != "mpi";
  o.eager_endpoints = config_.ucx_eager_endpoints;
  std::string why;
  data_plane_ =
      transport::open_data_plane(world_.comm, *channel_, o, spill_file_reader(ctx_), &why);
  if (std::strcmp(data_plane_->name(), "ucx") == 0) {
    log().info("large objects move by UCX RMA reads");
    return;
  }
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
  log().info("large objects move over MPI ({})", why);
}

void Runtime::stop_local_work() {
  parts_->collectives.stop();  // members blocked in collectives return, so actors can stop
  parts_->checkpoints.stop();
  store_.stop();
  parts_->actors.stop();
  parts_->local.stop();
}

int Runtime::serve() {
  parts_->stop.wait_for_stop();
  ctx_.stopping = true;
  stop_local_work();
  parts_->results.stop();  // the workers are gone: what they left in batches goes now
  if (job_dir_) job_dir_->finish("", "", "");
  parts_->reports.send_timeline();
  outbox_.send(0, [](WireWriter& w) { w.put(MessageType::shutdown_ack); });
  channel_->stop();
  parts_->collectives.release();
  if (spill_) spill_->stop();
  close_transports(0);
  return 0;
}

void Runtime::shutdown(bool failed, const std::string& reason) {
  if (ctx_.stopping) return;
  open_.store(false, std::memory_order_release);
  std::string memory;  // while every rank still answers
  if (!failed && (!config_.summary.empty() || job_dir_)) {
    try {
      memory = parts_->memory.memory_summary(20).to_string();
    } catch (const std::exception& e) {
      log().error("memory summary: {}", e.what());
    }
    parts_->memory.print_summary(memory);
  }
  if (ctx_.stopping.exchange(true)) return;
  stop_local_work();
  parts_->results.stop();  // results of tasks run here for other ranks, before they stop
  for (int r = 1; r < world_.size; ++r) {
    outbox_.send(r, [&](WireWriter& w) { w.put(MessageType::shutdown).put<std::uint8_t>(failed); });
  }
  const int others = world_.size - 1;
  const int acks =
      parts_->stop.wait_for_acks(others, std::chrono::seconds(config_.shutdown_timeout_s));
  if (acks < others) {
    const std::string why =
        fmt::format("{} of {} ranks did not stop within {} s (a task still running?)",
                    others - acks, others, config_.shutdown_timeout_s);
    log().error("{}; aborting the job", why);
    if (job_dir_) job_dir_->finish("failed", reason.empty() ? why : reason + "; " + why, memory);
    transport::abort_job(world_.comm, failed ? 1 : 3);
  }
  // Every rank's last report came before its acknowledgement.
  if (job_dir_) job_dir_->finish(failed ? "failed" : "finished", reason, memory);
  channel_->stop();
  parts_->collectives.release();
  if (spill_) spill_->stop();
  write_timeline();
  close_transports(failed ? 1 : 0);
}

void Runtime::close_transports(int exit_code) {
  TeardownGuard guard(world_.rank, std::chrono::seconds(config_.shutdown_timeout_s), exit_code,
                      [this](int code) {
                        if (!config_.job_dir.empty())
                          write_rank_exit(config_.job_dir, world_.rank, world_.size, code);
                      });
  if (data_plane_) {
    guard.step(fmt::format("closing the {} data plane", data_plane_->name()));
    data_plane_.reset();
  }
  stop_shared_store();  // no segment name outlives a rank that exits cleanly
  // MPI itself stays up: another runtime may follow in this job (api.cpp finalizes it).
  guard.step("freeing the runtime's MPI communicators");
  transport::free_communicators(world_);
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
  s.tasks_submitted = parts_->submitter.submitted();
  s.tasks_executed = parts_->executor.executed();
  s.tasks_forwarded = parts_->submitter.forwarded();
  s.tasks_handed_on = parts_->submitter.handed_on();
  s.channel = channel_->stats();
  if (data_plane_) s.data_plane = data_plane_->stats();
  const auto objects = store_.stats();
  s.objects = objects.objects;
  s.object_bytes = objects.bytes;
  s.worker_threads = parts_->local.thread_count();
  const ResultBatches::Counts results = parts_->results.counts();
  s.results_sent = results.results;
  s.result_batches = results.messages;
  const LeaseHolderStats leases = parts_->submitter.lease_stats();
  s.tasks_leased = leases.sent;
  s.lease_requests = leases.requests;
  s.tasks_refused = parts_->executor.refused();
  return s;
}

const char* Runtime::transport_name() const noexcept {
  return data_plane_ ? data_plane_->name() : "mpi";
}

std::shared_ptr<detail::RefToken> Runtime::acquire_ref(const ObjectId& id) {
  if (!parts_ || !ctx_.this_session(id.seq)) return std::make_shared<detail::RefToken>(id);
  return parts_->ownership.acquire(id);
}

void Runtime::release_ref(const ObjectId& id) {
  // A ref of a runtime an earlier shutdown ended: nothing here knows it.
  if (parts_ && ctx_.this_session(id.seq)) parts_->ownership.release(id);
}

void Runtime::on_tick() {
  if (ctx_.stopping) return;
  // A call blocked on queued actor work gets that work a thread.
  parts_->actors.keep_moving();
  // A pin let go (a get view dropped) frees nothing by itself: look again for room here.
  if (spill_ && store_.spill_needed() > 0) {
    spill_->kick();
    store_.serve_reservations();
  }
  if (world_.size > 1) parts_->submitter.tick_leases();
  if (world_.rank == 0) {
    if (world_.size > 1) parts_->submitter.balance_waiting_work();
    return;
  }
  report_load();
}

void Runtime::report_load() {
  if (!report_policy_) {
    LoadReportSettings s;
    s.ranks = world_.size;
    s.tick = std::chrono::milliseconds(config_.report_interval_ms);
    s.budget = config_.report_budget;
    s.total = parts_->local.total();
    s.cpus = s.total.get("CPU");
    // The submitter's threshold: past it tasks leave this rank, which rank 0 should know.
    s.forward_threshold = config_.forward_threshold > 0
                              ? static_cast<std::uint64_t>(config_.forward_threshold)
                              : static_cast<std::uint64_t>(4 * s.cpus);
    report_policy_.emplace(s);
  }
  LoadSnapshot load;
  load.queued = parts_->local.queued();
  load.available = parts_->local.available();
  // New placements by rank 0 count too: it counts those not yet reported as waiting here.
  load.placed = parts_->executor.placed_by_rank0();
  if (!report_policy_->report(load, ReportClock::now())) return;
  outbox_.send(0, [&](WireWriter& w) {
    w.put(MessageType::load_report).put(load.queued).put(load.placed);
    write_resources(w, load.available);
  });
}

}  // namespace manta::engine
