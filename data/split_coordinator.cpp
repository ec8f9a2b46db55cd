// streaming_split's coordinator actor and the process's DataContext.
#include <algorithm>

#include <manta/data/dataset.h>
#include <manta/manta.h>

namespace manta::data {

DataContext& DataContext::current() {
  static DataContext context;
  return context;
}

std::uint64_t DataContext::block_bytes() const {
  // Store capacities are fixed for the job: asked once.
  static const std::uint64_t smallest = [] {
    std::uint64_t least = 0;
    for (const RankMemory& r : manta::memory_summary(0).ranks) {
      if (r.capacity_bytes != 0 && (least == 0 || r.capacity_bytes < least)) {
        least = r.capacity_bytes;
      }
    }
    return least;
  }();
  if (smallest == 0) return target_block_bytes;
  return std::min(target_block_bytes, std::max<std::uint64_t>(smallest / 16, 64 << 10));
}

namespace detail {

SplitCoordinator* SplitCoordinator::create(PhysicalPlan plan, DataContext context,
                                           std::uint32_t n) {
  auto* c = new SplitCoordinator();
  context.progress = false;  // runs inside an actor: no terminal to draw on
  c->run_ = std::make_unique<Execution>(std::move(plan), context);
  c->consumers_ = n;
  return c;
}

std::vector<BlockMeta> SplitCoordinator::next(std::uint32_t consumer) {
  if (consumer >= consumers_) {
    throw DataError("streaming_split: consumer " + std::to_string(consumer) + " of " +
                    std::to_string(consumers_));
  }
  std::vector<BlockMeta> out;
  if (auto b = run_->next()) out.push_back(std::move(*b));
  return out;
}

std::string SplitCoordinator::stats() { return run_->stats().to_string(); }

}  // namespace detail
}  // namespace manta::data

MANTA_REMOTE(manta::data::detail::SplitCoordinator::create,
             &manta::data::detail::SplitCoordinator::next,
             &manta::data::detail::SplitCoordinator::stats);
