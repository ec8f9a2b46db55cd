// All-to-all operations: the map tasks, the merger actors and sort's sampling (see shuffle.h).
#include "data/shuffle.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <typeinfo>
#include <utility>

#include <manta/data/errors.h>
#include <manta/data/shuffle_kernels.h>
#include <manta/manta.h>

#include "data/block_tasks.h"

namespace manta::data::detail {
namespace {

struct ShuffleTable {
  std::mutex mutex;
  std::map<std::string, ShuffleKernels (*)()> makers;
  std::map<std::string, ShuffleKernels> made;
};

ShuffleTable& shuffle_table() {
  static ShuffleTable t;
  return t;
}

ShuffleCall call_of(const ShuffleSetup& s, std::uint64_t index) {
  return ShuffleCall{s.spec.function, s.spec.seed,  s.partitions,
                     index,           s.boundaries, s.spec.descending};
}

[[noreturn]] void fail(const ShuffleSetup& s, const std::string& where, const std::exception& e) {
  throw OperatorError(s.op_name + " failed " + where + ": " +
                      manta::detail::demangle(typeid(e).name()) + ": " + e.what());
}

}  // namespace

bool add_shuffle_kernels(const std::string& name, ShuffleKernels (*make)()) {
  ShuffleTable& t = shuffle_table();
  std::lock_guard lock(t.mutex);
  t.makers.emplace(name, make);
  return true;
}

const ShuffleKernels& find_shuffle_kernels(const std::string& name) {
  ShuffleTable& t = shuffle_table();
  std::lock_guard lock(t.mutex);
  if (auto it = t.made.find(name); it != t.made.end()) return it->second;
  auto maker = t.makers.find(name);
  if (maker == t.makers.end()) {
    throw DataError("no all-to-all kernel '" + name +
                    "' in this program: every rank must run the same binary");
  }
  return t.made.emplace(name, maker->second()).first->second;
}

std::vector<std::byte> pack_functions(const std::vector<std::vector<std::byte>>& parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) {
    const std::uint64_t n = p.size();
    const auto* b = reinterpret_cast<const std::byte*>(&n);
    out.insert(out.end(), b, b + sizeof n);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

std::vector<std::vector<std::byte>> unpack_functions(const std::vector<std::byte>& bytes) {
  std::vector<std::vector<std::byte>> parts;
  std::size_t at = 0;
  while (at + sizeof(std::uint64_t) <= bytes.size()) {
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data() + at, sizeof n);
    at += sizeof n;
    if (n > bytes.size() - at) throw DataError("damaged function bytes in a dataset plan");
    parts.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                       bytes.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return parts;
}

ShuffleMerger* ShuffleMerger::create(ShuffleSetup setup) {
  auto* m = new ShuffleMerger();
  m->setup_ = std::move(setup);
  return m;
}

int ShuffleMerger::add(std::vector<PieceRef> pieces) {
  const bool combines = find_shuffle_kernels(setup_.spec.kernel).combine != nullptr;
  for (PieceRef& p : pieces) {
    auto& list = pieces_[p.partition];
    BlockMeta meta;
    meta.block = std::move(p.piece);
    meta.rows = p.rows;
    list.push_back(Piece{std::move(meta), p.order, false});
    // Sixteen fresh pieces of a partition (likely still in memory) become one, so finish reads
    // a sixteenth as many. Combined pieces are not combined again: each byte is written to a
    // spill file at most twice, not once per combine.
    const auto fresh =
        std::count_if(list.begin(), list.end(), [](const Piece& x) { return !x.combined; });
    if (combines && fresh >= 16) combine(p.partition);
  }
  return 0;
}

std::vector<Rows> ShuffleMerger::load(std::uint32_t partition) {
  auto& list = pieces_[partition];
  std::stable_sort(list.begin(), list.end(),
                   [](const Piece& a, const Piece& b) { return a.order < b.order; });
  const RowKernels& rows = find_row_kernels(setup_.spec.piece_type);
  std::vector<Rows> out;
  out.reserve(list.size());
  for (const Piece& p : list) out.push_back(rows.decode(*manta::get(p.meta.block)));
  return out;
}

void ShuffleMerger::combine(std::uint32_t partition) {
  const ShuffleKernels& k = find_shuffle_kernels(setup_.spec.kernel);
  auto& list = pieces_[partition];
  auto first_fresh =
      std::stable_partition(list.begin(), list.end(), [](const Piece& x) { return x.combined; });
  std::vector<Piece> fresh(std::make_move_iterator(first_fresh),
                           std::make_move_iterator(list.end()));
  list.erase(first_fresh, list.end());
  std::stable_sort(fresh.begin(), fresh.end(),
                   [](const Piece& a, const Piece& b) { return a.order < b.order; });
  const RowKernels& rows = find_row_kernels(setup_.spec.piece_type);
  std::vector<Rows> parts;
  for (const Piece& p : fresh) parts.push_back(rows.decode(*manta::get(p.meta.block)));
  Rows merged;
  try {
    merged = k.combine(call_of(setup_, partition), parts);
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    fail(setup_, "merging partition " + std::to_string(partition), e);
  }
  BlockMeta meta;
  meta.rows = merged.size();
  BlockBytes bytes = rows.encode(merged);
  meta.bytes = bytes.size();
  meta.block = manta::put(std::move(bytes));
  list.push_back(Piece{std::move(meta), fresh.front().order, true});
}

TaskOutput ShuffleMerger::finish(std::uint32_t partition) {
  TaskClock clock;
  TaskOutput out;
  const ShuffleKernels& k = find_shuffle_kernels(setup_.spec.kernel);
  std::vector<Rows> parts = load(partition);
  pieces_.erase(partition);
  for (const Rows& p : parts) out.rows_in += p.size();
  Rows rows;
  try {
    rows = k.finish(call_of(setup_, partition), parts);
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    fail(setup_, "finishing partition " + std::to_string(partition), e);
  }
  parts.clear();
  out.blocks = store_rows(setup_.out_type, rows, setup_.target_block_bytes);
  clock.finish(out);
  return out;
}

TaskOutput shuffle_map(ShuffleMapTask task, BlockBytes block) {
  TaskClock clock;
  TaskOutput out;
  const ShuffleSetup& s = task.setup;
  const ShuffleKernels& k = find_shuffle_kernels(s.spec.kernel);
  Rows rows = find_row_kernels(s.in_type).decode(block);
  out.rows_in = rows.size();
  std::vector<Rows> pieces;
  try {
    pieces = k.partition(call_of(s, task.block_index), rows);
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    fail(s, "on block " + std::to_string(task.block_index), e);
  }
  const RowKernels& piece_rows = find_row_kernels(s.spec.piece_type);
  std::vector<std::vector<PieceRef>> by_merger(task.mergers.size());
  BlockMeta total;  // what this map handed on, without references: the driver keeps none
  for (std::uint32_t p = 0; p < pieces.size(); ++p) {
    if (pieces[p].empty()) continue;
    BlockBytes bytes = piece_rows.encode(pieces[p]);
    total.rows += pieces[p].size();
    total.bytes += bytes.size();
    by_merger[p % task.mergers.size()].push_back(
        PieceRef{p, task.block_index, manta::put(std::move(bytes)), pieces[p].size()});
  }
  std::vector<ObjectRef<int>> kept;
  for (std::size_t m = 0; m < by_merger.size(); ++m) {
    if (by_merger[m].empty()) continue;
    kept.push_back(task.mergers[m].task(&ShuffleMerger::add).remote(std::move(by_merger[m])));
  }
  pieces.clear();
  manta::get(kept);  // every piece is with its merger before the driver may finish partitions
  out.blocks.push_back(std::move(total));
  clock.finish(out);
  return out;
}

BlockBytes sort_sample(ShuffleSetup setup, std::uint64_t k, BlockBytes block) {
  const ShuffleKernels& kernels = find_shuffle_kernels(setup.spec.kernel);
  Rows rows = find_row_kernels(setup.in_type).decode(block);
  Rows keys;
  try {
    keys = kernels.sample(call_of(setup, 0), rows, k);
  } catch (const std::exception& e) {
    fail(setup, "sampling keys", e);
  }
  return find_row_kernels(kernels.key_type).encode(keys);
}

std::vector<std::byte> sort_boundaries(const ShuffleSetup& setup,
                                       const std::vector<BlockBytes>& samples) {
  const ShuffleKernels& kernels = find_shuffle_kernels(setup.spec.kernel);
  const RowKernels& keys = find_row_kernels(kernels.key_type);
  std::vector<Rows> rows;
  for (const BlockBytes& s : samples) rows.push_back(keys.decode(s));
  return kernels.boundaries(call_of(setup, 0), rows);
}

}  // namespace manta::data::detail

MANTA_REMOTE(manta::data::detail::shuffle_map, manta::data::detail::sort_sample,
             manta::data::detail::ShuffleMerger::create, &manta::data::detail::ShuffleMerger::add,
             &manta::data::detail::ShuffleMerger::finish);
