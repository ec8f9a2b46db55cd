// Sizes on command lines: "512M", "1G", "4096", "64KiB" in binary units. Shared by the examples
// and the benchmarks that take sizes.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace manta_examples {

/// Bytes that `text` names; false when it is not a size.
inline bool parse_size(const std::string& text, std::uint64_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0) return false;
  std::string unit(end);
  if (unit.size() > 1 && (unit.substr(1) == "iB" || unit.substr(1) == "B")) unit.resize(1);
  int shift = 0;
  if (unit == "K" || unit == "k") {
    shift = 10;
  } else if (unit == "M" || unit == "m") {
    shift = 20;
  } else if (unit == "G" || unit == "g") {
    shift = 30;
  } else if (unit == "T" || unit == "t") {
    shift = 40;
  } else if (!unit.empty() && unit != "B") {
    return false;
  }
  if (n > (~std::uint64_t{0} >> shift)) return false;
  out = static_cast<std::uint64_t>(n) << shift;
  return true;
}

}  // namespace manta_examples
