// The runtime's settings, for tools: what each is, its default, and what a command line and the
// environment make of them. Applications set them with --manta-* flags or MANTA_* variables.
#pragma once

#include <string>
#include <vector>

namespace manta {

struct SettingInfo {
  std::string flag;      // --manta-<name>
  std::string env;       // MANTA_<NAME>
  std::string fallback;  // the default, as text
  std::string help;
  bool is_switch = false;  // given without a value
};

/// Every setting, in the order --manta-help lists them.
const std::vector<SettingInfo>& settings();

struct ResolvedSetting {
  SettingInfo info;
  std::string value;   // as given, or the default
  std::string source;  // "flag", "environment" or "default"
};

/// What the environment and `args` (--manta-* flags; other words are ignored) resolve to.
/// Throws std::invalid_argument naming a bad or unknown setting and the closest valid names.
std::vector<ResolvedSetting> resolve_settings(const std::vector<std::string>& args);

/// Setting flags closest to `flag` (edit distance), best first.
std::vector<std::string> closest_settings(const std::string& flag);

/// Up to three of `names` closest to `word` (edit distance), best first: "did you mean".
std::vector<std::string> closest_names(const std::string& word,
                                       const std::vector<std::string>& names);

/// Manta's version, e.g. "0.1.0", and what it was built with (MPI, UCX, HDF5).
std::string version();
std::string build_info();

}  // namespace manta
