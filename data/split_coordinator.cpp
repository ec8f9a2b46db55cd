// streaming_split's coordinator actor and the process's DataContext.
#include <manta/data/dataset.h>
#include <manta/manta.h>

namespace manta::data {

DataContext& DataContext::current() {
  static DataContext context;
  return context;
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
