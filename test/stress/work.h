// What the stress test's ranks run: tasks that make, check and chain blocks, puts made on other
// ranks, a stateful actor whose every answer the driver predicts, and a shared tally that tasks
// on every rank add to.
#pragma once

#include <cstdint>
#include <vector>

#include <manta/manta.h>

#include "blocks.h"

namespace stress {

Words make_block(std::uint64_t seed, std::uint64_t words);
/// Wrong words of `w` (the argument is resolved, and fetched here, before the task runs).
std::uint64_t check_block(Words w, std::uint64_t seed, std::uint64_t words);
/// The same, with the reference itself: the task gets the object (a get from inside a task).
std::uint64_t check_ref(manta::ObjectRef<Words> ref, std::uint64_t seed, std::uint64_t words);
/// A new block made from an input: right only if the input was.
Words chain_block(Words in, std::uint64_t in_seed, std::uint64_t in_words, std::uint64_t seed,
                  std::uint64_t words);
/// Puts a block on the rank that runs it, which then owns it; the caller borrows the reference.
manta::ObjectRef<Words> put_block(std::uint64_t seed, std::uint64_t words);
/// Throws, naming `code`: its caller must see a TaskError that says so.
std::uint64_t fail_on_purpose(std::uint64_t code);
/// This process's peak resident set (VmHWM from /proc/self/status), in KiB.
std::uint64_t peak_rss_kib();

/// A state machine: every call changes the state in a way the driver's model repeats.
struct Machine {
  static Machine* create(std::uint64_t start) { return new Machine{start}; }
  std::uint64_t step(std::uint64_t x) { return state = mix(state ^ x); }
  std::uint64_t absorb(Words w) { return state = mix(state + sum(w.data(), w.size())); }
  /// A block of `words` made from the new state (large answers travel as pulled objects).
  std::vector<std::uint64_t> emit(std::uint64_t words);

  std::uint64_t state = 0;
};

/// Calls from many ranks interleave, so only the total is known: the sum of what was added.
struct Tally {
  static Tally* create() { return new Tally; }
  std::uint64_t add(std::uint64_t x) { return total += x; }
  std::uint64_t get() const { return total; }

  std::uint64_t total = 0;
};

/// Adds `x` to the tally from the rank that runs it, waits for the call, returns `x`.
std::uint64_t add_from_here(manta::ActorHandle<Tally> tally, std::uint64_t x);

}  // namespace stress
