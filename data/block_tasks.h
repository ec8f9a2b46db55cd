// The tasks and the actor that do a dataset's per-block work: read a part of a source, run a
// fused chain of transforms over a block, join row ranges of blocks into one (repartition,
// limit), and the actor an actor pool is made of. Every one reports its blocks and costs in a
// TaskOutput.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <manta/data/block.h>
#include <manta/data/kernels.h>
#include <manta/data/plan.h>

namespace manta::data::detail {

/// What one task of a read or map operator does.
struct MapTask {
  std::string op_name;
  std::vector<StageSpec> stages;
  std::string in_type;  // rows of the input block, or of what the source makes
  std::string out_type;
  std::uint64_t target_block_bytes = 0;
  std::uint64_t block_index = 0;
  std::string source_kernel;  // read tasks
  std::vector<std::byte> source_args;
  std::uint64_t limit = 0;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& op_name& stages& in_type& out_type& target_block_bytes& block_index& source_kernel&
        source_args& limit;
  }
};

/// Rows [first, first + count) of a block.
struct SlicePiece {
  BlockRef block;
  std::uint64_t first = 0;
  std::uint64_t count = 0;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& block& first& count;
  }
};

TaskOutput run_map_block(MapTask task, BlockBytes block);
TaskOutput run_read_block(MapTask task);
/// One block of the given row ranges, in order.
TaskOutput join_slices(std::string op_name, std::string row_type, std::vector<SlicePiece> pieces,
                       std::uint64_t target_block_bytes);

/// Runs the transforms of `task` over `rows`; a transform that throws becomes an OperatorError
/// naming it, the operator and the block.
Rows apply_stages(const MapTask& task, Rows rows, std::size_t first_stage = 0);

/// Encodes rows into one block (or several of about the target size when they are more than
/// twice it), puts them in this rank's store and describes them.
std::vector<BlockMeta> store_rows(const std::string& row_type, const Rows& rows,
                                  std::uint64_t target_block_bytes);

/// Wall and thread CPU time of the work of one task.
class TaskClock {
 public:
  TaskClock();
  void finish(TaskOutput& out) const;

 private:
  double wall0_ = 0;
  double cpu0_ = 0;
};

/// One actor of an actor pool: builds the function object once, then runs blocks.
class StageActor {
 public:
  static StageActor* create(MapTask task);
  ~StageActor();
  StageActor(const StageActor&) = delete;
  StageActor& operator=(const StageActor&) = delete;
  TaskOutput run(std::uint64_t block_index, BlockBytes block);

 private:
  StageActor() = default;
  MapTask task_;
  const ActorStageFns* fns_ = nullptr;
  void* instance_ = nullptr;
};

}  // namespace manta::data::detail
