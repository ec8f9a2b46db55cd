// Command-line values of the benchmark programs: a bad one ends the program (exit 2) with a
// message naming the option and what it takes, before any work starts.
#pragma once

#include <string>

namespace manta::bench {

/// Prints `what` to stderr and exits with status 2.
[[noreturn]] void bad_argument(const std::string& what);

/// The number `text` of `option`, from lo to hi; all of the text must be the number.
double number_argument(const std::string& option, const char* text, double lo, double hi);

}  // namespace manta::bench
