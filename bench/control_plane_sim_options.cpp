#include "control_plane_sim_options.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "cli_args.h"

namespace manta::bench {

SimOptions parse_sim_options(int argc, char** argv) {
  SimOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--sweep") {
      o.sweep = true;
    } else if (a == "--old-reports") {
      o.old_reports = true;
    } else if (a == "--json" && more) {
      o.json_path = argv[++i];
      // A path that cannot be written fails now, not after minutes of simulation.
      if (!std::ofstream(o.json_path, std::ios::app)) {
        bad_argument(fmt::format("--json {}: cannot write there ({}); give a writable path",
                                 o.json_path, std::strerror(errno)));
      }
    } else if (a == "--ranks" && more) {
      // Every simulated rank lives in this process; past 100,000 a run takes hours here.
      const double n = number_argument("--ranks", argv[++i], 2, 100000);
      if (n != std::floor(n)) bad_argument(fmt::format("--ranks {}: expected a whole number", n));
      o.sizes = {static_cast<int>(n)};
    } else if (a == "--leases" && more) {
      const std::string v = argv[++i];
      if (v != "on" && v != "off") bad_argument("--leases " + v + ": expected on or off");
      o.leases = {v == "on"};
    } else if (a == "--heavy" && more) {
      o.heavy = number_argument("--heavy", argv[++i], 1e-6, 1);
    } else if (a == "--budget" && more) {
      o.budget = number_argument("--budget", argv[++i], 0, 1e9);
    } else {
      bad_argument(fmt::format(
          "unknown argument {}{}: expected --quick, --sweep, --old-reports, --json FILE, "
          "--ranks N (2 to 100000), --leases on|off, --heavy F (a fraction), --budget N",
          a, more ? "" : " (or its value is missing)"));
    }
  }
  return o;
}

}  // namespace manta::bench
