// The manifest of a checkpoint file as JSON text, and the checks a reader makes of it. The writer
// and the reader share these so that what one writes the other accepts.
#pragma once

#include <cstdint>
#include <string>

#include "spill/checkpoint_file.h"

namespace manta::spill::detail {

// Names inside the HDF5 file.
inline constexpr const char* kCheckpointData = "data";
inline constexpr const char* kCheckpointManifest = "manifest";
inline constexpr const char* kManifestChecksum = "checksum";  // attribute of /manifest

/// "actor 'counter'": how messages name a record.
std::string entry_label(const CheckpointEntry& e);

/// A record's meta text as the manifest keeps it (compact JSON); throws std::invalid_argument
/// saying why when it is not a JSON object. An empty text is "{}".
std::string normalized_meta(const std::string& meta);

/// The JSON text stored in /manifest.
std::string manifest_json(const CheckpointManifest& m);

/// Parses /manifest's text of the file at `path` (which names the file in messages) and checks
/// the format and that every record lies inside /data. Throws CheckpointError.
CheckpointManifest parse_manifest(const std::string& text, const std::string& path);

/// Throws CheckpointError when /data does not fit in a file of `file_size` bytes.
void check_data_in_file(const CheckpointManifest& m, std::uint64_t file_size,
                        const std::string& path);

}  // namespace manta::spill::detail
