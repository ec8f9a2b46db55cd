// The executor's state (see manta/data/execution.h): one record per running operator, the
// tasks it has in flight, and the driver-side methods that launch, collect and account for them.
// execution.cpp runs the rounds, execution_operators.cpp schedules the per-block operators and
// execution_shuffle.cpp the all-to-all ones.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <manta/actor.h>
#include <manta/data/execution.h>
#include <manta/task.h>

#include "data/block_tasks.h"
#include "data/progress.h"
#include "data/shuffle.h"

namespace manta::data::detail {

using Clock = std::chrono::steady_clock;
using Kind = PhysicalOp::Kind;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// A block another operator's running task reads: its maker's held bytes drop when it ends.
struct Consumed {
  std::uint32_t op = 0;
  std::uint64_t bytes = 0;
};

struct Flight {
  enum class Purpose : std::uint8_t { output, shuffle_map, sample };
  Purpose purpose = Purpose::output;
  ObjectRef<TaskOutput> ref;
  ObjectRef<BlockBytes> sample;
  std::uint64_t seq = 0;
  std::uint64_t estimate = 0;  // bytes it is expected to make
  std::vector<Consumed> consumed;
  int actor = -1;
};

/// Submits a task with the operator's name (errors and the timeline show it) and resources.
template <class F, class... A>
auto submit(F f, const TaskOptions& opts, A&&... args) {
  TaskBuilder<F> b(f);
  if (!opts.name.empty()) b.name(opts.name);
  if (!opts.resources.empty()) b.resources(opts.resources);
  return b.remote(std::forward<A>(args)...);
}

struct PoolActor {
  ActorHandle<StageActor> handle;
  int running = 0;
};

struct OpRun {
  PhysicalOp op;
  bool stopped = false;  // a limit downstream has all it needs: launch nothing more
  bool launched_all = false;
  std::deque<BlockMeta> out;
  std::deque<Flight> flights;
  std::map<std::uint64_t, std::vector<BlockMeta>> arrived;  // finished, waiting for their turn
  std::uint64_t next_seq = 0;
  std::uint64_t next_emit = 0;
  std::uint64_t held = 0;  // made and not consumed, plus running tasks' estimates
  std::uint64_t made_bytes = 0;
  std::uint64_t made_in_bytes = 0;  // input bytes of the tasks that made them (map ratio)
  bool started = false;
  Clock::time_point first_launch;
  OperatorStats stats;
  // read
  std::size_t next_part = 0;
  std::uint64_t known_rows_launched = 0;
  // limit
  std::uint64_t remaining = 0;
  // union
  std::size_t union_input = 0;
  // barriers: the input they collected, and its bytes (held until they are done with it)
  std::vector<BlockMeta> collected;
  std::uint64_t collected_bytes = 0;
  bool input_complete = false;
  // repartition
  std::vector<std::vector<SlicePiece>> slices;
  std::size_t next_slice = 0;
  // shuffle
  enum class Phase : std::uint8_t { start, sampling, mapping, finishing } phase = Phase::start;
  ShuffleSetup setup;
  std::vector<ActorHandle<ShuffleMerger>> mergers;
  std::vector<BlockBytes> samples;
  std::size_t samples_pending = 0;
  std::size_t next_map = 0;  // sort: next collected block to map
  std::uint32_t next_partition = 0;
  std::uint64_t maps_running = 0;
  std::uint64_t piece_bytes = 0;
  // actor pool
  std::vector<PoolActor> actors;
  std::set<int> ranks_seen;

  [[nodiscard]] bool exhausted() const {
    return launched_all && flights.empty() && arrived.empty();
  }
};

struct Execution::State {
  DataContext context;
  std::vector<OpRun> ops;
  std::uint64_t budget = 0;
  std::uint64_t op_budget = 0;
  std::uint32_t max_tasks = 1;
  int world = 1;
  Clock::time_point started = Clock::now();
  Clock::time_point last_sample;
  std::uint64_t returned_bytes = 0;  // the block last handed to the caller
  std::uint64_t spilled0 = 0, restored0 = 0;
  DatasetStats stats;
  bool finished = false;
  Progress progress;

  explicit State(const DataContext& c) : context(c), progress(c.progress) {}

  OpRun& output() { return ops.back(); }

  // ----- budgets -----

  std::uint64_t estimate(const OpRun& r, std::uint64_t input_bytes) const;

  bool may_launch(const OpRun& r, std::uint64_t more) const;

  void note_held(OpRun& r);

  // ----- launching -----

  void begin(OpRun& r);

  template <class Launch>
  void launch(OpRun& r, Flight flight, Launch&& make) {
    begin(r);
    flight.ref = make();
    r.held += flight.estimate;
    r.stats.tasks++;
    r.flights.push_back(std::move(flight));
    note_held(r);
  }

  MapTask map_task(const OpRun& r, std::uint64_t block_index) const;

  TaskOptions task_options(const OpRun& r) const;

  /// Takes the next block the upstream operator has ready, if any.
  std::optional<std::pair<BlockMeta, Consumed>> take(std::uint32_t from);
  bool input_exhausted(std::uint32_t from) const;
  void release(const Consumed& c);

  bool schedule_read(OpRun& r);

  bool schedule_map(OpRun& r);

  int pick_actor(OpRun& r);

  void add_actor(OpRun& r);

  bool schedule_limit(OpRun& r);

  void stop_upstream(std::uint32_t from);

  bool schedule_union(OpRun& r);

  /// Barriers take everything their input makes, as it comes.
  bool collect_input(OpRun& r);

  bool schedule_repartition(OpRun& r);

  static std::uint64_t total_collected_rows(const OpRun& r);

  void plan_slices(OpRun& r);

  // ----- all-to-all -----

  std::uint64_t estimate_blocks(std::uint32_t index) const;

  void start_shuffle(OpRun& r, std::uint32_t partitions);

  void make_mergers(OpRun& r);

  bool launch_shuffle_map(OpRun& r, const BlockMeta& block, std::vector<Consumed> consumed,
                          std::uint64_t index);

  void launch_samples(OpRun& r);
  bool shuffle_maps(OpRun& r);
  bool finish_partitions(OpRun& r);
  bool schedule_shuffle(OpRun& r);

  bool schedule(OpRun& r);

  // ----- completions -----

  void completed(OpRun& r, Flight& f);

  /// Waits up to `timeout` for running tasks; handles those that finished. True if any did.
  bool collect(std::chrono::milliseconds timeout);

  void sample_store(bool force);

  void finish_stats();

  void shut_down_actors();
};

}  // namespace manta::data::detail
