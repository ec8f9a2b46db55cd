// The executor's all-to-all operators (random_shuffle, sort, groupby): sampling for sort, the
// map tasks that push pieces to the merger actors, and finishing the partitions in order.
#include "data/execution_state.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace manta::data::detail {

using Kind = PhysicalOp::Kind;

// ----- all-to-all -----

std::uint64_t Execution::State::estimate_blocks(std::uint32_t index) const {
  const PhysicalOp& op = ops[index].op;
  switch (op.kind) {
    case Kind::blocks:
      return op.blocks.size();
    case Kind::read:
      return op.source.parts.size();
    case Kind::map:
    case Kind::limit:
      return estimate_blocks(op.inputs.at(0));
    case Kind::union_: {
      std::uint64_t n = 0;
      for (std::uint32_t in : op.inputs) n += estimate_blocks(in);
      return n;
    }
    case Kind::repartition:
      return op.count;
    case Kind::shuffle:
      return ops[index].setup.partitions;
  }
  return 1;
}

void Execution::State::start_shuffle(OpRun& r, std::uint32_t partitions) {
  r.setup.op_name = r.op.name;
  r.setup.spec = r.op.shuffle;
  r.setup.in_type = r.op.in_type;
  r.setup.out_type = r.op.out_type;
  r.setup.partitions = std::max<std::uint32_t>(partitions, 1);
  r.setup.target_block_bytes = context.target_block_bytes;
}

void Execution::State::make_mergers(OpRun& r) {
  const int n = std::min<int>(world, static_cast<int>(r.setup.partitions));
  for (int rank = 0; rank < n; ++rank) {
    r.mergers.push_back(manta::actor(&ShuffleMerger::create).on_rank(rank).remote(r.setup));
  }
}

bool Execution::State::launch_shuffle_map(OpRun& r, const BlockMeta& block,
                                          std::vector<Consumed> consumed, std::uint64_t index) {
  Flight f;
  f.purpose = Flight::Purpose::shuffle_map;
  f.seq = index;
  f.consumed = std::move(consumed);
  ShuffleMapTask t{r.setup, index, r.mergers};
  TaskOptions opts;
  opts.name = r.op.name + " (map)";
  launch(r, std::move(f), [&] { return submit(&shuffle_map, opts, std::move(t), block.block); });
  r.maps_running++;
  return true;
}

void Execution::State::launch_samples(OpRun& r) {
  start_shuffle(r, r.op.shuffle.partitions
                       ? r.op.shuffle.partitions
                       : static_cast<std::uint32_t>(std::max<std::size_t>(r.collected.size(), 1)));
  // A few keys per block and partition: boundaries within a few percent of the quantiles.
  const std::uint64_t k = std::max<std::uint64_t>(
      8, 4 * r.setup.partitions / std::max<std::size_t>(r.collected.size(), 1));
  for (std::size_t i = 0; i < r.collected.size(); ++i) {
    Flight f;
    f.purpose = Flight::Purpose::sample;
    f.seq = i;
    TaskOptions opts;
    opts.name = r.op.name + " (sample)";
    f.sample = submit(&sort_sample, opts, r.setup, k, r.collected[i].block);
    begin(r);
    r.flights.push_back(std::move(f));
    r.samples_pending++;
  }
}

bool Execution::State::shuffle_maps(OpRun& r) {
  bool any = false;
  if (r.op.shuffle.kind == ShuffleSpec::Kind::sort) {
    while (r.next_map < r.collected.size() && r.flights.size() < max_tasks) {
      // The map task's argument keeps the block until it has made its pieces; then it goes.
      BlockMeta block = std::move(r.collected[r.next_map]);
      r.collected_bytes -= std::min(r.collected_bytes, block.bytes);
      launch_shuffle_map(r, block, {}, r.next_map);
      ++r.next_map;
      any = true;
    }
    if (r.next_map < r.collected.size() || r.maps_running > 0) return any;
    r.collected.clear();
    r.collected_bytes = r.piece_bytes;
  } else {
    const std::uint32_t in = r.op.inputs.at(0);
    while (!ops[in].out.empty() && r.flights.size() < max_tasks) {
      auto [block, consumed] = *take(in);
      launch_shuffle_map(r, block, {consumed}, r.next_map++);
      any = true;
    }
    if (!input_exhausted(in) || r.maps_running > 0) return any;
  }
  r.phase = OpRun::Phase::finishing;
  return any;
}

bool Execution::State::finish_partitions(OpRun& r) {
  bool any = false;
  while (r.next_partition < r.setup.partitions) {
    const std::uint64_t est = r.piece_bytes / r.setup.partitions;
    if (!may_launch(r, est)) return any;
    const std::uint32_t p = r.next_partition++;
    Flight f;
    f.seq = r.next_seq++;
    f.estimate = est;
    auto& merger = r.mergers[p % r.mergers.size()];
    launch(r, std::move(f), [&] { return merger.task(&ShuffleMerger::finish).remote(p); });
    any = true;
  }
  r.launched_all = true;
  return any;
}

bool Execution::State::schedule_shuffle(OpRun& r) {
  bool any = false;
  if (r.phase == OpRun::Phase::start) {
    if (r.op.shuffle.kind == ShuffleSpec::Kind::sort) {
      // Sorting needs the key ranges first: all input, then a sample of every block.
      any = collect_input(r);
      if (!r.input_complete) return any;
      launch_samples(r);
      r.phase = OpRun::Phase::sampling;
    } else {
      // Random and hash partitions need no look at the data: maps start with the first block.
      // Aggregations send one small row per key and block: a partition per rank is plenty.
      const bool aggregates =
          r.op.shuffle.kind == ShuffleSpec::Kind::hash && r.op.shuffle.piece_type != r.op.in_type;
      const std::uint64_t blocks = estimate_blocks(r.op.inputs.at(0));
      std::uint32_t parts = r.op.shuffle.partitions;
      if (parts == 0) {
        parts = aggregates ? static_cast<std::uint32_t>(world)
                           : static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
                                 blocks, static_cast<std::uint64_t>(world), 1024));
      }
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
  if (r.phase == OpRun::Phase::mapping) any |= shuffle_maps(r);
  if (r.phase == OpRun::Phase::finishing) any |= finish_partitions(r);
  return any;
}

}  // namespace manta::data::detail
