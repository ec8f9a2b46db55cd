#include "spill/spill_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "spill/hdf5_lock.h"
#include "spill/hdf5_support.h"
#include "spill/objects_dataset.h"

namespace manta::spill {
namespace {

using detail::Handle;
using detail::ObjectsDataset;
using detail::take_hdf5_failure;

constexpr const char* kFormat = "manta spill file 1";
constexpr const char* kSpaceFix =
    "free space there or point --manta-spill-dir at another file system";
// HDF5 chunks hold less than 4 GiB, and the checksum follows the data.
constexpr std::uint64_t kMaxChunkBytes = (std::uint64_t{1} << 32) - 8;
// Rows of /index per chunk: 33 KiB, so appending a few rows rewrites little.
constexpr hsize_t kIndexChunkRows = 1024;

// One row of /index in memory; in the file it is packed into 33 bytes.
struct IndexRecord {
  std::uint64_t key_hi = 0;
  std::uint64_t key_lo = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint8_t live = 0;
};

Handle index_memory_type() {
  Handle t(H5Tcreate(H5T_COMPOUND, sizeof(IndexRecord)), H5Tclose);
  H5Tinsert(t.get(), "key_hi", offsetof(IndexRecord, key_hi), H5T_NATIVE_UINT64);
  H5Tinsert(t.get(), "key_lo", offsetof(IndexRecord, key_lo), H5T_NATIVE_UINT64);
  H5Tinsert(t.get(), "offset", offsetof(IndexRecord, offset), H5T_NATIVE_UINT64);
  H5Tinsert(t.get(), "size", offsetof(IndexRecord, size), H5T_NATIVE_UINT64);
  H5Tinsert(t.get(), "live", offsetof(IndexRecord, live), H5T_NATIVE_UINT8);
  return t;
}

Handle index_file_type() {
  Handle t(H5Tcreate(H5T_COMPOUND, 33), H5Tclose);
  H5Tinsert(t.get(), "key_hi", 0, H5T_STD_U64LE);
  H5Tinsert(t.get(), "key_lo", 8, H5T_STD_U64LE);
  H5Tinsert(t.get(), "offset", 16, H5T_STD_U64LE);
  H5Tinsert(t.get(), "size", 24, H5T_STD_U64LE);
  H5Tinsert(t.get(), "live", 32, H5T_STD_U8LE);
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct SpillFile::Impl {
  // Chunks written by one call of write(); free again once all its pieces are released.
  struct Region {
    std::uint64_t chunks = 0;
    std::uint64_t live_pieces = 0;
  };
  // A piece written and not released: its row of /index and the region holding its bytes.
  struct Placed {
    std::uint64_t row = 0;
    std::uint64_t region = 0;
    std::uint64_t key_hi = 0;
    std::uint64_t key_lo = 0;
  };

  std::string path;
  detail::ChunkCache cache;
  Handle file;
  std::unique_ptr<ObjectsDataset> objects;
  Handle index;
  Handle record_type;
  std::uint64_t chunk = 0;
  // Rows of /index in use, and its extent. Rows are never reused, not even those a failed write
  // leaves: readers learn which chunks were rewritten from the rows added since they looked.
  std::uint64_t rows = 0;
  std::uint64_t index_rows = 0;
  std::map<std::uint64_t, Region> regions;           // by first chunk
  std::map<std::uint64_t, std::uint64_t> free_runs;  // first chunk -> chunks, never adjacent
  // By (offset, size): several empty pieces may share an offset, but no two others.
  std::multimap<std::pair<std::uint64_t, std::uint64_t>, Placed> pieces;

  [[noreturn]] void fail(const std::string& doing, const char* fix) const {
    throw SpillError(fmt::format("cannot {} of spill file {}: {}; {}", doing, path,
                                 take_hdf5_failure().detail, fix));
  }

  void create(const SpillOptions& options);
  std::uint64_t allocate(std::uint64_t count);
  void give_back(std::uint64_t first, std::uint64_t count);
  void append_rows(std::span<const Piece> items, const std::vector<Extent>& extents);
  void abandon_rows() noexcept;
  void write_row(std::uint64_t row, const IndexRecord& record);
  void flush_index();
};

void SpillFile::Impl::create(const SpillOptions& options) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  // Parallel file systems without flock still work.
  H5Pset_file_locking(fapl.get(), true, true);
  // No raw chunk cache by default (/objects bypasses or must not keep chunks); /index asks
  // for its own below.
  H5Pset_cache(fapl.get(), 0, 0, 0, 1.0);
  errno = 0;
  file = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.valid()) fail("create the HDF5 layout", kSpaceFix);

  // Attributes first: nothing can be added to the file once SWMR writing starts.
  {
    Handle scalar(H5Screate(H5S_SCALAR), H5Sclose);
    Handle str(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(str.get(), std::strlen(kFormat));
    H5Tset_strpad(str.get(), H5T_STR_NULLPAD);
    Handle format(
        H5Acreate2(file.get(), "format", str.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose);
    const std::uint64_t chunk_bytes = options.chunk_bytes;
    const std::int32_t compression = options.compression;
    Handle chunk_attr(H5Acreate2(file.get(), "chunk_bytes", H5T_STD_U64LE, scalar.get(),
                                 H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose);
    Handle level_attr(H5Acreate2(file.get(), "compression", H5T_STD_I32LE, scalar.get(),
                                 H5P_DEFAULT, H5P_DEFAULT),
                      H5Aclose);
    if (!format.valid() || H5Awrite(format.get(), str.get(), kFormat) < 0 || !chunk_attr.valid() ||
        H5Awrite(chunk_attr.get(), H5T_NATIVE_UINT64, &chunk_bytes) < 0 || !level_attr.valid() ||
        H5Awrite(level_attr.get(), H5T_NATIVE_INT32, &compression) < 0) {
      fail("write the attributes", kSpaceFix);
    }
  }

  const hsize_t zero = 0;
  const hsize_t unlimited = H5S_UNLIMITED;
  Handle space(H5Screate_simple(1, &zero, &unlimited), H5Sclose);
  {
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const hsize_t chunk_dims = chunk;
    H5Pset_chunk(dcpl.get(), 1, &chunk_dims);
    // Deflate first, so the checksum covers the stored bytes and damage shows as a mismatch.
    if (options.compression > 0) H5Pset_deflate(dcpl.get(), options.compression);
    H5Pset_fletcher32(dcpl.get());
    // Every chunk is written whole, so filling it first would be wasted work.
    H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
    H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_INCR);
    Handle dapl = ObjectsDataset::access_properties();
    errno = 0;
    Handle d(H5Dcreate2(file.get(), "objects", H5T_STD_U8LE, space.get(), H5P_DEFAULT, dcpl.get(),
                        dapl.get()),
             H5Dclose);
    if (!d.valid()) fail("create /objects", kSpaceFix);
    objects =
        std::make_unique<ObjectsDataset>(std::move(d), path, ObjectsDataset::Role::writer, cache);
  }
  {
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl.get(), 1, &kIndexChunkRows);
    H5Pset_fletcher32(dcpl.get());
    Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
    H5Pset_chunk_cache(dapl.get(), 101, std::size_t{1} << 20, 1.0);
    Handle type = index_file_type();
    record_type = index_memory_type();
    errno = 0;
    index = Handle(H5Dcreate2(file.get(), "index", type.get(), space.get(), H5P_DEFAULT, dcpl.get(),
                              dapl.get()),
                   H5Dclose);
    if (!index.valid() || !record_type.valid()) fail("create /index", kSpaceFix);
  }
  errno = 0;
  if (H5Fstart_swmr_write(file.get()) < 0) fail("start SWMR writing", kSpaceFix);
}

std::uint64_t SpillFile::Impl::allocate(std::uint64_t count) {
  for (auto it = free_runs.begin(); it != free_runs.end(); ++it) {
    if (it->second < count) continue;
    const std::uint64_t first = it->first;
    const std::uint64_t rest = it->second - count;
    free_runs.erase(it);
    if (rest > 0) free_runs.emplace(first + count, rest);
    return first;
  }
  // Nothing fits: grow the dataset, starting inside a free run at its end if there is one.
  const std::uint64_t end = objects->size() / chunk;
  std::uint64_t first = end;
  if (!free_runs.empty()) {
    const auto last = std::prev(free_runs.end());
    if (last->first + last->second == end) first = last->first;
  }
  objects->set_size((first + count) * chunk);
  if (first != end) free_runs.erase(first);
  return first;
}

void SpillFile::Impl::give_back(std::uint64_t first, std::uint64_t count) {
  auto next = free_runs.lower_bound(first);
  if (next != free_runs.end() && first + count == next->first) {
    count += next->second;
    next = free_runs.erase(next);
  }
  if (next != free_runs.begin()) {
    const auto prev = std::prev(next);
    if (prev->first + prev->second == first) {
      prev->second += count;
      return;
    }
  }
  free_runs.emplace(first, count);
}

void SpillFile::Impl::append_rows(std::span<const Piece> items,
                                  const std::vector<Extent>& extents) {
  std::vector<IndexRecord> records(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    records[i] = {items[i].key_hi, items[i].key_lo, extents[i].offset, extents[i].size, 1};
  }
  const hsize_t needed = rows + items.size();
  errno = 0;
  if (needed > index_rows) {
    if (H5Dset_extent(index.get(), &needed) < 0) fail("grow /index", kSpaceFix);
    index_rows = needed;
  }
  const hsize_t start = rows;
  const hsize_t count = items.size();
  Handle space(H5Dget_space(index.get()), H5Sclose);
  Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
  if (!space.valid() || !memory.valid() ||
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0 ||
      H5Dwrite(index.get(), record_type.get(), memory.get(), space.get(), H5P_DEFAULT,
               records.data()) < 0) {
    fail(fmt::format("write {} rows to /index", count), kSpaceFix);
  }
}

void SpillFile::Impl::abandon_rows() noexcept {
  if (index_rows <= rows) return;
  // Mark what a failed write may have left as dead, if the file still takes writes.
  const hsize_t start = rows;
  const hsize_t count = index_rows - rows;
  try {
    const std::vector<IndexRecord> dead(count);
    Handle space(H5Dget_space(index.get()), H5Sclose);
    Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (space.valid() && memory.valid() &&
        H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) >= 0) {
      H5Dwrite(index.get(), record_type.get(), memory.get(), space.get(), H5P_DEFAULT, dead.data());
    }
  } catch (...) {
    // Out of memory for the dead rows: they stay as they are.
  }
  H5Eclear2(H5E_DEFAULT);
  rows = index_rows;
}

void SpillFile::Impl::write_row(std::uint64_t row, const IndexRecord& record) {
  const hsize_t start = row;
  const hsize_t count = 1;
  Handle space(H5Dget_space(index.get()), H5Sclose);
  Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
  errno = 0;
  if (!space.valid() || !memory.valid() ||
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0 ||
      H5Dwrite(index.get(), record_type.get(), memory.get(), space.get(), H5P_DEFAULT, &record) <
          0) {
    fail(fmt::format("update row {} of /index", row), kSpaceFix);
  }
}

void SpillFile::Impl::flush_index() {
  errno = 0;
  if (H5Dflush(index.get()) < 0) fail("flush /index", kSpaceFix);
}

SpillFile::SpillFile(std::string path) : path_(std::move(path)) {}

SpillFile::~SpillFile() {
  // Closing the file's identifiers is HDF5 work too.
  const auto lock = hdf5_lock();
  impl_.reset();
}

std::unique_ptr<SpillFile> SpillFile::create(const std::string& path, const SpillOptions& options) {
  const auto lock = hdf5_lock();
  detail::quiet_hdf5();
  if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxChunkBytes) {
    throw SpillError(
        fmt::format("cannot create spill file {}: chunk size {} is not between 1 byte and 4 GiB",
                    path, options.chunk_bytes));
  }
  if (options.compression < 0 || options.compression > 9) {
    throw SpillError(
        fmt::format("cannot create spill file {}: compression level {} is not between 0 and 9",
                    path, options.compression));
  }
  // O_EXCL: a file already there belongs to someone else; 0600: spilled objects are private.
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    const char* fix = err == EEXIST ? "remove it or point --manta-spill-dir at another directory"
                      : err == ENOSPC || err == EDQUOT || err == EFBIG
                          ? kSpaceFix
                          : "point --manta-spill-dir at a writable directory";
    throw SpillError(
        fmt::format("cannot create spill file {}: {}; {}", path, std::strerror(err), fix));
  }
  ::close(fd);
  std::unique_ptr<SpillFile> f(new SpillFile(path));
  try {
    f->impl_ = std::make_unique<Impl>();
    f->impl_->path = path;
    f->impl_->chunk = options.chunk_bytes;
    f->impl_->create(options);
  } catch (...) {
    f.reset();
    ::unlink(path.c_str());
    throw;
  }
  return f;
}

std::vector<Extent> SpillFile::write(std::span<const Piece> pieces) {
  const auto lock = hdf5_lock();
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  std::uint64_t total = 0;
  std::uint64_t nonempty = 0;
  for (const Piece& p : pieces) {
    if (p.size == 0) continue;
    if (p.data == nullptr || total + p.size < total) {
      throw SpillError(
          fmt::format("cannot write to spill file {}: a piece of {} bytes has no data or the "
                      "pieces add up to more than 2^64 bytes",
                      path_, p.size));
    }
    total += p.size;
    ++nonempty;
  }
  if (pieces.empty()) return {};
  const std::uint64_t chunks = total / m.chunk + (total % m.chunk != 0 ? 1 : 0);
  const std::uint64_t first = chunks > 0 ? m.allocate(chunks) : 0;
  std::vector<Extent> extents(pieces.size());
  std::uint64_t at = first * m.chunk;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    extents[i] = {at, pieces[i].size};
    at += pieces[i].size;
  }
  try {
    const std::vector<std::uint32_t> sums = m.objects->write_chunks(first, chunks, pieces);
    for (Extent& e : extents) {
      const std::span<const std::uint32_t> under =
          e.size == 0
              ? std::span<const std::uint32_t>()
              : std::span(sums).subspan(e.offset / m.chunk - first,
                                        (e.offset + e.size - 1) / m.chunk - e.offset / m.chunk + 1);
      e.check = detail::extent_check(e, m.chunk, under);
    }
    m.append_rows(pieces, extents);
    // Readers in other processes see the chunks and their index once this returns.
    m.objects->flush();
    m.flush_index();
  } catch (...) {
    if (chunks > 0) m.give_back(first, chunks);
    m.abandon_rows();
    stats_.file_bytes = m.objects->size();
    throw;
  }
  if (chunks > 0) m.regions[first] = {chunks, nonempty};
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    m.pieces.emplace(std::pair{extents[i].offset, extents[i].size},
                     Impl::Placed{m.rows + i, first, pieces[i].key_hi, pieces[i].key_lo});
  }
  m.rows += pieces.size();
  stats_.live_bytes += total;
  stats_.file_bytes = m.objects->size();
  stats_.writes += 1;
  stats_.pieces_written += pieces.size();
  stats_.bytes_written += total;
  stats_.write_seconds += seconds_since(start);
  return extents;
}

void SpillFile::read(const Extent& e, std::byte* out) {
  const auto lock = hdf5_lock();
  const auto start = std::chrono::steady_clock::now();
  impl_->objects->read(e, out);
  stats_.reads += 1;
  stats_.bytes_read += e.size;
  stats_.read_seconds += seconds_since(start);
}

void SpillFile::release(const Extent& e) {
  const auto lock = hdf5_lock();
  Impl& m = *impl_;
  const auto it = m.pieces.find(std::pair{e.offset, e.size});
  if (it == m.pieces.end()) {
    throw SpillError(
        fmt::format("cannot release {} bytes at offset {} of spill file {}: no live piece is there "
                    "(released twice?)",
                    e.size, e.offset, path_));
  }
  const Impl::Placed placed = it->second;
  // The index first: if that fails, nothing has changed and the caller may try again.
  m.write_row(placed.row, IndexRecord{placed.key_hi, placed.key_lo, e.offset, e.size, 0});
  m.pieces.erase(it);
  stats_.live_bytes -= e.size;
  if (e.size == 0) return;
  const auto region = m.regions.find(placed.region);
  if (region != m.regions.end() && --region->second.live_pieces == 0) {
    m.give_back(region->first, region->second.chunks);
    m.regions.erase(region);
  }
}

}  // namespace manta::spill
