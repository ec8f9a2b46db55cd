#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "spill/hdf5_lock.h"
#include "spill/hdf5_support.h"
#include "spill/objects_dataset.h"
#include "spill/spill_file.h"

namespace manta::spill {

using detail::Handle;
using detail::ObjectsDataset;

namespace {

// The fields of an /index row that say where a write put bytes.
constexpr int kIndexReadAttempts = 15;

struct Placement {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

}  // namespace

struct SpillReader::Impl {
  // Another rank's file. Before each read, the rows added to /index since the last one (one per
  // piece written, never reused) say whether the writer has written since. If so, the view of
  // /objects is refreshed: the old one would miss new chunks, and would find the old bytes of a
  // compressed chunk that a rewrite moved, whose checksum still holds. And a cached chunk that
  // was written again (the writer reuses chunks once their pieces are released) is dropped.
  struct OpenFile {
    Handle file;
    std::unique_ptr<ObjectsDataset> objects;
    Handle index;
    std::uint64_t rows_seen = 0;
  };
  // Declared before the files, whose datasets refer to it.
  detail::ChunkCache cache;
  Handle placement_type;
  std::map<std::string, OpenFile> files;

  OpenFile& open(const std::string& path);
  // Returns whether the writer has written since the last call.
  bool forget_rewritten(const std::string& path, OpenFile& f);
};

SpillReader::Impl::OpenFile& SpillReader::Impl::open(const std::string& path) {
  const auto found = files.find(path);
  if (found != files.end()) return found->second;
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl.get(), true, true);
  // No library chunk cache, even after a refresh reopens a dataset: chunks get rewritten.
  H5Pset_cache(fapl.get(), 0, 0, 0, 1.0);
  // A SWMR reader retries metadata whose checksum fails (the writer may be mid-flush), sleeping
  // twice as long each time: HDF5's 100 tries would wait for ages on a damaged file. 24 tries
  // wait about 17 ms in all, then the read fails with the reason.
  H5Pset_metadata_read_attempts(fapl.get(), 24);
  errno = 0;
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()), H5Fclose);
  if (!file.valid()) {
    throw UnreachableSpillError(
        fmt::format("cannot open spill file {}: {}; ranks read each other's spill files, so "
                    "--manta-spill-dir must be a directory every rank sees",
                    path, detail::take_hdf5_failure().detail));
  }
  Handle dapl = ObjectsDataset::access_properties();
  errno = 0;
  Handle objects(H5Dopen2(file.get(), "objects", dapl.get()), H5Dclose);
  Handle index(H5Dopen2(file.get(), "index", H5P_DEFAULT), H5Dclose);
  if (!objects.valid() || !index.valid()) {
    throw SpillError(
        fmt::format("{} is not a Manta spill file: {}", path, detail::take_hdf5_failure().detail));
  }
  OpenFile entry{std::move(file),
                 std::make_unique<ObjectsDataset>(std::move(objects), path,
                                                  ObjectsDataset::Role::reader, cache),
                 std::move(index), 0};
  return files.emplace(path, std::move(entry)).first->second;
}

bool SpillReader::Impl::forget_rewritten(const std::string& path, OpenFile& f) {
  auto fail = [&](const char* doing) {
    throw SpillError(fmt::format("cannot {} /index of spill file {}: {}", doing, path,
                                 detail::take_hdf5_failure().detail));
  };
  errno = 0;
  if (H5Drefresh(f.index.get()) < 0) fail("refresh");
  Handle space(H5Dget_space(f.index.get()), H5Sclose);
  hsize_t rows = 0;
  if (!space.valid() || H5Sget_simple_extent_dims(space.get(), &rows, nullptr) != 1) {
    fail("read the size of");
  }
  if (rows <= f.rows_seen) return false;
  // Rows only matter while the cache holds a chunk of this file; a chunk read later is newer
  // than every row counted now.
  if (f.objects->caching()) {
    if (!placement_type.valid()) {
      placement_type = Handle(H5Tcreate(H5T_COMPOUND, sizeof(Placement)), H5Tclose);
      H5Tinsert(placement_type.get(), "offset", offsetof(Placement, offset), H5T_NATIVE_UINT64);
      H5Tinsert(placement_type.get(), "size", offsetof(Placement, size), H5T_NATIVE_UINT64);
    }
    const hsize_t start = f.rows_seen;
    const hsize_t count = rows - f.rows_seen;
    std::vector<Placement> added(count);
    Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (!memory.valid() ||
        H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0) {
      fail("read");
    }
    // The writer rewrites /index chunks in place (a released piece's row), so a read racing
    // that rewrite can see half a chunk and fail its checksum. Retry as HDF5 does for metadata:
    // 15 tries, sleeping twice as long each time (about 16 ms in all); a damaged file still
    // fails, with the reason.
    auto pause = std::chrono::microseconds(1);
    for (int attempt = 1;; ++attempt) {
      errno = 0;
      if (H5Dread(f.index.get(), placement_type.get(), memory.get(), space.get(), H5P_DEFAULT,
                  added.data()) >= 0) {
        break;
      }
      if (attempt == kIndexReadAttempts) fail("read");
      detail::take_hdf5_failure();  // this try's error stack
      std::this_thread::sleep_for(pause);
      pause *= 2;
    }
    for (const Placement& p : added) f.objects->forget(p.offset, p.size);
  }
  f.rows_seen = rows;
  return true;
}

SpillReader::SpillReader() : impl_(std::make_unique<Impl>()) { detail::quiet_hdf5(); }

SpillReader::~SpillReader() {
  // Closing the files' identifiers is HDF5 work too.
  const auto lock = hdf5_lock();
  impl_.reset();
}

// The index read's retries sleep under the lock: about 16 ms at worst, waiting for another
// process's writer, never for a thread of this one.
void SpillReader::read(const std::string& path, const Extent& e, std::byte* out) {
  if (e.size == 0) return;
  const auto lock = hdf5_lock();
  Impl::OpenFile& f = impl_->open(path);
  // The index first: the writer flushes /objects before /index, so rows seen now describe
  // chunks the refreshed view of /objects has.
  if (impl_->forget_rewritten(path, f)) f.objects->refresh();
  f.objects->read(e, out);
}

void SpillReader::close_all() {
  const auto lock = hdf5_lock();
  impl_->files.clear();
}

}  // namespace manta::spill
