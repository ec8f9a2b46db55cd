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
#include <string>
#include <utility>
#include <vector>

#include <manta/data/errors.h>
#include <manta/manta.h>

#include "data/execution_state.h"

namespace manta::data::detail {

// ----- budgets -----

std::uint64_t Execution::State::estimate(const OpRun& r, std::uint64_t input_bytes) const {
  if (r.made_in_bytes > 0 && input_bytes > 0) {
    return static_cast<std::uint64_t>(static_cast<double>(r.made_bytes) /
                                      static_cast<double>(r.made_in_bytes) *
                                      static_cast<double>(input_bytes));
  }
  if (input_bytes > 0) return input_bytes;
  if (r.stats.tasks > 0) return r.made_bytes / r.stats.tasks;
  return context.target_block_bytes;
}

bool Execution::State::may_launch(const OpRun& r, std::uint64_t more) const {
  if (r.stopped) return false;
  if (r.flights.size() >= max_tasks) return false;
  if (r.held == 0) return true;
  return r.held + more <= op_budget;
}

void Execution::State::note_held(OpRun& r) {
  r.stats.peak_bytes = std::max(r.stats.peak_bytes, r.held);
  std::uint64_t total = returned_bytes;
  for (const OpRun& o : ops) total += o.held + o.collected_bytes;
  stats.peak_pipeline_bytes = std::max(stats.peak_pipeline_bytes, total);
}

// ----- launching -----

void Execution::State::begin(OpRun& r) {
  if (!r.started) {
    r.started = true;
    r.first_launch = Clock::now();
  }
}

MapTask Execution::State::map_task(const OpRun& r, std::uint64_t block_index) const {
  MapTask t;
  t.op_name = r.op.name;
  t.stages = r.op.stages;
  t.in_type = r.op.in_type;
  t.out_type = r.op.out_type;
  t.target_block_bytes = context.target_block_bytes;
  t.block_index = block_index;
  return t;
}

TaskOptions Execution::State::task_options(const OpRun& r) const {
  TaskOptions o;
  o.name = r.op.name;
  if (!r.op.compute.resources.empty()) o.resources = r.op.compute.resources;
  return o;
}

/// Takes the next block the upstream operator has ready, if any.
std::optional<std::pair<BlockMeta, Consumed>> Execution::State::take(std::uint32_t from) {
  OpRun& up = ops[from];
  if (up.out.empty()) return std::nullopt;
  BlockMeta b = std::move(up.out.front());
  up.out.pop_front();
  return std::make_pair(std::move(b), Consumed{from, b.bytes});
}

bool Execution::State::input_exhausted(std::uint32_t from) const {
  return ops[from].out.empty() && ops[from].exhausted();
}

void Execution::State::release(const Consumed& c) {
  OpRun& up = ops[c.op];
  up.held -= std::min(up.held, c.bytes);
}

bool Execution::State::schedule(OpRun& r) {
  if (r.launched_all || r.stopped) {
    if (r.op.kind == Kind::repartition && r.flights.empty() && !r.collected.empty()) {
      r.collected.clear();
      r.collected_bytes = 0;
    }
    return false;
  }
  switch (r.op.kind) {
    case Kind::blocks:
      return false;
    case Kind::read:
      return schedule_read(r);
    case Kind::map:
      return schedule_map(r);
    case Kind::limit:
      return schedule_limit(r);
    case Kind::union_:
      return schedule_union(r);
    case Kind::repartition:
      return schedule_repartition(r);
    case Kind::shuffle:
      return schedule_shuffle(r);
  }
  return false;
}

// ----- completions -----

void Execution::State::completed(OpRun& r, Flight& f) {
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
bool Execution::State::collect(std::chrono::milliseconds timeout) {
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

void Execution::State::sample_store(bool force) {
  if (!force && seconds_since(last_sample) < 0.25) return;
  last_sample = Clock::now();
  const RankMemory total = manta::memory_summary(0).total();
  stats.peak_store_bytes = std::max(stats.peak_store_bytes, total.bytes);
  stats.spilled_bytes = total.bytes_spilled - spilled0;
  stats.restored_bytes = total.bytes_restored - restored0;
}

void Execution::State::finish_stats() {
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

void Execution::State::shut_down_actors() {
  for (OpRun& r : ops) {
    for (auto& a : r.actors) a.handle.kill();
    r.actors.clear();
    for (auto& m : r.mergers) m.kill();
    r.mergers.clear();
  }
}

Execution::Execution(PhysicalPlan plan, const DataContext& context)
    : state_(std::make_unique<State>(context)) {
  State& s = *state_;
  if (plan.ops.empty()) throw DataError("an empty plan");
  if (context.target_block_bytes == 0) {
    throw DataError(
        "DataContext::target_block_bytes is 0: set it to the bytes a block should "
        "hold (the default is 16 MiB)");
  }
  s.context.target_block_bytes = context.block_bytes();
  s.world = manta::world_size();
  const RankMemory total = manta::memory_summary(0).total();
  s.spilled0 = total.bytes_spilled;
  s.restored0 = total.bytes_restored;
  s.stats.peak_store_bytes = total.bytes;
  s.last_sample = Clock::now();
  s.budget = context.store_budget_bytes;
  if (s.budget == 0) {
    s.budget = total.capacity_bytes ? total.capacity_bytes / 2 : std::uint64_t{1} << 30;
  }
  const auto cpus =
      static_cast<std::uint32_t>(std::max<std::uint64_t>(1, manta::local_stats().worker_threads) *
                                 static_cast<std::uint64_t>(s.world));
  s.max_tasks = context.max_tasks_per_operator ? context.max_tasks_per_operator
                                               : std::max<std::uint32_t>(2, cpus);
  std::uint32_t producers = 0;
  for (std::uint32_t i = 0; i < plan.ops.size(); ++i) {
    OpRun r;
    r.op = std::move(plan.ops[i]);
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
      const bool done =
          s.collect(launched ? std::chrono::milliseconds(0) : std::chrono::milliseconds(20));
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
          throw DataError(
              "the dataset's execution stalled with nothing running (a bug in the "
              "executor):\n" +
              plan);
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
