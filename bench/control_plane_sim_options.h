// The control-plane simulator's command line (control_plane_sim.cpp).
#pragma once

#include <string>
#include <vector>

namespace manta::bench {

struct SimOptions {
  bool quick = false, sweep = false, old_reports = false;
  std::string json_path;
  std::vector<int> sizes = {1000, 10000};
  std::vector<bool> leases = {true, false};
  double heavy = 0;  // 0: submitters offered 2.5 times what they run
  double budget = 50000;
};

/// Reads the options; an unknown or bad one ends the program with exit 2 and says why.
SimOptions parse_sim_options(int argc, char** argv);

}  // namespace manta::bench
