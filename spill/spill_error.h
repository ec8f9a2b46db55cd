// Errors of the spill layer. Messages name the file or directory and the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace manta::spill {

/// A spill directory or file could not be created, written or read.
class SpillError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bytes read back do not match their checksum: the file was changed or damaged on disk.
class CorruptSpillError : public SpillError {
 public:
  using SpillError::SpillError;
};

}  // namespace manta::spill
