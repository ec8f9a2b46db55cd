// What a dataset's execution did, per operator: ds.stats().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace manta::data {

struct OperatorStats {
  std::string name;
  std::uint64_t tasks = 0;
  std::uint64_t blocks = 0;      // made
  std::uint64_t rows = 0;        // made
  std::uint64_t bytes = 0;       // made
  double wall_s = 0;             // from its first task's launch to its last output
  double task_wall_s = 0;        // summed over tasks
  double cpu_s = 0;              // summed over tasks (thread CPU time)
  std::uint64_t peak_bytes = 0;  // most store bytes it held at once (made, not yet consumed)
  std::uint32_t actors = 0;      // actor pool: most actors at once
  std::uint32_t ranks = 0;       // ranks its tasks ran on
};

struct DatasetStats {
  std::vector<OperatorStats> operators;  // in plan order
  double wall_s = 0;
  std::uint64_t budget_bytes = 0;         // the store budget the pipeline ran under
  std::uint64_t peak_pipeline_bytes = 0;  // most bytes the operators held at once
  std::uint64_t peak_store_bytes = 0;     // most bytes all stores held at once (sampled)
  std::uint64_t spilled_bytes = 0;        // written to spill files while it ran (all ranks)
  std::uint64_t restored_bytes = 0;       // read back from them
  std::uint64_t output_rows = 0;
  bool ran = false;  // false until the dataset was consumed

  /// A table, one line per operator, then the totals.
  [[nodiscard]] std::string to_string() const;
};

}  // namespace manta::data
