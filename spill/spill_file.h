// One rank's spill file: an HDF5 file holding object bytes in one chunked byte dataset
// (`/objects`, Fletcher32 on every chunk, optional deflate) and a table of what is where
// (`/index`). The file is opened for single-writer/multiple-reader access, so other ranks that
// see the same file system read objects from it while this rank keeps writing.
//
// HDF5 is not thread-safe here: every method of SpillFile and SpillReader holds the process's
// HDF5 lock (spill/hdf5_lock.h) while it works, so that datasets' tasks on worker threads may use
// HDF5 at the same time. One object is still used by one thread at a time (the runtime uses its
// I/O thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spill/spill_error.h"

namespace manta::spill {

/// Where an object's bytes lie in the `/objects` dataset of a spill file, and what they must
/// read back as.
struct Extent {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  /// A digest of the checksums of the chunks the bytes lie in, as written (never 0), or 0 when
  /// unknown. Every chunk's own checksum is checked on every read; this also catches a chunk
  /// whose bytes and checksum were both replaced, e.g. zeros where a file was cut short or
  /// overwritten (the checksum of zeros is zero), which no checksum stored beside the bytes can.
  std::uint64_t check = 0;
};

struct SpillOptions {
  /// Chunk size of `/objects`; writes are aligned to chunks.
  std::uint64_t chunk_bytes = std::uint64_t{4} << 20;
  /// deflate level 1-9, 0 for none.
  int compression = 0;
};

/// An object to write: its 128-bit id and its bytes.
struct Piece {
  std::uint64_t key_hi = 0;
  std::uint64_t key_lo = 0;
  const std::byte* data = nullptr;
  std::uint64_t size = 0;
};

class SpillFile {
 public:
  struct Stats {
    std::uint64_t live_bytes = 0;  // bytes of pieces written and not released
    std::uint64_t file_bytes = 0;  // extent of `/objects`
    std::uint64_t writes = 0;      // calls of write()
    std::uint64_t pieces_written = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t reads = 0;
    std::uint64_t bytes_read = 0;
    double write_seconds = 0;  // time inside write(), for throughput
    double read_seconds = 0;
  };

  /// Creates `path` with mode 0600 (an existing file is an error) and opens it for writing.
  static std::unique_ptr<SpillFile> create(const std::string& path, const SpillOptions& options);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  /// Writes `pieces` back to back into one chunk-aligned region (reusing released chunks when
  /// a region fits, else at the end) and adds them to `/index`. Returns each piece's extent.
  /// Throws SpillError naming the path (e.g. the disk is full); nothing is recorded then.
  std::vector<Extent> write(std::span<const Piece> pieces);
  /// Reads `e` into `out` (e.size bytes). Throws CorruptSpillError naming the cause when the
  /// file was truncated under the bytes, a chunk is missing, or a checksum (a chunk's, or
  /// `e.check`) does not match; `out` then holds nothing usable.
  void read(const Extent& e, std::byte* out);
  /// The piece at `e` is no longer needed; once every piece of a write is released its chunks
  /// are reused by later writes.
  void release(const Extent& e);

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] Stats stats() const { return stats_; }

 private:
  struct Impl;
  explicit SpillFile(std::string path);
  std::string path_;
  std::unique_ptr<Impl> impl_;
  Stats stats_;
};

/// Reads extents of spill files other ranks write (read-only, SWMR), keeping files open.
class SpillReader {
 public:
  SpillReader();
  ~SpillReader();
  SpillReader(const SpillReader&) = delete;
  SpillReader& operator=(const SpillReader&) = delete;
  /// Throws UnreachableSpillError when the file cannot be opened, CorruptSpillError when the
  /// bytes are gone or damaged (as SpillFile::read), SpillError otherwise.
  void read(const std::string& path, const Extent& e, std::byte* out);
  void close_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace manta::spill
