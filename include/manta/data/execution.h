// The streaming executor: runs a physical plan on the job, handing out the output blocks in
// order as they are made. Every operator runs at once, each within its share of the store
// budget and its task limit, so a slow consumer or operator throttles those before it instead
// of letting blocks pile up.
#pragma once

#include <memory>
#include <optional>

#include <manta/data/block.h>
#include <manta/data/context.h>
#include <manta/data/plan.h>
#include <manta/data/stats.h>

namespace manta::data::detail {

class Execution {
 public:
  Execution(PhysicalPlan plan, const DataContext& context);
  ~Execution();
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  /// The next output block, in order; nullopt once all are out. Throws the first task's error
  /// (TaskError naming operator and block) or DataError.
  std::optional<BlockMeta> next();
  /// What ran so far.
  [[nodiscard]] DatasetStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace manta::data::detail
