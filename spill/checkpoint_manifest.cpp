#include "spill/checkpoint_manifest.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace manta::spill::detail {
namespace {

using nlohmann::json;

constexpr std::string_view kFormatPrefix = "manta-checkpoint-";
constexpr int kFormatVersion = 1;

// Checksums are hexadecimal strings: JSON numbers above 2^53 lose digits in many readers.
std::string hex64(std::uint64_t v) { return fmt::format("{:016x}", v); }

std::uint64_t parse_hex64(const std::string& s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    throw std::invalid_argument("checksum '" + s + "' is not a hexadecimal number");
  }
  return v;
}

}  // namespace

std::string entry_label(const CheckpointEntry& e) { return fmt::format("{} '{}'", e.kind, e.name); }

std::string normalized_meta(const std::string& meta) {
  if (meta.empty()) return "{}";
  const json j = json::parse(meta, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw std::invalid_argument("meta is not JSON: " + meta);
  if (!j.is_object()) throw std::invalid_argument("meta is not a JSON object: " + meta);
  return j.dump();
}

std::string manifest_json(const CheckpointManifest& m) {
  json entries = json::array();
  for (const CheckpointEntry& e : m.entries) {
    entries.push_back({{"kind", e.kind},
                       {"name", e.name},
                       {"rank", e.rank},
                       {"offset", e.offset},
                       {"size", e.size},
                       {"checksum", hex64(e.checksum)},
                       {"meta", json::parse(e.meta)}});
  }
  const json j = {{"format", m.format},
                  {"program", m.program},
                  {"fingerprint", m.fingerprint},
                  {"world_size", m.world_size},
                  {"created_ms", m.created_ms},
                  {"data_bytes", m.data_bytes},
                  {"data_address", m.data_address},
                  {"entries", std::move(entries)}};
  return j.dump(1);
}

CheckpointManifest parse_manifest(const std::string& text, const std::string& path) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("format") || !j["format"].is_string()) {
    throw CheckpointError(
        fmt::format("{} is not a Manta checkpoint (/manifest is not a checkpoint manifest)", path));
  }
  const std::string format = j["format"].get<std::string>();
  if (format.rfind(kFormatPrefix, 0) != 0) {
    throw CheckpointError(
        fmt::format("{} is not a Manta checkpoint (its format is '{}')", path, format));
  }
  int version = 0;
  const char* digits = format.data() + kFormatPrefix.size();
  const auto [end, ec] = std::from_chars(digits, format.data() + format.size(), version);
  if (ec != std::errc() || end != format.data() + format.size() || version < kFormatVersion) {
    throw CheckpointError(
        fmt::format("{} is not a Manta checkpoint (its format is '{}')", path, format));
  }
  if (version > kFormatVersion) {
    throw CheckpointError(fmt::format(
        "{} was written by a newer format {} (this program reads {}): restore it with the Manta "
        "version that wrote it",
        path, format, kCheckpointFormat));
  }

  CheckpointManifest m;
  try {
    m.format = format;
    m.program = j.at("program").get<std::string>();
    m.fingerprint = j.at("fingerprint").get<std::string>();
    m.world_size = j.at("world_size").get<int>();
    m.created_ms = j.at("created_ms").get<std::int64_t>();
    m.data_bytes = j.at("data_bytes").get<std::uint64_t>();
    m.data_address = j.at("data_address").get<std::uint64_t>();
    for (const json& e : j.at("entries")) {
      CheckpointEntry entry;
      entry.kind = e.at("kind").get<std::string>();
      entry.name = e.at("name").get<std::string>();
      entry.rank = e.at("rank").get<int>();
      entry.offset = e.at("offset").get<std::uint64_t>();
      entry.size = e.at("size").get<std::uint64_t>();
      entry.checksum = parse_hex64(e.at("checksum").get<std::string>());
      const json& meta = e.at("meta");
      if (!meta.is_object()) throw std::invalid_argument("the meta of a record is not an object");
      entry.meta = meta.dump();
      m.entries.push_back(std::move(entry));
    }
  } catch (const std::exception& e) {
    throw CheckpointError(
        fmt::format("{}: the manifest is damaged (its checksum matches, but {})", path, e.what()));
  }

  for (const CheckpointEntry& e : m.entries) {
    if (e.offset > m.data_bytes || e.size > m.data_bytes - e.offset || e.rank < 0 ||
        e.rank >= m.world_size) {
      throw CheckpointError(fmt::format(
          "{}: the manifest is damaged: record {} of rank {} (bytes {} to {}) lies outside /data "
          "({} bytes, {} ranks)",
          path, entry_label(e), e.rank, e.offset, e.offset + e.size, m.data_bytes, m.world_size));
    }
  }
  return m;
}

void check_data_in_file(const CheckpointManifest& m, std::uint64_t file_size,
                        const std::string& path) {
  if (m.data_bytes == 0) return;
  if (m.data_address > file_size || m.data_bytes > file_size - m.data_address) {
    throw CheckpointError(
        fmt::format("{} is truncated: /data ends at byte {} but the file has {} bytes", path,
                    m.data_address + m.data_bytes, file_size));
  }
}

}  // namespace manta::spill::detail
