#include "work.h"

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>

namespace stress {
namespace {
// A get inside a task is bounded too: a stuck one fails its task, and the driver says which.
constexpr auto kGetLimit = std::chrono::seconds(120);
}  // namespace

Words make_block(std::uint64_t seed, std::uint64_t words) { return make_words(seed, words); }

std::uint64_t check_block(Words w, std::uint64_t seed, std::uint64_t words) {
  return count_bad(w, seed, words);
}

std::uint64_t check_ref(manta::ObjectRef<Words> ref, std::uint64_t seed, std::uint64_t words) {
  return count_bad(*manta::get(ref, kGetLimit), seed, words);
}

Words chain_block(Words in, std::uint64_t in_seed, std::uint64_t in_words, std::uint64_t seed,
                  std::uint64_t words) {
  if (count_bad(in, in_seed, in_words) != 0) return Words(words, 0);
  return make_words(seed, words);
}

manta::ObjectRef<Words> put_block(std::uint64_t seed, std::uint64_t words) {
  return manta::put(make_words(seed, words));
}

std::uint64_t fail_on_purpose(std::uint64_t code) {
  throw std::runtime_error("planned failure " + std::to_string(code));
}

std::uint64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  throw std::runtime_error("no VmHWM line in /proc/self/status");
}

std::vector<std::uint64_t> Machine::emit(std::uint64_t words) {
  state = mix(state + words);
  std::vector<std::uint64_t> out(words);
  for (std::uint64_t i = 0; i < words; ++i) out[i] = word(state, i);
  return out;
}

std::uint64_t add_from_here(manta::ActorHandle<Tally> tally, std::uint64_t x) {
  (void)manta::get(tally.task(&Tally::add).remote(x), kGetLimit);
  return x;
}

}  // namespace stress

MANTA_REMOTE(stress::make_block, stress::check_block, stress::check_ref, stress::chain_block,
             stress::put_block, stress::fail_on_purpose, stress::peak_rss_kib,
             stress::add_from_here, stress::Machine::create, &stress::Machine::step,
             &stress::Machine::absorb, &stress::Machine::emit, stress::Tally::create,
             &stress::Tally::add, &stress::Tally::get);
