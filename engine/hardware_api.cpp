// The public hardware API: the running task's GPUs and the rank's hardware.
#include <manta/errors.h>
#include <manta/hardware.h>
#include <manta/init.h>

#include <stdexcept>

#include "engine/config.h"
#include "engine/gpu_grant.h"
#include "engine/rank_hardware.h"
#include "engine/runtime.h"

namespace manta {

std::vector<int> gpu_ids() { return engine::GpuGrantScope::current(); }

RankHardware rank_hardware() {
  engine::Runtime* r = engine::Runtime::instance();
  if (!r || !r->is_open()) {
    throw std::logic_error("manta::rank_hardware: call manta::init first");
  }
  return r->hardware().describe(r->rank(), r->host());
}

std::vector<RankHardware> preview_node_hardware(const std::vector<std::string>& args,
                                                int local_ranks) {
  if (local_ranks < 1) {
    throw std::invalid_argument("preview_node_hardware: local_ranks must be at least 1");
  }
  const engine::Config config = engine::config_from_words(args);
  std::vector<RankHardware> out;
  const auto plans = engine::preview_node(config, local_ranks);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (!plans[i].error.empty()) throw std::invalid_argument(plans[i].error);
    out.push_back(plans[i].describe(static_cast<int>(i), "this node"));
  }
  return out;
}

}  // namespace manta
