#include "spill/spill_directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "spill/process_owner.h"

namespace manta::spill {
namespace {

constexpr const char* kDirFix = "pass --manta-spill-dir (or MANTA_SPILL_DIR) a writable directory";

[[noreturn]] void fail(const std::string& path, const std::string& doing, int err) {
  throw SpillError(fmt::format("cannot use spill directory {}: {} failed: {}; {}", path, doing,
                               std::strerror(err), kDirFix));
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// mkdir that accepts a directory that is there already or that another rank makes first.
void make_directory(const std::string& path, const std::string& job_dir) {
  if (is_directory(path) || ::mkdir(path.c_str(), 0700) == 0) return;
  const int err = errno;
  if (err == EEXIST && is_directory(path)) return;
  if (err == EEXIST) {
    throw SpillError(fmt::format("cannot use spill directory {}: {} is not a directory; {}",
                                 job_dir, path, kDirFix));
  }
  fail(job_dir, "mkdir " + path, err);
}

}  // namespace

SpillDirectory::SpillDirectory(const std::string& root, const std::string& job) {
  if (root.empty() || job.empty() || job.find('/') != std::string::npos) {
    throw SpillError(
        fmt::format("cannot use spill directory '{}' for job '{}': the directory and the job name "
                    "must be non-empty, the job name without '/'; {}",
                    root, job, kDirFix));
  }
  std::error_code ec;
  std::filesystem::path base = std::filesystem::absolute(root, ec);
  if (ec) base = root;
  base = base.lexically_normal();
  path_ = (base / ("manta-" + job)).string();
  // mkdir -p, each missing level private to this user.
  std::filesystem::path partial;
  for (const auto& part : base) {
    partial /= part;
    if (!part.empty()) make_directory(partial.string(), path_);
  }
  make_directory(path_, path_);

  // Prove it writable now, with a name no other rank or thread uses, rather than at the first
  // spill in the middle of a job.
  static std::atomic<unsigned> probes{0};
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string probe =
      fmt::format("{}/.probe-{}-{}-{}", path_, host, ::getpid(), probes.fetch_add(1));
  const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) fail(path_, "creating file " + probe, errno);
  const char byte = 0;
  const bool wrote = ::write(fd, &byte, 1) == 1;
  const int err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) fail(path_, "writing file " + probe, err);

  // Who uses the directory: a later job removes it only once every process named here ended.
  const ProcessOwner me = current_process();
  const std::string owner = fmt::format("{}/owner-{}-{}", path_, me.host, me.pid);
  const std::string text = format_owner(me);
  const int ofd = ::open(owner.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (ofd < 0) fail(path_, "creating file " + owner, errno);
  const bool recorded = ::write(ofd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int owner_err = errno;
  ::close(ofd);
  if (!recorded) fail(path_, "writing file " + owner, owner_err);
}

std::string SpillDirectory::file_for_rank(int rank) const {
  return fmt::format("{}/rank-{}.h5", path_, rank);
}

std::uint64_t SpillDirectory::free_bytes() const {
  struct statvfs fs {};
  if (::statvfs(path_.c_str(), &fs) != 0) fail(path_, "statvfs", errno);
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

void SpillDirectory::remove() noexcept {
  try {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  } catch (...) {
    // Cleanup at shutdown: a leftover directory is not worth failing for.
  }
}

}  // namespace manta::spill
