// Fuzz target: the settings parser (engine/config.*): --manta-* flags, MANTA_* environment
// values, sizes, durations, fractions, resource lists and signal names. Any input must parse to
// values inside each setting's documented range, or fail with std::invalid_argument naming the
// setting; `manta run`'s resolve_settings must agree with what the ranks parse.
//
// Input: lines. A line `MANTA_NAME=value` sets that environment variable for this run; any other
// line is one command-line word. Every word is also given to parse_size on its own.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"

namespace {

using manta::engine::Config;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "settings fuzz: %s\n", what.c_str());
  std::abort();
}

void require(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// What every successful parse promises (the ranges --manta-help documents).
void check_ranges(const Config& c) {
  require(c.num_cpus == 0 || (c.num_cpus >= 1 && c.num_cpus <= 4096), "num_cpus out of range");
  require(c.max_workers == 0 || (c.max_workers >= 1 && c.max_workers <= 65536),
          "max_workers out of range");
  require(c.max_actors >= 0 && c.max_actors <= 100000, "max_actors out of range");
  for (const auto& [name, amount] : c.custom_resources) {
    require(!name.empty() && name != "CPU", "bad custom resource name '" + name + "'");
    require(std::isfinite(amount) && amount >= 0,
            "custom resource " + name + " has amount " + std::to_string(amount));
  }
  require(c.forward_threshold >= 0, "forward_threshold out of range");
  require(c.chunk_size >= 1 && c.chunk_size <= (std::uint64_t{1} << 30), "chunk_size out of range");
  require(c.object_store_memory == 0 || c.object_store_memory >= (1u << 20),
          "object_store_memory below 1M");
  require(c.spill_high_water > 0 && c.spill_high_water <= 1, "spill_high_water out of range");
  require(c.spill_compression >= 0 && c.spill_compression <= 9, "spill_compression out of range");
  require(std::isfinite(c.store_full_timeout_s) && c.store_full_timeout_s >= 0 &&
              c.store_full_timeout_s <= 1e6,
          "store_full_timeout out of range");
  require(c.status_interval_s >= 0.05 && c.status_interval_s <= 3600,
          "status_interval out of range");
  require(c.transport == "auto" || c.transport == "ucx" || c.transport == "mpi", "bad transport");
  require(c.progress_max_sleep_us >= 1 && c.report_interval_ms >= 1 && c.shutdown_timeout_s >= 1,
          "an interval out of range");
}

void check_size(const std::string& word) {
  std::uint64_t bytes = 0;
  try {
    bytes = manta::engine::parse_size(word);
  } catch (const std::invalid_argument& e) {
    require(std::string_view(e.what()).find("is not a size") != std::string_view::npos,
            "parse_size failed without saying why: " + std::string(e.what()));
    return;
  }
  require(bytes < (std::uint64_t{1} << 63), "parse_size gave more than 2^63 bytes");
  // The number of bytes, written out, reads back as itself.
  require(manta::engine::parse_size(std::to_string(bytes)) == bytes,
          "parse_size does not read its own result back: " + word);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& s : manta::engine::settings()) unsetenv(s.env.c_str());

  std::vector<std::string> words;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    // Words and values are C strings on the way in.
    if (line.find('\0') != std::string::npos) return 0;
    const std::size_t eq = line.find('=');
    if (starts_with(line, "MANTA_") && eq != std::string::npos) {
      setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), 1);
    } else if (!line.empty()) {
      words.push_back(std::move(line));
    }
  }
  for (const auto& w : words) check_size(w);

  std::vector<std::string> storage{"program"};
  storage.insert(storage.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (auto& w : storage) argv.push_back(w.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(storage.size());
  char** args = argv.data();

  bool parsed = false;
  try {
    const Config c = manta::engine::parse_config(argc, args);
    parsed = true;
    check_ranges(c);
    // The words left for the program: in their order, none of them a setting.
    require(argc >= 1 && args[argc] == nullptr, "argv is not terminated after parsing");
    std::size_t next = 1;
    for (int i = 1; i < argc; ++i) {
      const std::string left = args[i];
      require(!starts_with(left, "--manta-"), "a setting was left in argv: " + left);
      while (next < storage.size() && storage[next] != left) ++next;
      require(next < storage.size(), "argv after parsing is not a subsequence of the words");
      ++next;
    }
  } catch (const std::invalid_argument& e) {
    const std::string_view m = e.what();
    require(starts_with(m, "--manta-") || starts_with(m, "MANTA_") ||
                starts_with(m, "unknown setting --manta-"),
            "an error does not start with the setting it is about: " + std::string(m));
  }

  // `manta run` checks the same words with resolve_settings: it must agree with the ranks.
  bool resolved = false;
  try {
    const auto settings = manta::resolve_settings(words);
    resolved = true;
    for (const auto& s : settings) {
      require(s.source == "flag" || s.source == "environment" || s.source == "default",
              "resolve_settings gave source " + s.source);
    }
  } catch (const std::invalid_argument&) {
  }
  require(parsed == resolved, parsed ? "the ranks accept settings that manta run refuses"
                                     : "manta run accepts settings that the ranks refuse");
  return 0;
}
