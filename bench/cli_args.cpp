#include "cli_args.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace manta::bench {

void bad_argument(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::exit(2);
}

double number_argument(const std::string& option, const char* text, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) {
    bad_argument(fmt::format("{} {}: expected a number from {} to {}", option, text, lo, hi));
  }
  return v;
}

}  // namespace manta::bench
