// Small text helpers that several reports and error messages share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace manta::engine {

/// Bytes for people: "512 B", "1.5 MiB", "3.0 GiB".
std::string human_bytes(std::uint64_t bytes);

/// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);

/// Up to three of `names` closest to `word`, best first, leaving out those too far to help.
std::vector<std::string> closest_names(const std::string& word,
                                       const std::vector<std::string>& names);

}  // namespace manta::engine
