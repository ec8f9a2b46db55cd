// Writing a checkpoint: every rank agrees at each step whether all ranks got through it, so that
// a failure anywhere ends the write on every rank with the same message and never leaves a rank
// waiting in a collective call the others have left.
#include "spill/checkpoint_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "spill/checkpoint_checksum.h"
#include "spill/checkpoint_manifest.h"
#include "spill/hdf5_lock.h"
#include "spill/hdf5_support.h"

namespace manta::spill {
namespace {

using detail::Handle;
using nlohmann::json;

// Bytes one rank hands one collective write at most: MPI counts are int, and HDF5 1.10 passes
// byte counts to MPI-IO as int.
constexpr std::uint64_t kWritePiece = std::uint64_t{1} << 30;
// Records smaller than this are copied together into a staging buffer of kStageBytes, so that
// many small records take few collective writes; larger ones are written from where they are.
constexpr std::uint64_t kDirectBytes = std::uint64_t{4} << 20;
constexpr std::uint64_t kStageBytes = std::uint64_t{64} << 20;

struct Problem {
  int rank = 0;
  std::string reason;
};

std::string bcast_text(MPI_Comm comm, int root, std::string text) {
  unsigned long long n = text.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  text.resize(std::min<unsigned long long>(n, INT_MAX));
  MPI_Bcast(text.data(), static_cast<int>(text.size()), MPI_CHAR, root, comm);
  return text;
}

// Collective: the lowest rank whose `problem` is not empty, with its text; nothing when every
// rank is fine.
std::optional<Problem> first_problem(MPI_Comm comm, const std::string& problem) {
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int mine = problem.empty() ? size : rank;
  int first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return std::nullopt;
  return Problem{first, bcast_text(comm, first, problem)};
}

std::string errno_text(int err) { return std::strerror(err); }

// MPI-IO reports a write cut short by a full disk as a short count, without the system's reason,
// so a rank whose write failed looks for itself: when what `part` holds and what is still free
// add up to less than the checkpoint needs, the disk is full, and the message says so.
void explain_full_disk(std::string& problem, const std::string& part, const std::string& dir,
                       std::uint64_t needed) {
  if (problem.empty()) return;
  struct stat st {};
  struct statvfs fs {};
  if (::stat(part.c_str(), &st) != 0 || ::statvfs(dir.c_str(), &fs) != 0) return;
  const std::uint64_t held = static_cast<std::uint64_t>(st.st_blocks) * 512;
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (held + free_bytes >= needed) return;
  problem += fmt::format(
      " (No space left on device: the file system of {} has {} bytes free and {} holds {}, the "
      "checkpoint needs {}; free space there or choose another directory)",
      dir, free_bytes, part, held, needed);
}

// One contiguous run of this rank's part of /data that one collective write covers: a piece of
// a large record, or small records copied together.
struct Run {
  std::uint64_t offset = 0;  // in /data
  std::uint64_t size = 0;
  const std::byte* direct = nullptr;  // null: staged from `records`
  std::vector<std::size_t> records;
};

std::vector<Run> plan_runs(const std::vector<CheckpointRecord>& records, std::uint64_t offset) {
  std::vector<Run> runs;
  Run staged;
  auto flush = [&] {
    if (staged.size > 0) runs.push_back(std::move(staged));
    staged = Run{};
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::uint64_t size = records[i].bytes.size();
    if (size == 0) continue;
    if (size >= kDirectBytes) {
      flush();
      for (std::uint64_t at = 0; at < size; at += kWritePiece) {
        runs.push_back(
            Run{offset + at, std::min(kWritePiece, size - at), records[i].bytes.data() + at, {}});
      }
    } else {
      if (staged.size + size > kStageBytes) flush();
      if (staged.size == 0) staged.offset = offset;
      staged.size += size;
      staged.records.push_back(i);
    }
    offset += size;
  }
  flush();
  return runs;
}

// This rank's records as the other ranks need them to build the manifest.
std::string local_listing(const std::vector<CheckpointRecord>& records,
                          const std::vector<std::string>& metas, std::int64_t now_ms) {
  json entries = json::array();
  for (std::size_t i = 0; i < records.size(); ++i) {
    entries.push_back({{"kind", records[i].kind},
                       {"name", records[i].name},
                       {"meta", metas[i]},
                       {"size", records[i].bytes.size()},
                       {"checksum", checkpoint_checksum(records[i].bytes)}});
  }
  return json{{"created_ms", now_ms}, {"entries", std::move(entries)}}.dump();
}

// Collective: every rank's listing, in rank order.
std::vector<std::string> gather_listings(MPI_Comm comm, const std::string& mine, int size) {
  const int my_size = static_cast<int>(mine.size());
  std::vector<int> sizes(size);
  MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm);
  std::vector<int> displs(size);
  long long total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = static_cast<int>(std::min<long long>(total, INT_MAX));
    total += sizes[r];
  }
  if (total > INT_MAX) {
    throw CheckpointError(fmt::format(
        "checkpoint not written: the records' names and meta take {} bytes, more than 2 GiB",
        total));
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  MPI_Allgatherv(mine.data(), my_size, MPI_CHAR, all.data(), sizes.data(), displs.data(), MPI_CHAR,
                 comm);
  std::vector<std::string> out(size);
  for (int r = 0; r < size; ++r) out[r] = all.substr(displs[r], sizes[r]);
  return out;
}

}  // namespace

std::string checkpoint_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "checkpoint.h5").string();
}

CheckpointWritten write_checkpoint(MPI_Comm comm, const std::string& dir,
                                   const std::string& program, const std::string& fingerprint,
                                   const std::vector<CheckpointRecord>& records,
                                   const std::string& local_error, bool sync) {
  const auto start = std::chrono::steady_clock::now();
  detail::quiet_hdf5();
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::string path = checkpoint_path(dir);
  const std::string part = path + ".part";

  // 1. Every rank has its records, their kinds and names are UTF-8 (JSON text), and their meta
  // is a JSON object.
  std::string problem = local_error;
  std::vector<std::string> metas;
  for (const CheckpointRecord& r : records) {
    if (!problem.empty()) break;
    if (r.kind.empty()) {
      problem = fmt::format("record '{}' has no kind", r.name);
      break;
    }
    if (r.bytes.data() == nullptr && !r.bytes.empty()) {
      problem = fmt::format("record {} '{}' has no bytes", r.kind, r.name);
      break;
    }
    try {
      (void)json{r.kind, r.name}.dump();
    } catch (const std::exception& e) {
      problem = fmt::format("record {} '{}': its kind or name is not UTF-8 text ({})", r.kind,
                            r.name, e.what());
      break;
    }
    try {
      metas.push_back(detail::normalized_meta(r.meta));
    } catch (const std::exception& e) {
      problem = fmt::format("record {} '{}': {}", r.kind, r.name, e.what());
    }
  }
  if (const auto p = first_problem(comm, problem)) {
    throw CheckpointError(
        fmt::format("checkpoint {} not written: rank {}: {}", path, p->rank, p->reason));
  }

  // 2. The manifest, the same on every rank: each rank's records follow the previous rank's.
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::vector<std::string> listings =
      gather_listings(comm, local_listing(records, metas, now_ms), size);
  CheckpointManifest manifest;
  manifest.format = kCheckpointFormat;
  manifest.program = program;
  manifest.fingerprint = fingerprint;
  manifest.world_size = size;
  std::uint64_t my_offset = 0;
  std::map<std::pair<std::string, std::string>, int> writers;
  for (int r = 0; r < size; ++r) {
    const json listing = json::parse(listings[r]);
    if (r == 0) manifest.created_ms = listing.at("created_ms").get<std::int64_t>();
    if (r == rank) my_offset = manifest.data_bytes;
    for (const json& e : listing.at("entries")) {
      CheckpointEntry entry;
      entry.kind = e.at("kind").get<std::string>();
      entry.name = e.at("name").get<std::string>();
      entry.meta = e.at("meta").get<std::string>();
      entry.rank = r;
      entry.offset = manifest.data_bytes;
      entry.size = e.at("size").get<std::uint64_t>();
      entry.checksum = e.at("checksum").get<std::uint64_t>();
      const auto [it, added] = writers.emplace(std::pair{entry.kind, entry.name}, r);
      if (!added) {
        // Every rank sees the same listings, so every rank throws here.
        throw CheckpointError(fmt::format(
            "checkpoint {} not written: two records are named {} (from rank {} and rank {}); a "
            "name must be unique within its kind",
            path, detail::entry_label(entry), it->second, r));
      }
      manifest.data_bytes += entry.size;
      manifest.entries.push_back(std::move(entry));
    }
  }

  // 3. DIR and an empty .part that every rank can open: the one place to see a directory that is
  // not writable, or not the same directory on every rank, before the collective open.
  if (rank == 0) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const int fd = ec ? -1 : ::open(part.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (ec) {
      problem = fmt::format("cannot make directory {}: {}", dir, ec.message());
    } else if (fd < 0) {
      problem = fmt::format("cannot create {}: {}", part, errno_text(errno));
    } else {
      ::close(fd);
    }
  }
  if (const auto p = first_problem(comm, problem)) {
    throw CheckpointError(fmt::format("checkpoint {} not written: {}", path, p->reason));
  }
  auto give_up = [&](const Problem& p, const char* doing) {
    if (rank == 0) ::unlink(part.c_str());
    throw CheckpointError(fmt::format("checkpoint {} not written: {} failed on rank {}: {}", path,
                                      doing, p.rank, p.reason));
  };
  if (rank != 0) {
    const int fd = ::open(part.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      problem = fmt::format(
          "cannot open {} ({}): the checkpoint directory must be one every "
          "rank sees",
          part, errno_text(errno));
    } else {
      ::close(fd);
    }
  }
  if (const auto p = first_problem(comm, problem)) give_up(*p, "opening the file");

  // 4. The HDF5 file, opened by every rank together. From here to its close this rank holds the
  // process's HDF5 lock, through the collectives too: the other ranks it waits for are other
  // processes, and the threads of this one that want the lock (dataset tasks) wait for nothing
  // this thread does. Declared before the handles, so that it outlives them on every path.
  std::unique_lock<std::recursive_mutex> hdf5 = hdf5_lock();
  Handle file;
  {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    errno = 0;
    hid_t id = H5I_INVALID_HID;
    if (fapl.valid() && H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL) >= 0) {
      id = H5Fcreate(part.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
    }
    if (id < 0) problem = "cannot create the HDF5 file: " + detail::take_hdf5_failure().detail;
    if (const auto p = first_problem(comm, problem)) {
      // Closing is collective: a rank whose open succeeded while another's failed leaves its
      // handle open rather than wait for ranks that will never close theirs.
      give_up(*p, "creating the HDF5 file");
    }
    file = Handle(id, H5Fclose);
  }
  // A step that throws on one rank (out of memory) must still reach the agreement after it.
  auto attempt = [&](const auto& step) {
    try {
      step();
    } catch (const std::exception& e) {
      if (problem.empty()) problem = e.what();
    }
  };
  auto close_and_give_up = [&](const Problem& p, const char* doing, Handle& data, Handle& text) {
    data.reset();
    text.reset();
    file.reset();
    H5Eclear2(H5E_DEFAULT);
    give_up(p, doing);
  };

  // 5. /data: contiguous, unfiltered and allocated now, so its file address is known and
  // readers find a record at that address plus its offset.
  Handle data;
  Handle text;
  attempt([&] {
    const hsize_t dims = manifest.data_bytes;
    Handle space(H5Screate_simple(1, &dims, nullptr), H5Sclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
    H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
    // Every byte is written: filling first would write the whole file twice.
    H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
    errno = 0;
    data = Handle(H5Dcreate2(file.get(), detail::kCheckpointData, H5T_STD_U8LE, space.get(),
                             H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  H5Dclose);
    if (!data.valid()) {
      problem = "cannot create /data: " + detail::take_hdf5_failure().detail;
    } else if (manifest.data_bytes > 0) {
      const haddr_t address = H5Dget_offset(data.get());
      if (address == HADDR_UNDEF) {
        problem = "/data has no file address: " + detail::take_hdf5_failure().detail;
      }
      manifest.data_address = address;
    }
  });
  if (const auto p = first_problem(comm, problem)) {
    close_and_give_up(*p, "creating /data", data, text);
  }

  // 6. Every rank writes its part: as many collective writes as the rank with the most runs,
  // ranks with none left taking part with an empty selection.
  {
    const std::vector<Run> runs = plan_runs(records, my_offset);
    unsigned long long my_rounds = runs.size();
    unsigned long long rounds = 0;
    MPI_Allreduce(&my_rounds, &rounds, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
    std::vector<std::byte> stage;
    Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
    Handle file_space(H5Dget_space(data.get()), H5Sclose);
    for (unsigned long long round = 0; round < rounds; ++round) {
      const Run* run = round < runs.size() ? &runs[round] : nullptr;
      const std::byte* from = nullptr;
      const hsize_t count = run != nullptr ? run->size : 1;
      Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
      if (run != nullptr && run->direct == nullptr && problem.empty()) {
        attempt([&] { stage.resize(std::max<std::size_t>(stage.size(), run->size)); });
      }
      // A rank that failed earlier keeps taking part with an empty selection.
      if (run != nullptr && problem.empty()) {
        from = run->direct;
        if (from == nullptr) {
          std::size_t at = 0;
          for (const std::size_t i : run->records) {
            std::memcpy(stage.data() + at, records[i].bytes.data(), records[i].bytes.size());
            at += records[i].bytes.size();
          }
          from = stage.data();
        }
        const hsize_t first = run->offset;
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr);
      } else {
        H5Sselect_none(file_space.get());
        H5Sselect_none(memory.get());
      }
      errno = 0;
      if (H5Dwrite(data.get(), H5T_NATIVE_UINT8, memory.get(), file_space.get(), dxpl.get(), from) <
              0 &&
          problem.empty()) {
        problem = fmt::format("cannot write {} bytes at offset {} of /data: {}", count,
                              run != nullptr ? run->offset : 0, detail::take_hdf5_failure().detail);
      }
    }
  }
  explain_full_disk(problem, part, dir, manifest.data_bytes);
  if (const auto p = first_problem(comm, problem)) {
    close_and_give_up(*p, "writing /data", data, text);
  }

  // 7. /manifest: text (h5dump shows it) with its checksum beside it; rank 0 writes the bytes,
  // every rank creates the same objects (creating them is collective).
  attempt([&] {
    const std::string json_text = detail::manifest_json(manifest);
    const std::uint64_t sum = checkpoint_checksum(std::as_bytes(std::span(json_text)));
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), json_text.size());
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);  // JSON text, names included
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
    errno = 0;
    text = Handle(H5Dcreate2(file.get(), detail::kCheckpointManifest, type.get(), space.get(),
                             H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  H5Dclose);
    Handle attr;
    if (text.valid()) {
      attr = Handle(H5Acreate2(text.get(), detail::kManifestChecksum, H5T_STD_U64LE, space.get(),
                               H5P_DEFAULT, H5P_DEFAULT),
                    H5Aclose);
    }
    if (!text.valid() || !attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_UINT64, &sum) < 0) {
      problem = "cannot create /manifest: " + detail::take_hdf5_failure().detail;
    } else {
      Handle dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
      H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
      Handle selection(H5Screate(H5S_SCALAR), H5Sclose);
      if (rank != 0) H5Sselect_none(selection.get());
      errno = 0;
      if (H5Dwrite(text.get(), type.get(), selection.get(), selection.get(), dxpl.get(),
                   json_text.data()) < 0) {
        problem = "cannot write /manifest: " + detail::take_hdf5_failure().detail;
      }
    }
  });
  explain_full_disk(problem, part, dir, manifest.data_bytes);
  if (const auto p = first_problem(comm, problem)) {
    close_and_give_up(*p, "writing /manifest", data, text);
  }

  // 8. Closing flushes HDF5's own metadata: a failure here (disk full) is a failure to write.
  errno = 0;
  const bool closed = data.reset() & text.reset() & file.reset();
  if (!closed) problem = "cannot close the HDF5 file: " + detail::take_hdf5_failure().detail;
  hdf5.unlock();
  explain_full_disk(problem, part, dir, manifest.data_bytes);
  if (const auto p = first_problem(comm, problem)) give_up(*p, "closing the file");

  // 9. On disk before the rename: each rank flushes what it wrote (on a shared file system a
  // rank's writes may sit in its own node's cache).
  if (sync) {
    const int fd = ::open(part.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      problem = fmt::format("cannot flush {} to disk: {}", part, errno_text(errno));
    }
    if (fd >= 0) ::close(fd);
  }
  explain_full_disk(problem, part, dir, manifest.data_bytes);
  if (const auto p = first_problem(comm, problem)) give_up(*p, "flushing the file to disk");

  // 10. The rename makes it the checkpoint; with sync, the directory is flushed so the rename
  // itself survives a crash.
  if (rank == 0) {
    if (std::rename(part.c_str(), path.c_str()) != 0) {
      problem = fmt::format("cannot rename {} to {}: {}", part, path, errno_text(errno));
    } else if (sync) {
      const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || ::fsync(fd) != 0) {
        problem = fmt::format("cannot flush directory {} to disk: {}", dir, errno_text(errno));
      }
      if (fd >= 0) ::close(fd);
    }
  }
  if (const auto p = first_problem(comm, problem)) give_up(*p, "renaming the file");

  CheckpointWritten written;
  written.manifest = std::move(manifest);
  written.path = path;
  written.bytes = written.manifest.data_bytes;
  written.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return written;
}

}  // namespace manta::spill
