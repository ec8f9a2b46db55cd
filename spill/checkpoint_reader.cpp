// Reading a checkpoint: the manifest through HDF5 (one process, no MPI), the records with plain
// positioned reads at the address the manifest gives, checked against their checksums.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "spill/checkpoint_checksum.h"
#include "spill/checkpoint_file.h"
#include "spill/checkpoint_manifest.h"
#include "spill/file_descriptor.h"
#include "spill/hdf5_lock.h"
#include "spill/hdf5_support.h"

namespace manta::spill {
namespace {

using detail::entry_label;
using detail::Handle;

// Records are read and checked this much at a time, while the bytes are still in the cache.
constexpr std::size_t kReadBlock = std::size_t{8} << 20;

using Fd = spill::FileDescriptor;

// Reads record `e` of the file open as `fd` and checks it: into `out` whole when `out_size` is
// the record's size, else through `out` as a scratch buffer of `out_size` bytes. Returns what
// is wrong, or "".
std::string outside_data(const std::string& path, const CheckpointManifest& m,
                         const CheckpointEntry& e) {
  if (e.offset <= m.data_bytes && e.size <= m.data_bytes - e.offset) return {};
  return fmt::format("{}: record {} (bytes {} to {}) lies outside /data ({} bytes)", path,
                     entry_label(e), e.offset, e.offset + e.size, m.data_bytes);
}

std::string read_and_check(int fd, const std::string& path, const CheckpointManifest& m,
                           const CheckpointEntry& e, std::byte* out, std::size_t out_size) {
  if (std::string outside = outside_data(path, m, e); !outside.empty()) return outside;
  const bool whole = out_size == e.size;
  detail::CheckpointHasher hasher;
  const std::uint64_t start = m.data_address + e.offset;
  std::uint64_t done = 0;
  while (done < e.size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(
        e.size - done, whole ? std::max(kReadBlock, out_size / 64) : out_size));
    std::byte* into = whole ? out + done : out;
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(fd, into + got, want - got, static_cast<off_t>(start + done + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return fmt::format("{}: cannot read record {}: {}", path, entry_label(e),
                           std::strerror(errno));
      }
      if (n == 0) {
        return fmt::format(
            "{}: record {} is cut short: expected {} bytes at file offset {}, found {} (the file "
            "is truncated)",
            path, entry_label(e), e.size, start, done + got);
      }
      got += static_cast<std::size_t>(n);
    }
    hasher.update(into, want);
    done += want;
  }
  const std::uint64_t found = hasher.finish();
  if (found != e.checksum) {
    return fmt::format(
        "{}: record {} is damaged: its {} bytes have checksum {:016x} where the manifest says "
        "{:016x}",
        path, entry_label(e), e.size, found, e.checksum);
  }
  return {};
}

[[noreturn]] void not_ours(const std::string& path, const std::string& why) {
  throw CheckpointError(fmt::format("{} is not a Manta checkpoint ({})", path, why));
}

// Collective texts of at most a few KiB.
std::string bcast_text(MPI_Comm comm, int root, std::string text) {
  unsigned long long n = text.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  text.resize(std::min<unsigned long long>(n, std::numeric_limits<int>::max()));
  MPI_Bcast(text.data(), static_cast<int>(text.size()), MPI_CHAR, root, comm);
  return text;
}

}  // namespace

CheckpointManifest read_checkpoint_manifest(const std::string& dir) {
  const std::string path = checkpoint_path(dir);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    struct stat part {};
    if (err == ENOENT && ::stat((path + ".part").c_str(), &part) == 0) {
      throw CheckpointError(fmt::format(
          "{}: no checkpoint here, only {}.part: a checkpoint that never finished (the job ended "
          "while writing it)",
          path, path));
    }
    if (err == ENOENT) {
      throw CheckpointError(fmt::format("{}: no checkpoint here (no such file)", path));
    }
    throw CheckpointError(fmt::format("{}: cannot read it: {}", path, std::strerror(err)));
  }
  {
    // HDF5 would say only that it cannot open the file; say why when the system refuses.
    const Fd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (probe.get() < 0) {
      throw CheckpointError(fmt::format("{}: cannot read it: {}", path, std::strerror(errno)));
    }
  }

  // Held to the end: the handles below close when this returns or throws, before the lock goes.
  const auto lock = hdf5_lock();
  detail::quiet_hdf5();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_sec2(fapl.get());
  H5Pset_file_locking(fapl.get(), true, true);
  errno = 0;
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.valid()) {
    const std::string why = detail::take_hdf5_failure().detail;
    // HDF5 compares the end of the file with the end its superblock records.
    if (why.find("truncated file") != std::string::npos) {
      throw CheckpointError(fmt::format("{} is truncated (HDF5: {})", path, why));
    }
    not_ours(path, "HDF5 cannot open it: " + why);
  }
  if (H5Lexists(file.get(), detail::kCheckpointManifest, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    not_ours(path, "it has no /manifest");
  }
  Handle text(H5Dopen2(file.get(), detail::kCheckpointManifest, H5P_DEFAULT), H5Dclose);
  Handle type(text.valid() ? H5Dget_type(text.get()) : H5I_INVALID_HID, H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING ||
      H5Tis_variable_str(type.get()) != 0) {
    H5Eclear2(H5E_DEFAULT);
    not_ours(path, "its /manifest is not fixed-length text");
  }
  if (H5Aexists(text.get(), detail::kManifestChecksum) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    not_ours(path, "its /manifest has no checksum");
  }
  std::string json_text(H5Tget_size(type.get()), '\0');
  std::uint64_t stored = 0;
  {
    // The file's own type (HDF5 converts no text between ASCII and UTF-8), padded with nulls.
    Handle memory(H5Tcopy(type.get()), H5Tclose);
    H5Tset_strpad(memory.get(), H5T_STR_NULLPAD);
    Handle attr(H5Aopen(text.get(), detail::kManifestChecksum, H5P_DEFAULT), H5Aclose);
    errno = 0;
    if (H5Dread(text.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, json_text.data()) < 0 ||
        !attr.valid() || H5Aread(attr.get(), H5T_NATIVE_UINT64, &stored) < 0) {
      throw CheckpointError(fmt::format("{}: the manifest is damaged (cannot read it: {})", path,
                                        detail::take_hdf5_failure().detail));
    }
  }
  const std::uint64_t computed = checkpoint_checksum(std::as_bytes(std::span(json_text)));
  if (computed != stored) {
    throw CheckpointError(fmt::format(
        "{}: the manifest is damaged (checksum mismatch: {:016x} stored, {:016x} computed)", path,
        stored, computed));
  }
  CheckpointManifest m = detail::parse_manifest(json_text, path);

  // /data is where the manifest says, and the file holds all of it.
  Handle data(H5Dopen2(file.get(), detail::kCheckpointData, H5P_DEFAULT), H5Dclose);
  Handle space(data.valid() ? H5Dget_space(data.get()) : H5I_INVALID_HID, H5Sclose);
  hsize_t dims = 0;
  const int ndims = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (ndims == 1) H5Sget_simple_extent_dims(space.get(), &dims, nullptr);
  Handle dcpl(data.valid() ? H5Dget_create_plist(data.get()) : H5I_INVALID_HID, H5Pclose);
  const bool contiguous = dcpl.valid() && H5Pget_layout(dcpl.get()) == H5D_CONTIGUOUS;
  const haddr_t address = m.data_bytes > 0 && data.valid() ? H5Dget_offset(data.get()) : 0;
  H5Eclear2(H5E_DEFAULT);
  if (!data.valid() || ndims != 1 || !contiguous || dims != m.data_bytes ||
      address != m.data_address) {
    throw CheckpointError(
        fmt::format("{}: the manifest does not match /data (it says {} bytes at file offset {})",
                    path, m.data_bytes, m.data_address));
  }
  detail::check_data_in_file(m, static_cast<std::uint64_t>(st.st_size), path);
  return m;
}

SharedBuffer read_checkpoint_entry(const std::string& dir, const CheckpointManifest& manifest,
                                   const CheckpointEntry& entry) {
  const std::string path = checkpoint_path(dir);
  // Before allocating: a record of a damaged manifest may claim any size.
  if (std::string outside = outside_data(path, manifest, entry); !outside.empty()) {
    throw CheckpointError(outside);
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw CheckpointError(fmt::format("{}: cannot read record {}: {}", path, entry_label(entry),
                                      std::strerror(errno)));
  }
  Buffer bytes(entry.size);
  const std::string problem =
      read_and_check(fd.get(), path, manifest, entry, bytes.data(), bytes.size());
  if (!problem.empty()) throw CheckpointError(problem);
  return std::make_shared<const Buffer>(std::move(bytes));
}

std::string verify_checkpoint(MPI_Comm comm, const std::string& dir,
                              const CheckpointManifest& manifest) {
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::string path = checkpoint_path(dir);
  const std::vector<CheckpointEntry>& entries = manifest.entries;

  // Largest records first, each to the rank with the fewest bytes so far (a small cost per
  // record, so that empty records spread too). Every rank computes the same shares.
  std::vector<std::size_t> order(entries.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return entries[a].size > entries[b].size; });
  std::vector<std::uint64_t> load(size, 0);
  std::vector<int> owner(entries.size(), 0);
  for (const std::size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[r] += entries[i].size + 4096;
  }

  // This rank's share in manifest order: the first problem found is its lowest.
  unsigned long long first_bad = std::numeric_limits<unsigned long long>::max();
  std::string problem;
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (owner[i] == rank) largest = std::max(largest, entries[i].size);
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const int open_errno = errno;
  std::vector<std::byte> scratch(
      static_cast<std::size_t>(std::min<std::uint64_t>(largest, kReadBlock)));
  for (std::size_t i = 0; i < entries.size() && problem.empty(); ++i) {
    if (owner[i] != rank) continue;
    if (fd.get() < 0) {
      problem = fmt::format("{}: cannot read record {}: {}", path, entry_label(entries[i]),
                            std::strerror(open_errno));
    } else {
      problem = read_and_check(fd.get(), path, manifest, entries[i], scratch.data(),
                               std::max<std::size_t>(scratch.size(), 1));
    }
    if (!problem.empty()) first_bad = i;
  }

  unsigned long long agreed = 0;
  MPI_Allreduce(&first_bad, &agreed, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm);
  if (agreed == std::numeric_limits<unsigned long long>::max()) return {};
  return bcast_text(comm, owner[agreed], problem);
}

}  // namespace manta::spill
