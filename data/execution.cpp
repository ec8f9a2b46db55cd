// The streaming executor (see manta/data/execution.h).
//
// Every operator of the plan runs at once. Each round the driver launches what budgets allow,
// the operators nearest the output first (they free memory), then waits a little for tasks to
// finish. An operator's "held bytes" are the blocks it made that are not consumed yet (waiting
// for its consumer, or being read by the consumer's running tasks) plus what its running tasks
// are about to make; it launches only while they fit its share of the store budget (and always
// at least one task when it holds nothing, so that the pipeline moves). All-to-all operators
// and repartition are barriers: they take all their input first, which goes to spill files
// when it does not fit the stores.
#include <manta/data/execution.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <manta/data/errors.h>
#include <manta/data/kernels.h>
#include <manta/manta.h>

#include "data/block_tasks.h"
#include "data/progress.h"
#include "data/shuffle.h"

namespace manta::data::detail {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = PhysicalOp::Kind;

double seconds_since(Clock::time_point t) {
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
  std::uint32_t index = 0;
  bool barrier = false;  // takes all its input before it makes anything
  bool stopped = false;  // a limit downstream has all it needs: launch nothing more
  bool launched_all = false;
  std::deque<BlockMeta> out;
  std::deque<Flight> flights;
  std::map<std::uint64_t, std::vector<BlockMeta>> arrived;  // finished, waiting for their turn
  std::uint64_t next_seq = 0;
  std::uint64_t next_emit = 0;
  std::uint64_t held = 0;     // made and not consumed, plus running tasks' estimates
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

}  // namespace

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

  std::uint64_t estimate(const OpRun& r, std::uint64_t input_bytes) const {
    if (r.made_in_bytes > 0 && input_bytes > 0) {
      return static_cast<std::uint64_t>(static_cast<double>(r.made_bytes) /
                                        static_cast<double>(r.made_in_bytes) *
                                        static_cast<double>(input_bytes));
    }
    if (input_bytes > 0) return input_bytes;
    if (r.stats.tasks > 0) return r.made_bytes / r.stats.tasks;
    return context.target_block_bytes;
  }

  bool may_launch(const OpRun& r, std::uint64_t more) const {
    if (r.stopped) return false;
    if (r.flights.size() >= max_tasks) return false;
    if (r.held == 0) return true;
    return r.held + more <= op_budget;
  }

  void note_held(OpRun& r) {
    r.stats.peak_bytes = std::max(r.stats.peak_bytes, r.held);
    std::uint64_t total = returned_bytes;
    for (const OpRun& o : ops) total += o.held + o.collected_bytes;
    stats.peak_pipeline_bytes = std::max(stats.peak_pipeline_bytes, total);
  }

  // ----- launching -----

  void begin(OpRun& r) {
    if (!r.started) {
      r.started = true;
      r.first_launch = Clock::now();
    }
  }

  template <class Launch>
  void launch(OpRun& r, Flight flight, Launch&& make) {
    begin(r);
    flight.ref = make();
    r.held += flight.estimate;
    r.stats.tasks++;
    r.flights.push_back(std::move(flight));
    note_held(r);
  }

  MapTask map_task(const OpRun& r, std::uint64_t block_index) const {
    MapTask t;
    t.op_name = r.op.name;
    t.stages = r.op.stages;
    t.in_type = r.op.in_type;
    t.out_type = r.op.out_type;
    t.target_block_bytes = context.target_block_bytes;
    t.block_index = block_index;
    return t;
  }

  TaskOptions task_options(const OpRun& r) const {
    TaskOptions o;
    o.name = r.op.name;
    if (!r.op.compute.resources.empty()) o.resources = r.op.compute.resources;
    return o;
  }

  /// Takes the next block the upstream operator has ready, if any.
  std::optional<std::pair<BlockMeta, Consumed>> take(std::uint32_t from) {
    OpRun& up = ops[from];
    if (up.out.empty()) return std::nullopt;
    BlockMeta b = std::move(up.out.front());
    up.out.pop_front();
    return std::make_pair(std::move(b), Consumed{from, b.bytes});
  }
  bool input_exhausted(std::uint32_t from) const {
    return ops[from].out.empty() && ops[from].exhausted();
  }
  void release(const Consumed& c) {
    OpRun& up = ops[c.op];
    up.held -= std::min(up.held, c.bytes);
  }

  bool schedule_read(OpRun& r) {
    bool any = false;
    const auto& parts = r.op.source.parts;
    while (r.next_part < parts.size()) {
      if (r.op.read_limit != 0 && r.known_rows_launched >= r.op.read_limit) break;
      const ReadPart& part = parts[r.next_part];
      const std::uint64_t est = part.bytes ? part.bytes : estimate(r, 0);
      if (!may_launch(r, est)) return any;
      MapTask t = map_task(r, r.next_part);
      t.source_kernel = r.op.source.kernel;
      t.source_args = part.args;
      t.limit = r.op.read_limit;
      if (part.rows >= 0) r.known_rows_launched += static_cast<std::uint64_t>(part.rows);
      Flight f;
      f.seq = r.next_seq++;
      f.estimate = est;
      const TaskOptions opts = task_options(r);
      launch(r, std::move(f), [&] {
        return submit(&run_read_block, opts, std::move(t));
      });
      ++r.next_part;
      any = true;
    }
    r.launched_all = true;
    return any;
  }

  bool schedule_map(OpRun& r) {
    bool any = false;
    const std::uint32_t in = r.op.inputs.at(0);
    while (true) {
      if (ops[in].out.empty()) break;
      const std::uint64_t est = estimate(r, ops[in].out.front().bytes);
      if (!may_launch(r, est)) return any;
      int actor = -1;
      if (r.op.compute.actors()) {
        actor = pick_actor(r);
        if (actor < 0) return any;
      }
      auto [block, consumed] = *take(in);
      Flight f;
      f.seq = r.next_seq++;
      f.estimate = est;
      f.consumed.push_back(consumed);
      f.actor = actor;
      const std::uint64_t index = f.seq;
      if (actor >= 0) {
        auto& pa = r.actors[static_cast<std::size_t>(actor)];
        pa.running++;
        launch(r, std::move(f), [&] {
          return pa.handle.task(&StageActor::run).remote(index, block.block);
        });
      } else {
        MapTask t = map_task(r, index);
        const TaskOptions opts = task_options(r);
        launch(r, std::move(f), [&] {
          return submit(&run_map_block, opts, std::move(t), block.block);
        });
      }
      any = true;
    }
    if (input_exhausted(in)) r.launched_all = true;
    return any;
  }

  int pick_actor(OpRun& r) {
    // Each actor takes two blocks at a time, so the next is there when one finishes.
    int best = -1;
    for (std::size_t i = 0; i < r.actors.size(); ++i) {
      if (r.actors[i].running < 2 && (best < 0 || r.actors[i].running <
                                                      r.actors[static_cast<std::size_t>(best)].running)) {
        best = static_cast<int>(i);
      }
    }
    if (best >= 0 && r.actors[static_cast<std::size_t>(best)].running == 0) return best;
    if (r.actors.size() < r.op.compute.max_actors) {
      add_actor(r);
      return static_cast<int>(r.actors.size() - 1);
    }
    return best;
  }

  void add_actor(OpRun& r) {
    MapTask t = map_task(r, 0);
    t.stages.front().kernel = r.op.compute.actor_kernel;
    auto builder = manta::actor(&StageActor::create);
    if (!r.op.compute.resources.empty()) builder.resources(r.op.compute.resources);
    r.actors.push_back(PoolActor{builder.remote(std::move(t)), 0});
    r.stats.actors = std::max<std::uint32_t>(r.stats.actors,
                                              static_cast<std::uint32_t>(r.actors.size()));
  }

  bool schedule_limit(OpRun& r) {
    bool any = false;
    const std::uint32_t in = r.op.inputs.at(0);
    while (r.remaining > 0 && !ops[in].out.empty()) {
      auto [block, consumed] = *take(in);
      if (block.rows <= r.remaining) {
        // A whole block passes: its bytes move from the upstream's account to this one's.
        release(consumed);
        r.remaining -= block.rows;
        r.held += block.bytes;
        begin(r);
        r.stats.blocks++;
        r.stats.rows += block.rows;
        r.stats.bytes += block.bytes;
        r.out.push_back(std::move(block));
        note_held(r);
      } else {
        Flight f;
        f.seq = r.next_seq++;
        f.estimate = block.bytes * r.remaining / std::max<std::uint64_t>(block.rows, 1);
        f.consumed.push_back(consumed);
        std::vector<SlicePiece> pieces{SlicePiece{block.block, 0, r.remaining}};
        r.remaining = 0;
        const TaskOptions opts = task_options(r);
        launch(r, std::move(f), [&] {
          return submit(&join_slices, opts, r.op.name, r.op.out_type,
                                              std::move(pieces), context.target_block_bytes);
        });
      }
      any = true;
    }
    if (r.remaining == 0 || input_exhausted(in)) {
      if (r.remaining == 0) stop_upstream(in);
      r.launched_all = true;
    }
    return any;
  }

  void stop_upstream(std::uint32_t from) {
    OpRun& up = ops[from];
    if (up.stopped) return;
    up.stopped = true;
    // What it made but nobody will read is dropped; its running tasks finish unread.
    for (const BlockMeta& b : up.out) up.held -= std::min(up.held, b.bytes);
    up.out.clear();
    up.launched_all = true;
    for (std::uint32_t in : up.op.inputs) stop_upstream(in);
  }

  bool schedule_union(OpRun& r) {
    bool any = false;
    while (r.union_input < r.op.inputs.size()) {
      const std::uint32_t in = r.op.inputs[r.union_input];
      while (!ops[in].out.empty()) {
        auto [block, consumed] = *take(in);
        release(consumed);
        begin(r);
        r.held += block.bytes;
        r.stats.blocks++;
        r.stats.rows += block.rows;
        r.stats.bytes += block.bytes;
        r.out.push_back(std::move(block));
        note_held(r);
        any = true;
      }
      if (!input_exhausted(in)) return any;
      ++r.union_input;
    }
    r.launched_all = true;
    return any;
  }

  /// Barriers take everything their input makes, as it comes.
  bool collect_input(OpRun& r) {
    bool any = false;
    const std::uint32_t in = r.op.inputs.at(0);
    while (!ops[in].out.empty()) {
      auto [block, consumed] = *take(in);
      release(consumed);
      begin(r);
      r.collected_bytes += block.bytes;
      r.collected.push_back(std::move(block));
      any = true;
    }
    if (input_exhausted(in)) r.input_complete = true;
    note_held(r);
    return any;
  }

  bool schedule_repartition(OpRun& r) {
    bool any = collect_input(r);
    if (!r.input_complete) return any;
    if (r.slices.empty() && r.next_slice == 0) plan_slices(r);
    while (r.next_slice < r.slices.size()) {
      std::uint64_t rows = 0;
      for (const SlicePiece& p : r.slices[r.next_slice]) rows += p.count;
      const std::uint64_t total_rows = std::max<std::uint64_t>(1, total_collected_rows(r));
      const std::uint64_t est = r.collected_bytes * rows / total_rows;
      if (!may_launch(r, est)) return any;
      Flight f;
      f.seq = r.next_seq++;
      f.estimate = est;
      std::vector<SlicePiece> pieces = std::move(r.slices[r.next_slice]);
      ++r.next_slice;
      const TaskOptions opts = task_options(r);
      launch(r, std::move(f), [&] {
        return submit(&join_slices, opts, r.op.name, r.op.out_type,
                                            std::move(pieces), ~std::uint64_t{0});
      });
      any = true;
    }
    // The input goes once every slice task has read it.
    if (r.flights.empty()) {
      r.collected.clear();
      r.collected_bytes = 0;
    }
    r.launched_all = true;
    return any;
  }

  static std::uint64_t total_collected_rows(const OpRun& r) {
    std::uint64_t n = 0;
    for (const BlockMeta& b : r.collected) n += b.rows;
    return n;
  }

  void plan_slices(OpRun& r) {
    const std::uint64_t total = total_collected_rows(r);
    const std::uint64_t n = std::max<std::uint64_t>(r.op.count, 1);
    r.slices.assign(n, {});
    std::size_t block = 0;
    std::uint64_t offset = 0;  // rows of `block` already given out
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t want = total * (i + 1) / n - total * i / n;
      while (want > 0 && block < r.collected.size()) {
        const BlockMeta& b = r.collected[block];
        const std::uint64_t take_rows = std::min(want, b.rows - offset);
        if (take_rows > 0) r.slices[i].push_back(SlicePiece{b.block, offset, take_rows});
        want -= take_rows;
        offset += take_rows;
        if (offset == b.rows) {
          ++block;
          offset = 0;
        }
      }
    }
  }

  // ----- all-to-all -----

  std::uint64_t estimate_blocks(std::uint32_t index) const {
    const PhysicalOp& op = ops[index].op;
    switch (op.kind) {
      case Kind::blocks: return op.blocks.size();
      case Kind::read: return op.source.parts.size();
      case Kind::map:
      case Kind::limit: return estimate_blocks(op.inputs.at(0));
      case Kind::union_: {
        std::uint64_t n = 0;
        for (std::uint32_t in : op.inputs) n += estimate_blocks(in);
        return n;
      }
      case Kind::repartition: return op.count;
      case Kind::shuffle: return ops[index].setup.partitions;
    }
    return 1;
  }

  void start_shuffle(OpRun& r, std::uint32_t partitions) {
    r.setup.op_name = r.op.name;
    r.setup.spec = r.op.shuffle;
    r.setup.in_type = r.op.in_type;
    r.setup.out_type = r.op.out_type;
    r.setup.partitions = std::max<std::uint32_t>(partitions, 1);
    r.setup.target_block_bytes = context.target_block_bytes;
  }

  void make_mergers(OpRun& r) {
    const int n = std::min<int>(world, static_cast<int>(r.setup.partitions));
    for (int rank = 0; rank < n; ++rank) {
      r.mergers.push_back(
          manta::actor(&ShuffleMerger::create).on_rank(rank).remote(r.setup));
    }
  }

  bool launch_shuffle_map(OpRun& r, const BlockMeta& block, std::vector<Consumed> consumed,
                          std::uint64_t index) {
    Flight f;
    f.purpose = Flight::Purpose::shuffle_map;
    f.seq = index;
    f.consumed = std::move(consumed);
    ShuffleMapTask t{r.setup, index, r.mergers};
    TaskOptions opts;
    opts.name = r.op.name + " (map)";
    launch(r, std::move(f), [&] {
      return submit(&shuffle_map, opts, std::move(t), block.block);
    });
    r.maps_running++;
    return true;
  }

  bool schedule_shuffle(OpRun& r) {
    bool any = false;
    const std::uint32_t in = r.op.inputs.at(0);
    const bool sort = r.op.shuffle.kind == ShuffleSpec::Kind::sort;
    if (r.phase == OpRun::Phase::start) {
      if (sort) {
        // Sorting needs the key ranges first: all input, then a sample of every block.
        any = collect_input(r);
        if (!r.input_complete) return any;
        start_shuffle(r, r.op.shuffle.partitions
                             ? r.op.shuffle.partitions
                             : static_cast<std::uint32_t>(std::max<std::size_t>(
                                   r.collected.size(), 1)));
        for (std::size_t i = 0; i < r.collected.size(); ++i) {
          Flight f;
          f.purpose = Flight::Purpose::sample;
          f.seq = i;
          TaskOptions opts;
          opts.name = r.op.name + " (sample)";
          const std::uint64_t k = std::max<std::uint64_t>(8, 4 * r.setup.partitions /
                                                                  std::max<std::size_t>(
                                                                      r.collected.size(), 1));
          f.sample = submit(&sort_sample, opts, r.setup, k, r.collected[i].block);
          begin(r);
          r.flights.push_back(std::move(f));
          r.samples_pending++;
        }
        r.phase = OpRun::Phase::sampling;
      } else {
        const std::uint64_t blocks = estimate_blocks(in);
        const std::uint32_t parts =
            r.op.shuffle.partitions
                ? r.op.shuffle.partitions
                : static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
                      blocks, static_cast<std::uint64_t>(world), 1024));
        start_shuffle(r, parts);
        make_mergers(r);
        r.phase = OpRun::Phase::mapping;
      }
      any = true;
    }
    if (r.phase == OpRun::Phase::sampling) {
      if (r.samples_pending > 0) return any;
      r.setup.boundaries = sort_boundaries(r.setup, r.samples);
      r.samples.clear();
      make_mergers(r);
      r.phase = OpRun::Phase::mapping;
    }
    if (r.phase == OpRun::Phase::mapping) {
      if (sort) {
        while (r.next_map < r.collected.size() && r.flights.size() < max_tasks) {
          launch_shuffle_map(r, r.collected[r.next_map], {}, r.next_map);
          ++r.next_map;
          any = true;
        }
        if (r.next_map < r.collected.size() || r.maps_running > 0) return any;
        r.collected.clear();
        r.collected_bytes = r.piece_bytes;
      } else {
        while (!ops[in].out.empty() && r.flights.size() < max_tasks) {
          auto [block, consumed] = *take(in);
          launch_shuffle_map(r, block, {consumed}, r.next_map++);
          any = true;
        }
        if (!input_exhausted(in) || r.maps_running > 0) return any;
      }
      r.phase = OpRun::Phase::finishing;
    }
    if (r.phase == OpRun::Phase::finishing) {
      while (r.next_partition < r.setup.partitions) {
        const std::uint64_t est = r.piece_bytes / r.setup.partitions;
        if (!may_launch(r, est)) return any;
        const std::uint32_t p = r.next_partition++;
        Flight f;
        f.seq = r.next_seq++;
        f.estimate = est;
        auto& merger = r.mergers[p % r.mergers.size()];
        launch(r, std::move(f),
               [&] { return merger.task(&ShuffleMerger::finish).remote(p); });
        any = true;
      }
      r.launched_all = true;
    }
    return any;
  }

  bool schedule(OpRun& r) {
    if (r.launched_all || r.stopped) {
      if (r.op.kind == Kind::repartition && r.flights.empty() && !r.collected.empty()) {
        r.collected.clear();
        r.collected_bytes = 0;
      }
      return false;
    }
    switch (r.op.kind) {
      case Kind::blocks: return false;
      case Kind::read: return schedule_read(r);
      case Kind::map: return schedule_map(r);
      case Kind::limit: return schedule_limit(r);
      case Kind::union_: return schedule_union(r);
      case Kind::repartition: return schedule_repartition(r);
      case Kind::shuffle: return schedule_shuffle(r);
    }
    return false;
  }

  // ----- completions -----

  void completed(OpRun& r, Flight& f) {
    for (const Consumed& c : f.consumed) release(c);
    r.held -= std::min(r.held, f.estimate);
    if (f.actor >= 0) r.actors[static_cast<std::size_t>(f.actor)].running--;
    if (f.purpose == Flight::Purpose::sample) {
      r.samples.push_back(*manta::get(f.sample));
      r.samples_pending--;
      return;
    }
    auto out = manta::get(f.ref);  // throws the task's error
    if (out->rank >= 0 && r.ranks_seen.insert(out->rank).second) {
      r.stats.ranks = static_cast<std::uint32_t>(r.ranks_seen.size());
    }
    r.stats.task_wall_s += out->wall_s;
    r.stats.cpu_s += out->cpu_s;
    if (f.purpose == Flight::Purpose::shuffle_map) {
      // The pieces now wait in the mergers: this operator holds them until it finishes.
      r.maps_running--;
      for (const BlockMeta& b : out->blocks) r.piece_bytes += b.bytes;
      r.collected_bytes += out->blocks.empty() ? 0 : out->blocks.front().bytes;
      note_held(r);
      return;
    }
    if (r.op.kind == Kind::shuffle && r.setup.partitions > 0) {
      r.collected_bytes -= std::min(r.collected_bytes, r.piece_bytes / r.setup.partitions);
    }
    std::uint64_t in_bytes = 0;
    for (const Consumed& c : f.consumed) in_bytes += c.bytes;
    for (const BlockMeta& b : out->blocks) {
      r.made_bytes += b.bytes;
      r.held += b.bytes;
    }
    r.made_in_bytes += in_bytes;
    r.arrived[f.seq] = out->blocks;
    note_held(r);
    // Blocks leave in order (preserve_order) or as they come.
    while (!r.arrived.empty() &&
           (!context.preserve_order || r.arrived.begin()->first == r.next_emit)) {
      for (BlockMeta& b : r.arrived.begin()->second) {
        r.stats.blocks++;
        r.stats.rows += b.rows;
        r.stats.bytes += b.bytes;
        if (r.stopped) {
          r.held -= std::min(r.held, b.bytes);
        } else {
          r.out.push_back(std::move(b));
        }
      }
      r.arrived.erase(r.arrived.begin());
      ++r.next_emit;
    }
    r.stats.wall_s = seconds_since(r.first_launch);
  }

  /// Waits up to `timeout` for running tasks; handles those that finished. True if any did.
  bool collect(std::chrono::milliseconds timeout) {
    std::vector<ObjectId> ids;
    for (const OpRun& r : ops) {
      for (const Flight& f : r.flights) {
        ids.push_back(f.purpose == Flight::Purpose::sample ? f.sample.id() : f.ref.id());
      }
    }
    if (ids.empty()) return false;
    const std::vector<bool> ready =
        manta::detail::wait_objects(ids, 1, std::chrono::nanoseconds(timeout));
    std::vector<std::pair<OpRun*, Flight>> done;
    std::size_t k = 0;
    for (OpRun& r : ops) {
      std::deque<Flight> running;
      for (Flight& f : r.flights) {
        if (ready[k++]) {
          done.emplace_back(&r, std::move(f));
        } else {
          running.push_back(std::move(f));
        }
      }
      r.flights = std::move(running);
    }
    for (auto& [r, f] : done) completed(*r, f);
    return !done.empty();
  }

  void sample_store(bool force) {
    if (!force && seconds_since(last_sample) < 0.25) return;
    last_sample = Clock::now();
    const RankMemory total = manta::memory_summary(0).total();
    stats.peak_store_bytes = std::max(stats.peak_store_bytes, total.bytes);
    stats.spilled_bytes = total.bytes_spilled - spilled0;
    stats.restored_bytes = total.bytes_restored - restored0;
  }

  void finish_stats() {
    stats.wall_s = seconds_since(started);
    stats.operators.clear();
    for (OpRun& r : ops) {
      if (r.op.kind == Kind::blocks) continue;
      r.stats.name = r.op.name;
      stats.operators.push_back(r.stats);
    }
    stats.budget_bytes = budget;
    stats.ran = true;
  }

  void shut_down_actors() {
    for (OpRun& r : ops) {
      for (auto& a : r.actors) a.handle.kill();
      r.actors.clear();
      for (auto& m : r.mergers) m.kill();
      r.mergers.clear();
    }
  }
};

Execution::Execution(PhysicalPlan plan, const DataContext& context)
    : state_(std::make_unique<State>(context)) {
  State& s = *state_;
  if (plan.ops.empty()) throw DataError("an empty plan");
  s.world = manta::world_size();
  const RankMemory total = manta::memory_summary(0).total();
  s.spilled0 = total.bytes_spilled;
  s.restored0 = total.bytes_restored;
  s.stats.peak_store_bytes = total.bytes;
  s.last_sample = Clock::now();
  s.budget = context.store_budget_bytes;
  if (s.budget == 0) {
    s.budget = total.capacity_bytes ? total.capacity_bytes / 2
                                    : std::uint64_t{1} << 30;
  }
  const auto cpus = static_cast<std::uint32_t>(
      std::max<std::uint64_t>(1, manta::local_stats().worker_threads) *
      static_cast<std::uint64_t>(s.world));
  s.max_tasks = context.max_tasks_per_operator ? context.max_tasks_per_operator
                                                : std::max<std::uint32_t>(2, cpus);
  std::uint32_t producers = 0;
  for (std::uint32_t i = 0; i < plan.ops.size(); ++i) {
    OpRun r;
    r.op = std::move(plan.ops[i]);
    r.index = i;
    r.barrier = r.op.kind == Kind::shuffle || r.op.kind == Kind::repartition;
    r.remaining = r.op.count;
    if (r.op.kind == Kind::blocks) {
      r.out.assign(r.op.blocks.begin(), r.op.blocks.end());
      r.launched_all = true;
    } else if (r.op.kind != Kind::union_) {
      ++producers;
    }
    r.stats.name = r.op.name;
    s.ops.push_back(std::move(r));
  }
  s.op_budget = std::max<std::uint64_t>(1, s.budget / std::max<std::uint32_t>(1, producers));
  std::vector<std::string> names;
  for (const OpRun& r : s.ops) {
    if (r.op.kind != Kind::blocks) names.push_back(r.op.name);
  }
  s.progress.start(names);
}

Execution::~Execution() {
  try {
    state_->shut_down_actors();
    state_->progress.stop();
  } catch (...) {
    // Tearing down after an error or at shutdown: nothing more to report.
  }
}

std::optional<BlockMeta> Execution::next() {
  State& s = *state_;
  s.returned_bytes = 0;
  try {
    while (true) {
      OpRun& out = s.output();
      if (!out.out.empty()) {
        BlockMeta b = std::move(out.out.front());
        out.out.pop_front();
        out.held -= std::min(out.held, b.bytes);
        s.returned_bytes = b.bytes;
        s.stats.output_rows += b.rows;
        return b;
      }
      if (out.exhausted()) {
        if (!s.finished) {
          s.finished = true;
          s.sample_store(true);
          s.finish_stats();
          s.shut_down_actors();
          s.progress.stop();
        }
        return std::nullopt;
      }
      bool launched = false;
      std::size_t settled_before = 0;
      for (const OpRun& r : s.ops) settled_before += r.launched_all + r.out.size();
      for (std::size_t i = s.ops.size(); i-- > 0;) launched |= s.schedule(s.ops[i]);
      std::size_t settled_after = 0;
      for (const OpRun& r : s.ops) settled_after += r.launched_all + r.out.size();
      launched |= settled_after != settled_before;
      const bool done = s.collect(launched ? std::chrono::milliseconds(0)
                                           : std::chrono::milliseconds(20));
      s.sample_store(false);
      std::vector<ProgressLine> lines;
      for (const OpRun& r : s.ops) {
        if (r.op.kind == Kind::blocks) continue;
        lines.push_back({r.stats.blocks, r.stats.rows, r.flights.size(), r.held});
      }
      s.progress.update(lines);
      if (!launched && !done) {
        bool running = false;
        for (const OpRun& r : s.ops) running |= !r.flights.empty();
        if (!running) {
          std::string plan;
          for (const OpRun& r : s.ops) {
            plan += "  " + r.op.name + ": " + std::to_string(r.out.size()) + " blocks ready, " +
                    std::to_string(r.held) + " bytes held\n";
          }
          throw DataError("the dataset's execution stalled with nothing running (a bug in the "
                          "executor):\n" + plan);
        }
      }
    }
  } catch (...) {
    s.finish_stats();
    s.shut_down_actors();
    s.progress.stop();
    throw;
  }
}

DatasetStats Execution::stats() const {
  State& s = *state_;
  if (!s.finished) s.finish_stats();
  return s.stats;
}

}  // namespace manta::data::detail
