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
};

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
  /// whole chunks (the end of the last one is zeros). Throws SpillError.
  void write_chunks(std::uint64_t first, std::uint64_t count, std::span<const Piece> pieces);
  /// Writer: makes what was written visible to readers in other processes.
  void flush();
  /// Reads `e` into `out`. Throws CorruptSpillError when a checksum fails, SpillError otherwise.
  void read(const Extent& e, std::byte* out);
  /// Rereads the dataset's size and chunk index from the file (for a reader).
  void refresh();

 private:
  // Reads chunk `c` with its checksum into `buf` (chunk_ + 4 bytes) and checks it.
  void load_raw(std::uint64_t c, std::byte* buf, const Extent& e);
  // Checks that every chunk `e` touches has been written: the library would read fill values.
  void require_chunks(const Extent& e);
  [[noreturn]] void never_written(const Extent& e, std::uint64_t c) const;
  [[nodiscard]] std::uint64_t stored_bytes(std::uint64_t c);
  // The cache's buffer holding chunk `c` of this dataset, read now if it holds another.
  const std::byte* cached(std::uint64_t c, const Extent& e);
  std::byte* staging();
  [[noreturn]] void fail_read(const Extent& e);
  [[noreturn]] void corrupt(const Extent& e) const;

  Handle dataset_;
  std::string path_;
  Role role_;
  ChunkCache& cache_;
  std::uint64_t chunk_ = 0;
  std::uint64_t size_ = 0;
  // Fletcher-32 is the only filter, so chunks bypass the library's pipeline.
  bool direct_ = false;
  // One chunk plus its checksum, where the writer gathers pieces.
  std::unique_ptr<std::byte[]> staging_;
};

}  // namespace manta::spill::detail
