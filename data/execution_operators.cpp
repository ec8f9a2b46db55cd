// The executor's per-block operators: reads, transforms (in tasks or on an actor pool), limits,
// unions and repartition. Each schedule_* launches what its budget allows and says whether it did.
#include "data/execution_state.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace manta::data::detail {

using Kind = PhysicalOp::Kind;

bool Execution::State::schedule_read(OpRun& r) {
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
    launch(r, std::move(f), [&] { return submit(&run_read_block, opts, std::move(t)); });
    ++r.next_part;
    any = true;
  }
  r.launched_all = true;
  return any;
}

bool Execution::State::schedule_map(OpRun& r) {
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
      launch(r, std::move(f),
             [&] { return pa.handle.task(&StageActor::run).remote(index, block.block); });
    } else {
      MapTask t = map_task(r, index);
      const TaskOptions opts = task_options(r);
      launch(r, std::move(f),
             [&] { return submit(&run_map_block, opts, std::move(t), block.block); });
    }
    any = true;
  }
  if (input_exhausted(in)) r.launched_all = true;
  return any;
}

int Execution::State::pick_actor(OpRun& r) {
  // Each actor takes two blocks at a time, so the next is there when one finishes.
  int best = -1;
  for (std::size_t i = 0; i < r.actors.size(); ++i) {
    if (r.actors[i].running < 2 &&
        (best < 0 || r.actors[i].running < r.actors[static_cast<std::size_t>(best)].running)) {
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

void Execution::State::add_actor(OpRun& r) {
  MapTask t = map_task(r, 0);
  t.stages.front().kernel = r.op.compute.actor_kernel;
  auto builder = manta::actor(&StageActor::create);
  if (!r.op.compute.resources.empty()) builder.resources(r.op.compute.resources);
  r.actors.push_back(PoolActor{builder.remote(std::move(t)), 0});
  r.stats.actors =
      std::max<std::uint32_t>(r.stats.actors, static_cast<std::uint32_t>(r.actors.size()));
}

bool Execution::State::schedule_limit(OpRun& r) {
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
        return submit(&join_slices, opts, r.op.name, r.op.out_type, std::move(pieces),
                      context.target_block_bytes);
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

void Execution::State::stop_upstream(std::uint32_t from) {
  OpRun& up = ops[from];
  if (up.stopped) return;
  up.stopped = true;
  // What it made but nobody will read is dropped; its running tasks finish unread.
  for (const BlockMeta& b : up.out) up.held -= std::min(up.held, b.bytes);
  up.out.clear();
  up.launched_all = true;
  for (std::uint32_t in : up.op.inputs) stop_upstream(in);
}

bool Execution::State::schedule_union(OpRun& r) {
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
bool Execution::State::collect_input(OpRun& r) {
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

bool Execution::State::schedule_repartition(OpRun& r) {
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
      return submit(&join_slices, opts, r.op.name, r.op.out_type, std::move(pieces),
                    ~std::uint64_t{0});
    });
    any = true;
  }
  r.launched_all = true;  // schedule() drops the input once every slice task has read it
  return any;
}

std::uint64_t Execution::State::total_collected_rows(const OpRun& r) {
  std::uint64_t n = 0;
  for (const BlockMeta& b : r.collected) n += b.rows;
  return n;
}

void Execution::State::plan_slices(OpRun& r) {
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

}  // namespace manta::data::detail
