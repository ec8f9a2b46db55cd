// The actor of the actor-call benchmarks: a method that does nothing but count its calls.
// Each program registers it in its own MANTA_REMOTE.
#pragma once

#include <cstdint>

namespace manta::bench {

struct Pinger {
  static Pinger* create() { return new Pinger; }
  int small_value() {
    ++calls;
    return 0;
  }
  std::uint64_t calls = 0;
};

}  // namespace manta::bench
