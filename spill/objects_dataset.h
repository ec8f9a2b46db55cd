// The `/objects` dataset of a spill file: bytes in fixed-size chunks, each with a Fletcher-32
// checksum. Shared by the writer (SpillFile) and by readers of other ranks' files (SpillReader).
//
// Without compression, chunks move with H5Dwrite_chunk/H5Dread_chunk and this layer computes
// and checks the checksum itself (the same one HDF5's filter uses, so h5dump and the library
// read these chunks): the library's pipeline would copy every chunk twice more and check it
// with a slower checksum. With deflate, chunks go through the library's filter pipeline.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spill/hdf5_support.h"
#include "spill/spill_file.h"

namespace manta::spill::detail {

/// One chunk kept after a read that needed only part of it, so that the small pieces of one
/// batch are read with one chunk read. A SpillFile has its own; the files of a SpillReader share
/// one, so that many open files cost one chunk of memory.
struct ChunkCache {
  std::unique_ptr<std::byte[]> bytes;
  std::uint64_t capacity = 0;
  const void* owner = nullptr;  // the ObjectsDataset whose chunk `bytes` holds, if any
  std::uint64_t chunk = 0;
  std::uint32_t sum = 0;  // its checksum, checked when it was read
};

/// The check of an extent (Extent::check, never 0): a digest of its offset within its first
/// chunk, its size, and the checksums of the chunks it lies in, in order.
std::uint64_t extent_check(const Extent& e, std::uint64_t chunk_bytes,
                           std::span<const std::uint32_t> sums);

// Each method holds the process's HDF5 lock (spill/hdf5_lock.h) while it works. The owner holds
// it too when it makes or destroys one, so that handles closed on the way out are closed under it.
class ObjectsDataset {
 public:
  enum class Role { writer, reader };

  /// Takes the open dataset; `path` names the file in messages; `cache` outlives this object.
  ObjectsDataset(Handle dataset, std::string path, Role role, ChunkCache& cache);
  ~ObjectsDataset();
  ObjectsDataset(const ObjectsDataset&) = delete;
  ObjectsDataset& operator=(const ObjectsDataset&) = delete;

  /// The dataset access properties both roles open `/objects` with: no library chunk cache,
  /// so that every chunk the library reads comes from the file and is checked there.
  static Handle access_properties();

  [[nodiscard]] std::uint64_t chunk_bytes() const { return chunk_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  /// The shared cache holds one of this dataset's chunks.
  [[nodiscard]] bool caching() const { return cache_.owner == this; }
  /// The chunks under [offset, offset + size) were rewritten: drop them from the cache.
  void forget(std::uint64_t offset, std::uint64_t size);

  /// Writer: grows or shrinks the dataset to `bytes` (a multiple of the chunk size).
  void set_size(std::uint64_t bytes);
  /// Writer: writes `pieces` back to back from the start of chunk `first`, filling `count`
  /// whole chunks (the end of the last one is zeros). Returns the checksum of each chunk's
  /// bytes (for extent_check). Throws SpillError.
  std::vector<std::uint32_t> write_chunks(std::uint64_t first, std::uint64_t count,
                                          std::span<const Piece> pieces);
  /// Writer: makes what was written visible to readers in other processes.
  void flush();
  /// Reads `e` into `out`, checking every chunk it touches (and `e.check` when set). Throws
  /// CorruptSpillError naming the cause (truncated, missing chunk, checksum mismatch) when the
  /// bytes are gone or damaged, SpillError otherwise.
  void read(const Extent& e, std::byte* out);
  /// Rereads the dataset's size and chunk index from the file (for a reader).
  void refresh();

 private:
  // Where chunk `c` is stored in the file; size 0 when it is not.
  struct Stored {
    haddr_t address = 0;
    hsize_t size = 0;
  };
  [[nodiscard]] Stored stored(std::uint64_t c);
  // Finds chunk `c` and checks that it lies inside the file as it is now (`file_bytes`): the
  // library reads zeros past the end of a file, and a missing chunk as fill values (zeros).
  Stored locate(std::uint64_t c, const Extent& e, std::uint64_t file_bytes);
  // Reads chunk `c` into `buf` (chunk_ + 4 bytes) and checks it; returns its checksum.
  std::uint32_t load(std::uint64_t c, std::byte* buf, const Extent& e, std::uint64_t file_bytes);
  // The cache's buffer holding chunk `c` of this dataset, read now if it holds another.
  const std::byte* cached(std::uint64_t c, const Extent& e, std::uint64_t file_bytes);
  // The size of the file now, as the operating system sees it.
  [[nodiscard]] std::uint64_t file_bytes() const;
  std::byte* staging();
  [[noreturn]] void fail_read(const Extent& e, std::uint64_t c);
  [[noreturn]] void corrupt(const Extent& e, const std::string& cause) const;

  Handle dataset_;
  std::string path_;
  Role role_;
  ChunkCache& cache_;
  std::uint64_t chunk_ = 0;
  std::uint64_t size_ = 0;
  // Fletcher-32 is the only filter, so chunks bypass the library's pipeline.
  bool direct_ = false;
  // The library's descriptor of the file (sec2 driver), to learn its size even after it was
  // unlinked; -1 when the driver has none (the path is used then).
  int fd_ = -1;
  // One chunk plus its checksum, where the writer gathers pieces.
  std::unique_ptr<std::byte[]> staging_;
};

}  // namespace manta::spill::detail
