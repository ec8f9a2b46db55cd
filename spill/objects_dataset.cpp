#include "spill/objects_dataset.h"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "spill/fletcher32.h"
#include "spill/hdf5_lock.h"
#include "spill/spill_error.h"

namespace manta::spill::detail {
namespace {

constexpr std::uint64_t kChecksumBytes = 4;
constexpr const char* kSpaceFix =
    "free space there or point --manta-spill-dir at another file system";

// HDF5's filter stores the checksum after the chunk, least significant byte first.
void put_checksum(std::byte* at, std::uint32_t sum) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::byte>((sum >> (8 * i)) & 0xffu);
}

std::uint32_t get_checksum(const std::byte* at) {
  std::uint32_t sum = 0;
  for (int i = 0; i < 4; ++i) sum |= std::to_integer<std::uint32_t>(at[i]) << (8 * i);
  return sum;
}

Handle file_space(hid_t dataset, hsize_t offset, hsize_t count) {
  Handle space(H5Dget_space(dataset), H5Sclose);
  if (!space.valid() ||
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &offset, nullptr, &count, nullptr) < 0) {
    return {};
  }
  return space;
}

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t extent_check(const Extent& e, std::uint64_t chunk_bytes,
                           std::span<const std::uint32_t> sums) {
  // Each step is a bijection of the running value, so one changed checksum always changes it.
  std::uint64_t h = mix(e.size ^ 0x6d616e7461ull) ^ (e.offset % chunk_bytes);
  for (const std::uint32_t s : sums) h = mix(h ^ (s + 0x9e3779b97f4a7c15ull));
  return h == 0 ? 1 : h;
}

ObjectsDataset::ObjectsDataset(Handle dataset, std::string path, Role role, ChunkCache& cache)
    : dataset_(std::move(dataset)), path_(std::move(path)), role_(role), cache_(cache) {
  const auto lock = hdf5_lock();
  Handle dcpl(H5Dget_create_plist(dataset_.get()), H5Pclose);
  hsize_t chunk = 0;
  Handle space(H5Dget_space(dataset_.get()), H5Sclose);
  hsize_t size = 0;
  errno = 0;
  if (!dcpl.valid() || H5Pget_chunk(dcpl.get(), 1, &chunk) != 1 || chunk == 0 || !space.valid() ||
      H5Sget_simple_extent_dims(space.get(), &size, nullptr) != 1) {
    throw SpillError(
        fmt::format("{} is not a Manta spill file: /objects is not a chunked byte array ({})",
                    path_, take_hdf5_failure().detail));
  }
  chunk_ = chunk;
  size_ = size;
  // Chunks can bypass the library only when Fletcher-32 is their one filter.
  const int filters = H5Pget_nfilters(dcpl.get());
  unsigned flags = 0;
  std::size_t nvalues = 0;
  direct_ = filters == 1 && H5Pget_filter2(dcpl.get(), 0, &flags, &nvalues, nullptr, 0, nullptr,
                                           nullptr) == H5Z_FILTER_FLETCHER32;
  Handle file(H5Iget_file_id(dataset_.get()), H5Fclose);
  Handle fapl(file.valid() ? H5Fget_access_plist(file.get()) : H5I_INVALID_HID, H5Pclose);
  void* handle = nullptr;
  if (fapl.valid() && H5Pget_driver(fapl.get()) == H5FD_SEC2 &&
      H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) >= 0 && handle != nullptr) {
    fd_ = *static_cast<int*>(handle);
  }
  H5Eclear2(H5E_DEFAULT);
}

ObjectsDataset::~ObjectsDataset() {
  // Another dataset may later live at this address.
  if (caching()) cache_.owner = nullptr;
  const auto lock = hdf5_lock();
  dataset_.reset();
}

void ObjectsDataset::forget(std::uint64_t offset, std::uint64_t size) {
  if (!caching() || size == 0) return;
  if (cache_.chunk >= offset / chunk_ && cache_.chunk <= (offset + size - 1) / chunk_) {
    cache_.owner = nullptr;
  }
}

const std::byte* ObjectsDataset::cached(std::uint64_t c, const Extent& e,
                                        std::uint64_t file_bytes) {
  if (caching() && cache_.chunk == c) return cache_.bytes.get();
  cache_.owner = nullptr;
  if (cache_.capacity < chunk_ + kChecksumBytes) {
    cache_.bytes.reset();
    cache_.bytes.reset(new std::byte[chunk_ + kChecksumBytes]);
    cache_.capacity = chunk_ + kChecksumBytes;
  }
  cache_.sum = load(c, cache_.bytes.get(), e, file_bytes);
  cache_.owner = this;
  cache_.chunk = c;
  return cache_.bytes.get();
}

Handle ObjectsDataset::access_properties() {
  const auto lock = hdf5_lock();
  Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0);
  return dapl;
}

std::byte* ObjectsDataset::staging() {
  if (!staging_) staging_.reset(new std::byte[chunk_ + kChecksumBytes]);
  return staging_.get();
}

void ObjectsDataset::set_size(std::uint64_t bytes) {
  const auto lock = hdf5_lock();
  const hsize_t dims = bytes;
  errno = 0;
  if (H5Dset_extent(dataset_.get(), &dims) < 0) {
    throw SpillError(fmt::format("cannot resize /objects of spill file {} to {} bytes: {}; {}",
                                 path_, bytes, take_hdf5_failure().detail, kSpaceFix));
  }
  size_ = bytes;
}

std::vector<std::uint32_t> ObjectsDataset::write_chunks(std::uint64_t first, std::uint64_t count,
                                                        std::span<const Piece> pieces) {
  const auto lock = hdf5_lock();
  forget(first * chunk_, count * chunk_);
  std::vector<std::uint32_t> sums;
  sums.reserve(count);
  std::size_t next = 0;      // piece to copy from
  std::uint64_t within = 0;  // bytes of it already placed
  auto skip_done = [&] {
    while (next < pieces.size() && within == pieces[next].size) {
      ++next;
      within = 0;
    }
  };
  // Copies the next chunk's worth of piece bytes into `dst`, zeros after the last piece.
  auto gather = [&](std::byte* dst) {
    std::uint64_t filled = 0;
    skip_done();
    while (filled < chunk_ && next < pieces.size()) {
      const std::uint64_t n = std::min(chunk_ - filled, pieces[next].size - within);
      std::memcpy(dst + filled, pieces[next].data + within, n);
      filled += n;
      within += n;
      skip_done();
    }
    if (filled < chunk_) std::memset(dst + filled, 0, chunk_ - filled);
  };
  Handle memory;
  if (!direct_) {
    const hsize_t n = chunk_;
    memory = Handle(H5Screate_simple(1, &n, nullptr), H5Sclose);
  }
  for (std::uint64_t c = first; c < first + count; ++c) {
    const hsize_t offset = c * chunk_;
    herr_t status = 0;
    errno = 0;
    if (direct_) {
      // The checksum must follow the chunk in one buffer, so even a large piece is copied
      // once; the copy is still in cache when it is summed.
      std::byte* buf = staging();
      gather(buf);
      sums.push_back(fletcher32(buf, chunk_));
      put_checksum(buf + chunk_, sums.back());
      status =
          H5Dwrite_chunk(dataset_.get(), H5P_DEFAULT, 0, &offset, chunk_ + kChecksumBytes, buf);
    } else {
      // Whole chunks only, so the library never reads a chunk back to merge into it. A chunk
      // inside one piece is compressed straight from the piece's memory.
      skip_done();
      const std::byte* src = nullptr;
      if (next < pieces.size() && pieces[next].size - within >= chunk_) {
        src = pieces[next].data + within;
        within += chunk_;
      } else {
        gather(staging());
        src = staging();
      }
      // The library sums the compressed bytes; readers check these sums of the plain ones.
      sums.push_back(fletcher32(src, chunk_));
      Handle space = file_space(dataset_.get(), offset, chunk_);
      status = space.valid() ? H5Dwrite(dataset_.get(), H5T_NATIVE_UINT8, memory.get(), space.get(),
                                        H5P_DEFAULT, src)
                             : -1;
    }
    if (status < 0) {
      throw SpillError(fmt::format("cannot write {} bytes at offset {} of spill file {}: {}; {}",
                                   count * chunk_, first * chunk_, path_,
                                   take_hdf5_failure().detail, kSpaceFix));
    }
  }
  return sums;
}

void ObjectsDataset::flush() {
  const auto lock = hdf5_lock();
  errno = 0;
  if (H5Dflush(dataset_.get()) < 0) {
    throw SpillError(fmt::format("cannot flush /objects of spill file {}: {}; {}", path_,
                                 take_hdf5_failure().detail, kSpaceFix));
  }
}

void ObjectsDataset::refresh() {
  const auto lock = hdf5_lock();
  hsize_t size = 0;
  errno = 0;
  if (H5Drefresh(dataset_.get()) < 0) {
    throw SpillError(fmt::format("cannot refresh /objects of spill file {}: {}", path_,
                                 take_hdf5_failure().detail));
  }
  Handle space(H5Dget_space(dataset_.get()), H5Sclose);
  if (!space.valid() || H5Sget_simple_extent_dims(space.get(), &size, nullptr) != 1) {
    throw SpillError(fmt::format("cannot read the size of /objects of spill file {}: {}", path_,
                                 take_hdf5_failure().detail));
  }
  size_ = size;
}

ObjectsDataset::Stored ObjectsDataset::stored(std::uint64_t c) {
  const hsize_t offset = c * chunk_;
  unsigned mask = 0;
  Stored at;
  if (H5Dget_chunk_info_by_coord(dataset_.get(), &offset, &mask, &at.address, &at.size) < 0 ||
      at.address == HADDR_UNDEF) {
    H5Eclear2(H5E_DEFAULT);
    return {};
  }
  return at;
}

std::uint64_t ObjectsDataset::file_bytes() const {
  struct stat st {};
  if ((fd_ >= 0 ? ::fstat(fd_, &st) : ::stat(path_.c_str(), &st)) != 0) {
    return std::numeric_limits<std::uint64_t>::max();  // unknown: the reads will tell
  }
  return static_cast<std::uint64_t>(st.st_size);
}

ObjectsDataset::Stored ObjectsDataset::locate(std::uint64_t c, const Extent& e,
                                              std::uint64_t file_bytes) {
  const Stored at = stored(c);
  if (at.size == 0) {
    corrupt(e, fmt::format("missing chunk: chunk {} ({} bytes at offset {} of /objects) is not in "
                           "the file",
                           c, chunk_, c * chunk_));
  }
  if (at.address + at.size > file_bytes) {
    corrupt(e, fmt::format("truncated: the file ends at byte {}, but chunk {} is stored at bytes "
                           "{} to {}",
                           file_bytes, c, at.address, at.address + at.size));
  }
  return at;
}

std::uint32_t ObjectsDataset::load(std::uint64_t c, std::byte* buf, const Extent& e,
                                   std::uint64_t file_bytes) {
  const Stored at = locate(c, e, file_bytes);
  errno = 0;
  if (!direct_) {
    const hsize_t n = chunk_;
    Handle space = file_space(dataset_.get(), c * chunk_, chunk_);
    Handle memory(H5Screate_simple(1, &n, nullptr), H5Sclose);
    if (!space.valid() || !memory.valid() ||
        H5Dread(dataset_.get(), H5T_NATIVE_UINT8, memory.get(), space.get(), H5P_DEFAULT, buf) <
            0) {
      fail_read(e, c);
    }
    return fletcher32(buf, chunk_);
  }
  // Any other size would not fit `buf`; this layer never writes one.
  if (at.size != chunk_ + kChecksumBytes) {
    corrupt(e, fmt::format("checksum mismatch: chunk {} is stored as {} bytes, not {}", c, at.size,
                           chunk_ + kChecksumBytes));
  }
  const hsize_t offset = c * chunk_;
  std::uint32_t mask = 0;
  if (H5Dread_chunk(dataset_.get(), H5P_DEFAULT, &offset, &mask, buf) < 0) fail_read(e, c);
  const std::uint32_t sum = fletcher32(buf, chunk_);
  if (mask != 0 || sum != get_checksum(buf + chunk_)) {
    corrupt(e, fmt::format("checksum mismatch in chunk {}", c));
  }
  return sum;
}

void ObjectsDataset::read(const Extent& e, std::byte* out) {
  if (e.size == 0) return;
  const auto lock = hdf5_lock();
  const std::uint64_t end = e.offset + e.size;
  if (end < e.offset) {
    throw SpillError(
        fmt::format("cannot read {} bytes at offset {} of spill file {}: the extent wraps around",
                    e.size, e.offset, path_));
  }
  // SpillReader refreshes whenever the writer has written since; this covers other callers.
  if (role_ == Role::reader && end > size_) refresh();
  if (end > size_) {
    throw SpillError(
        fmt::format("cannot read {} bytes at offset {} of spill file {}: it holds {} bytes", e.size,
                    e.offset, path_, size_));
  }
  const std::uint64_t file_size = file_bytes();
  std::vector<std::uint32_t> sums;
  sums.reserve((end - 1) / chunk_ - e.offset / chunk_ + 1);
  // Whole chunks land in `out` directly; with the library's pipeline a chunk needs no room
  // after it, a raw chunk needs its checksum's 4 bytes, which land on the next chunk's first
  // bytes and are read after it is checked.
  const std::uint64_t room_after = direct_ ? kChecksumBytes : 0;
  for (std::uint64_t pos = e.offset; pos < end;) {
    const std::uint64_t c = pos / chunk_;
    const std::uint64_t in = pos - c * chunk_;
    const std::uint64_t n = std::min(chunk_ - in, end - pos);
    std::byte* dst = out + (pos - e.offset);
    if (in == 0 && end - pos >= chunk_ + room_after) {
      sums.push_back(load(c, dst, e, file_size));
    } else {
      std::memcpy(dst, cached(c, e, file_size) + in, n);
      sums.push_back(cache_.sum);
    }
    pos += n;
  }
  if (e.check != 0 && extent_check(e, chunk_, sums) != e.check) {
    // Fletcher-32 is zero only for zeros: what a file cut short and written past the cut, or
    // overwritten with zeros, reads as.
    const auto zero = std::find(sums.begin(), sums.end(), 0u);
    if (zero != sums.end()) {
      corrupt(e, fmt::format("checksum mismatch: chunk {} reads back as zeros, not as the bytes "
                             "written (the file was cut short or overwritten with zeros)",
                             e.offset / chunk_ + static_cast<std::uint64_t>(zero - sums.begin())));
    }
    corrupt(e,
            "checksum mismatch: the chunks read back are not the ones written (they were "
            "overwritten together with their checksums)");
  }
}

void ObjectsDataset::fail_read(const Extent& e, std::uint64_t c) {
  const Hdf5Failure f = take_hdf5_failure();
  if (f.filter_failed) corrupt(e, fmt::format("checksum mismatch in chunk {} ({})", c, f.detail));
  throw SpillError(fmt::format("cannot read {} bytes at offset {} of spill file {}: {}", e.size,
                               e.offset, path_, f.detail));
}

void ObjectsDataset::corrupt(const Extent& e, const std::string& cause) const {
  throw CorruptSpillError(
      fmt::format("spill file {} is damaged under the {} bytes at offset {}: "
                  "{}; the file was changed or damaged after it was written",
                  path_, e.size, e.offset, cause));
}

}  // namespace manta::spill::detail
