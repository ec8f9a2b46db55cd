// A dataset's plan. The logical plan is what the program asked for, one node per operation, as
// Dataset<T> records it (lazily: nothing runs until the data is consumed). The physical plan is
// what runs: consecutive transforms fused into one task per block (reads included), limits
// pushed down to reads. Both are type-erased: kernels are named (manta/data/kernels.h).
#pragma once

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <manta/data/block.h>
#include <manta/options.h>

namespace manta::data::detail {

/// One read task's share of a source, and what is known of it in advance.
struct ReadPart {
  std::vector<std::byte> args;  // for the source kernel
  std::int64_t rows = -1;       // -1: unknown until read
  std::uint64_t bytes = 0;      // estimate, 0: unknown

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& args& rows& bytes;
  }
};

/// A source: a kernel (manta/data/kernels.h) that reads one part at a time.
struct SourceSpec {
  std::string kernel;
  std::vector<ReadPart> parts;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kernel& parts;
  }
};

/// One transform (map, filter, flat_map, map_batches).
struct StageSpec {
  std::string kernel;
  std::vector<std::byte> function;
  std::uint64_t batch_size = 0;
  std::string label;        // "Map(square)"
  std::string out_type;     // row type after it
  bool keeps_rows = false;  // one row out per row in (map): row counts and limits pass through

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kernel& function& batch_size& label& out_type& keeps_rows;
  }
};

/// Where a transform runs: tasks (the default), or a pool of actors that build the function
/// object once each (model loading) and take blocks as they free up.
struct ComputeSpec {
  std::uint32_t min_actors = 0;  // 0 and max 0: tasks
  std::uint32_t max_actors = 0;
  ResourceMap resources;  // per task or per actor; empty: {"CPU": 1}
  std::string actor_kernel;

  [[nodiscard]] bool actors() const noexcept { return max_actors > 0; }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& min_actors& max_actors& resources& actor_kernel;
  }
};

/// An all-to-all operation: random_shuffle, sort, groupby (see manta/data/shuffle.h).
struct ShuffleSpec {
  enum class Kind : std::uint8_t { random, sort, hash };
  Kind kind = Kind::random;
  std::string kernel;
  std::vector<std::byte> function;
  std::uint64_t seed = 0;
  std::uint32_t partitions = 0;  // 0: as many as input blocks (at least the job's ranks)
  std::string piece_type;        // rows of the pieces map tasks send to mergers
  bool descending = false;       // sort

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kind& kernel& function& seed& partitions& piece_type& descending;
  }
};

enum class OpKind : std::uint8_t { blocks, read, stage, shuffle, repartition, limit, union_ };

/// One node of the logical plan.
struct LogicalOp {
  OpKind kind = OpKind::blocks;
  std::string label;     // "Read[range]", "Map(square)", "Sort", ...
  std::string row_type;  // of its output
  std::vector<std::shared_ptr<const LogicalOp>> inputs;
  std::vector<BlockMeta> blocks;  // blocks: the data, already in the store
  SourceSpec source;              // read
  StageSpec stage;                // stage
  ComputeSpec compute;            // stage
  ShuffleSpec shuffle;            // shuffle
  std::uint64_t count = 0;        // limit: rows; repartition: blocks
};

/// Rows of the op's output when known without running anything.
std::optional<std::uint64_t> known_rows(const LogicalOp& op);

/// One operator of the physical plan.
struct PhysicalOp {
  enum class Kind : std::uint8_t { blocks, read, map, shuffle, repartition, limit, union_ };
  Kind kind = Kind::blocks;
  std::string name;  // "Read[range]->Map(square)->Filter(odd)"
  std::string in_type, out_type;
  std::vector<std::uint32_t> inputs;  // earlier operators of the plan
  std::vector<BlockMeta> blocks;
  SourceSpec source;
  std::uint64_t read_limit = 0;   // read: rows it need not go past (a pushed-down limit); 0: all
  std::vector<StageSpec> stages;  // fused transforms (read, map)
  ComputeSpec compute;
  ShuffleSpec shuffle;
  std::uint64_t count = 0;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& kind& name& in_type& out_type& inputs& blocks& source& read_limit& stages& compute& shuffle&
        count;
  }
};

/// Operators in dependency order; the last one's output is the dataset.
struct PhysicalPlan {
  std::vector<PhysicalOp> ops;

  [[nodiscard]] std::string to_string() const;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& ops;
  }
};

/// The optimiser: fuses transform chains (into the read before them, when there is one) and
/// pushes limits down through row-keeping transforms into reads.
PhysicalPlan plan_physical(const LogicalOp& root);

/// The logical plan as an indented tree, for explain().
std::string describe_logical(const LogicalOp& root);

}  // namespace manta::data::detail
