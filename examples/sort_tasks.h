// The out-of-core sort of bench/spill_bench.cpp, as tasks written by hand: the
// shuffle of a map-reduce written as a Ray user writes it. Map task i makes its block of keys
// and splits it into R key ranges, each put as its own object; reduce task r gets the r-th piece
// of every map, sorts them into one run and returns it as an object. The driver never holds more
// than one run: it checks them one at a time as they finish.
//
// Include it in one source file per program: it registers the tasks with MANTA_REMOTE.
#pragma once

#include "size_text.h"
#include "sort_keys.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/manta.h>

namespace sort_tasks {
using manta_examples::parse_size;
using sort_keys::Checks;
using sort_keys::key_at;

using Keys = manta::Array<std::uint64_t>;
using KeysRef = manta::ObjectRef<Keys>;

/// What a map task returns: one reference per key range (the pieces stay in the stores, where
/// they can spill), how many keys each holds, and the checks of its block.
struct MapOutput {
  std::vector<KeysRef> parts;
  std::vector<std::uint64_t> counts;
  Checks checks;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& parts& counts& checks;
  }
};

/// The key range (of R equal slices of the 64-bit space) a key falls in: floor(key * R / 2^64).
inline std::uint32_t range_of(std::uint64_t key, std::uint32_t ranges) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang; -Wpedantic knows it is intended
  return static_cast<std::uint32_t>((static_cast<u128>(key) * ranges) >> 64);
}

/// Map task: keys [first, first + count) of the data set, split by key range. Two passes over
/// the generator (counting, then filling) so that each piece is allocated at its exact size and
/// put without a copy, and the task never holds more than its block.
inline MapOutput sort_map(std::uint64_t first, std::uint64_t count, std::uint32_t ranges) {
  MapOutput out;
  out.counts.assign(ranges, 0);
  for (std::uint64_t j = first; j < first + count; ++j) {
    const std::uint64_t key = key_at(j);
    ++out.counts[range_of(key, ranges)];
    out.checks.add(key);
  }
  std::vector<Keys> pieces;
  std::vector<std::uint64_t*> cursor(ranges);
  pieces.reserve(ranges);
  for (std::uint32_t r = 0; r < ranges; ++r) {
    pieces.push_back(Keys::uninitialized(out.counts[r]));
    cursor[r] = pieces.back().mutable_data();
  }
  for (std::uint64_t j = first; j < first + count; ++j) {
    const std::uint64_t key = key_at(j);
    *cursor[range_of(key, ranges)]++ = key;
  }
  out.parts.reserve(ranges);
  for (auto& piece : pieces) out.parts.push_back(manta::put(std::move(piece)));
  return out;
}

/// Reduce task: the r-th piece of every map, `total` keys in all, sorted into one run. The pieces
/// are fetched one at a time and copied into the run, so the task holds its output and one
/// piece, not all of its inputs at once.
inline Keys sort_reduce(std::vector<KeysRef> parts, std::uint64_t total) {
  Keys run = Keys::uninitialized(total);
  std::uint64_t* dst = run.mutable_data();
  std::uint64_t filled = 0;
  for (auto& ref : parts) {
    {
      auto piece = manta::get(ref);  // a view of the store; released at the end of the block
      if (piece->size() > total - filled)
        throw std::runtime_error("reduce: the pieces hold more keys than the maps counted");
      if (!piece->empty()) std::memcpy(dst + filled, piece->data(), piece->size_bytes());
      filled += piece->size();
    }
    ref = {};  // this task is done with it
  }
  if (filled != total)
    throw std::runtime_error("reduce: the pieces hold fewer keys than the maps counted");
  std::sort(dst, dst + total);
  return run;
}

}  // namespace sort_tasks

MANTA_REMOTE(sort_tasks::sort_map, sort_tasks::sort_reduce);

namespace sort_tasks {

/// How a data set is cut: `keys` keys in `maps` blocks and `reduces` key ranges.
struct Plan {
  std::uint64_t keys = 0;
  std::uint32_t maps = 0;
  std::uint32_t reduces = 0;
};

/// Blocks and runs of at most a quarter of one rank's store leave room for a map's block, a
/// reduce's run and the piece it is copying, with the rest of the store free to take results
/// while older ones spill. `rank_capacity` 0 means unknown: four tasks per rank.
inline std::uint32_t default_tasks(std::uint64_t bytes, int ranks, std::uint64_t rank_capacity) {
  std::uint64_t n = 4 * static_cast<std::uint64_t>(ranks);
  if (rank_capacity >= 4) {
    const std::uint64_t most = rank_capacity / 4;
    n = std::max(n, (bytes + most - 1) / most);
  }
  n = (n + ranks - 1) / ranks * ranks;  // the same number on every rank
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 1u << 16));
}

/// What a run of the sort found.
struct Outcome {
  bool sorted_and_complete = false;
  std::string problem;  // the first thing found wrong, if any
  Checks input;         // from the maps
  Checks output;        // from the runs the driver read
  double seconds = 0;   // from the first map submitted to the last run checked
};

/// Sorts the data set of `plan` on the cluster and checks the result on the driver, one run at a
/// time: each run sorted, every key in its range, runs in order, and count, sum and xor of all
/// keys equal to the input's. Maps and reduces are spread round-robin over the ranks (Ray's
/// SPREAD strategy) so every store takes its share of the data.
inline Outcome run_sort(const Plan& plan) {
  using Clock = std::chrono::steady_clock;
  const int ranks = manta::world_size();
  Outcome result;
  const auto t0 = Clock::now();
  try {
    std::vector<manta::ObjectRef<MapOutput>> maps;
    maps.reserve(plan.maps);
    for (std::uint32_t m = 0; m < plan.maps; ++m) {
      const std::uint64_t first = plan.keys * m / plan.maps;
      const std::uint64_t last = plan.keys * (m + 1) / plan.maps;
      maps.push_back(manta::task(sort_map)
                         .name("sort_map")
                         .on_rank(static_cast<int>(m % ranks))
                         .remote(first, last - first, plan.reduces));
    }

    // Piece [r][m]: the driver keeps only references and counts, a few bytes per piece.
    std::vector<std::vector<KeysRef>> pieces(plan.reduces);
    std::vector<std::uint64_t> run_keys(plan.reduces, 0);
    for (auto& column : pieces) column.reserve(plan.maps);
    for (auto& map : maps) {
      {
        auto out = manta::get(map);
        if (out->parts.size() != plan.reduces || out->counts.size() != plan.reduces)
          throw std::runtime_error("a map returned the wrong number of pieces");
        for (std::uint32_t r = 0; r < plan.reduces; ++r) {
          pieces[r].push_back(out->parts[r]);
          run_keys[r] += out->counts[r];
        }
        result.input.add(out->checks);
      }
      map = {};  // frees the map's result; the pieces live on through the references above
    }

    std::vector<KeysRef> runs;
    runs.reserve(plan.reduces);
    for (std::uint32_t r = 0; r < plan.reduces; ++r) {
      runs.push_back(manta::task(sort_reduce)
                         .name("sort_reduce")
                         .on_rank(static_cast<int>(r % ranks))
                         .remote(pieces[r], run_keys[r]));
      // The task holds its arguments until it is done; then the pieces are freed.
      std::vector<KeysRef>().swap(pieces[r]);
    }

    std::uint64_t previous = 0;
    for (std::uint32_t r = 0; r < plan.reduces && result.problem.empty(); ++r) {
      {
        auto run = manta::get(runs[r]);
        const std::uint64_t* k = run->data();
        const std::size_t n = run->size();
        if (n != run_keys[r]) {
          result.problem = "run " + std::to_string(r) + " holds " + std::to_string(n) +
                           " keys, the maps sent it " + std::to_string(run_keys[r]);
        } else if (n > 0 &&
                   (range_of(k[0], plan.reduces) != r || range_of(k[n - 1], plan.reduces) != r)) {
          result.problem = "run " + std::to_string(r) + " holds keys outside its range";
        } else if (n > 0 && result.output.count > 0 && k[0] < previous) {
          result.problem = "run " + std::to_string(r) + " starts below the end of the one before";
        } else {
          for (std::size_t i = 0; i < n; ++i) {
            if (i > 0 && k[i] < k[i - 1]) {
              result.problem =
                  "run " + std::to_string(r) + " is not sorted at key " + std::to_string(i);
              break;
            }
            result.output.add(k[i]);
          }
          if (n > 0) previous = k[n - 1];
        }
      }
      runs[r] = {};  // checked: the run can go
    }
    if (result.problem.empty() && result.input.count != plan.keys) {
      result.problem = "the maps made " + std::to_string(result.input.count) + " keys, not " +
                       std::to_string(plan.keys);
    } else if (result.problem.empty() && !(result.output == result.input)) {
      result.problem = "the output's count, sum or xor differs from the input's";
    }
  } catch (const std::exception& e) {  // manta::Error from a task or a get, or a check above
    result.problem = e.what();
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.sorted_and_complete = result.problem.empty();
  return result;
}

}  // namespace sort_tasks
