// The all-to-all operations (random_shuffle, sort, groupby): a map stage splits each block into
// one piece per output partition and pushes the pieces to merger actors, one per rank, as soon
// as they are made; the mergers keep only references (the pieces are objects, which spill),
// combine a partition's pieces when many pile up, and finish a partition into an output block
// when asked. The driver tracks map tasks and partitions, never pieces, so its state grows with
// the number of blocks, not with its square.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <manta/actor.h>
#include <manta/data/block.h>
#include <manta/data/plan.h>

namespace manta::data::detail {

/// What mergers and map tasks of one all-to-all operator share.
struct ShuffleSetup {
  std::string op_name;
  ShuffleSpec spec;
  std::string in_type;
  std::string out_type;
  std::uint32_t partitions = 0;
  std::uint64_t target_block_bytes = 0;
  std::vector<std::byte> boundaries;  // sort: partitions - 1 keys

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& op_name& spec& in_type& out_type& partitions& target_block_bytes& boundaries;
  }
};

/// One piece a map task hands to a merger.
struct PieceRef {
  std::uint32_t partition = 0;
  std::uint64_t order = 0;  // the block it came from
  BlockRef piece;
  std::uint64_t rows = 0;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& partition& order& piece& rows;
  }
};

class ShuffleMerger {
 public:
  static ShuffleMerger* create(ShuffleSetup setup);
  /// Keeps the pieces one map task made for this merger's partitions (one call per map and
  /// merger, not per piece); returns once they are kept (the map task waits for that). Pieces
  /// are used in block order, so results do not depend on which map finished first.
  int add(std::vector<PieceRef> pieces);
  /// The output block(s) of `partition`, made from all its pieces.
  TaskOutput finish(std::uint32_t partition);

 private:
  struct Piece {
    BlockMeta meta;
    std::uint64_t order = 0;
    bool combined = false;  // made by combine: never read again before finish
  };
  /// The rows of a partition's pieces, in block order.
  std::vector<Rows> load(std::uint32_t partition);
  void combine(std::uint32_t partition);
  ShuffleSetup setup_;
  std::map<std::uint32_t, std::vector<Piece>> pieces_;
};

struct ShuffleMapTask {
  ShuffleSetup setup;
  std::uint64_t block_index = 0;
  std::vector<ActorHandle<ShuffleMerger>> mergers;  // partition p goes to mergers[p % size]

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& setup& block_index& mergers;
  }
};

/// Splits a block into pieces, stores them and hands them to the mergers.
TaskOutput shuffle_map(ShuffleMapTask task, BlockBytes block);

/// Sort: up to `k` keys of a block's rows, as encoded rows of the key type.
BlockBytes sort_sample(ShuffleSetup setup, std::uint64_t k, BlockBytes block);

/// Sort: the partition boundaries from the samples (encoded key rows).
std::vector<std::byte> sort_boundaries(const ShuffleSetup& setup,
                                       const std::vector<BlockBytes>& samples);

}  // namespace manta::data::detail
