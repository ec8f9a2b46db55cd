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

/// The region of a spill file that holds the bytes asked for is gone or damaged: the file was
/// truncated, a chunk is missing, or bytes read back do not match their checksum. The message
/// names the file and which of these it is; no bytes of the read are usable.
class CorruptSpillError : public SpillError {
 public:
  using SpillError::SpillError;
};

/// Another rank's spill file could not be opened (e.g. it is on a disk this node does not see):
/// the rank that wrote it can still read it.
class UnreachableSpillError : public SpillError {
 public:
  using SpillError::SpillError;
};

}  // namespace manta::spill
