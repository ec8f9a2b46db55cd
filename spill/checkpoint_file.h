// A whole-job checkpoint on disk: one HDF5 file, DIR/checkpoint.h5, that every rank writes its
// own part of in parallel (parallel HDF5 over MPI-IO), and a manifest inside it that says what the
// file holds and how to check it. Any number of ranks reads it back: a record is found by the
// manifest and read with plain positioned reads (the data set is contiguous and unfiltered), so
// readers need neither MPI nor the HDF5 library's single thread.
//
//   /manifest  the manifest, JSON text (h5dump shows it), with the checksum of every record
//   /data      every record's bytes, rank 0's part first, then rank 1's, ...
//
// A checkpoint is written to DIR/checkpoint.h5.part and renamed over DIR/checkpoint.h5 only
// once every rank's part is on disk, so a job killed while writing keeps the previous one.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/buffer.h>

namespace manta::spill {

/// A checkpoint that cannot be written or read: the message names the file and the problem.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One record as the manifest lists it.
struct CheckpointEntry {
  std::string kind;          // what wrote it: "actor", "object", "driver"
  std::string name;          // unique within its kind
  std::string meta;          // JSON object text the writer attached (class, options, ...)
  int rank = 0;              // the rank that wrote it
  std::uint64_t offset = 0;  // of its bytes in /data
  std::uint64_t size = 0;
  std::uint64_t checksum = 0;  // checkpoint_checksum of its bytes
};

struct CheckpointManifest {
  std::string format;       // kCheckpointFormat
  std::string program;      // who wrote it (see write_checkpoint)
  std::string fingerprint;  // of the writing program's registered functions
  int world_size = 0;       // ranks that wrote it
  std::int64_t created_ms = 0;
  std::uint64_t data_bytes = 0;          // size of /data
  std::uint64_t data_address = 0;        // file offset of /data's first byte
  std::vector<CheckpointEntry> entries;  // by rank, then in each rank's order
};

inline constexpr const char* kCheckpointFormat = "manta-checkpoint-1";

/// A record one rank contributes: `bytes` must stay valid during the write.
struct CheckpointRecord {
  std::string kind;
  std::string name;
  std::string meta;  // JSON object text, "{}" when empty
  std::span<const std::byte> bytes;
};

struct CheckpointWritten {
  CheckpointManifest manifest;  // the same on every rank
  std::string path;             // DIR/checkpoint.h5
  double seconds = 0;           // from entering to the rename, on this rank
  std::uint64_t bytes = 0;      // all ranks' record bytes
};

/// The checksum of record bytes (64-bit, fast enough not to slow a write or a read).
std::uint64_t checkpoint_checksum(std::span<const std::byte> bytes);

/// DIR/checkpoint.h5.
std::string checkpoint_path(const std::string& dir);

/// Collective over `comm` (every rank calls it, each with its own records): makes DIR if needed,
/// writes DIR/checkpoint.h5.part with every rank writing its part of /data at once, flushes it to
/// disk (fsync) when `sync` is set, and renames it to DIR/checkpoint.h5. `local_error`: a rank
/// that could not produce its records passes why; then nothing is written and every rank throws
/// CheckpointError with the first failing rank's reason. Also throws CheckpointError (on every
/// rank) when the file cannot be written, naming the path and the cause. Call only from the
/// thread that may use HDF5, with no other MPI call running on `comm` meanwhile.
CheckpointWritten write_checkpoint(MPI_Comm comm, const std::string& dir,
                                   const std::string& program, const std::string& fingerprint,
                                   const std::vector<CheckpointRecord>& records,
                                   const std::string& local_error = {}, bool sync = true);

/// Reads and checks DIR/checkpoint.h5's manifest (the format, the manifest's own checksum, the
/// records' bounds), on one rank, without MPI. Throws CheckpointError saying what is wrong: no
/// such file, not a checkpoint, damaged manifest, a newer format.
CheckpointManifest read_checkpoint_manifest(const std::string& dir);

/// Reads one record's bytes with positioned reads and checks its checksum. Thread-safe; no HDF5.
/// Throws CheckpointError naming the record, the file and the problem (short read, mismatch).
SharedBuffer read_checkpoint_entry(const std::string& dir, const CheckpointManifest& manifest,
                                   const CheckpointEntry& entry);

/// Collective over `comm`: every record's checksum is checked, the records shared out among the
/// ranks so they read in parallel. Returns "" when all match, else the first problem (the same
/// text on every rank).
std::string verify_checkpoint(MPI_Comm comm, const std::string& dir,
                              const CheckpointManifest& manifest);

}  // namespace manta::spill
