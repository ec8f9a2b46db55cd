#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <utility>

#include "spill/hdf5_support.h"
#include "spill/objects_dataset.h"
#include "spill/spill_file.h"

namespace manta::spill {

using detail::Handle;
using detail::ObjectsDataset;

struct SpillReader::Impl {
  struct OpenFile {
    Handle file;
    std::unique_ptr<ObjectsDataset> objects;
  };
  std::map<std::string, OpenFile> files;

  ObjectsDataset& open(const std::string& path);
};

ObjectsDataset& SpillReader::Impl::open(const std::string& path) {
  const auto found = files.find(path);
  if (found != files.end()) return *found->second.objects;
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_file_locking(fapl.get(), true, true);
  // No chunk cache, even after a refresh reopens the dataset: the writer may rewrite chunks.
  H5Pset_cache(fapl.get(), 0, 0, 0, 1.0);
  errno = 0;
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()), H5Fclose);
  if (!file.valid()) {
    throw SpillError(
        fmt::format("cannot open spill file {}: {}; ranks read each other's spill "
                    "files, so --manta-spill-dir must be a directory every rank sees",
                    path, detail::take_hdf5_failure().detail));
  }
  Handle dapl = ObjectsDataset::access_properties();
  errno = 0;
  Handle objects(H5Dopen2(file.get(), "objects", dapl.get()), H5Dclose);
  if (!objects.valid()) {
    throw SpillError(
        fmt::format("{} is not a Manta spill file: {}", path, detail::take_hdf5_failure().detail));
  }
  OpenFile entry{std::move(file), std::make_unique<ObjectsDataset>(std::move(objects), path,
                                                                   ObjectsDataset::Role::reader)};
  return *files.emplace(path, std::move(entry)).first->second.objects;
}

SpillReader::SpillReader() : impl_(std::make_unique<Impl>()) { detail::quiet_hdf5(); }

SpillReader::~SpillReader() = default;

void SpillReader::read(const std::string& path, const Extent& e, std::byte* out) {
  if (e.size == 0) return;
  impl_->open(path).read(e, out);
}

void SpillReader::close_all() { impl_->files.clear(); }

}  // namespace manta::spill
