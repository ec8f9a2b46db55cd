#include "spill/hdf5_support.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "spill/hdf5_lock.h"

namespace manta::spill::detail {
namespace {

struct Walk {
  std::string innermost;
  bool filter_failed = false;
};

herr_t visit(unsigned n, const H5E_error2_t* e, void* data) {
  auto* walk = static_cast<Walk*>(data);
  // Walking upward, entry 0 is the most specific: the one that says what really went wrong.
  if (n == 0 && e->desc != nullptr) walk->innermost = e->desc;
  if (e->maj_num == H5E_PLINE) walk->filter_failed = true;
  return 0;
}

// The file drivers append "errno = N" to their messages; that number is the system's reason
// even if errno was overwritten later.
int errno_in(const std::string& desc) {
  const auto at = desc.find("errno = ");
  if (at == std::string::npos) return 0;
  return std::atoi(desc.c_str() + at + 8);
}

// Driver messages go on with time stamps, descriptors and buffer addresses; keep the words.
std::string trimmed(std::string desc) {
  for (const char* tail : {", time = ", ": time = ", ": name = ", ", name = ", ", errno = "}) {
    const auto at = desc.find(tail);
    if (at != std::string::npos) desc.resize(at);
  }
  return desc;
}

}  // namespace

void quiet_hdf5() {
  // The HDF5 lock, not a std::once_flag: a thread holding the lock would wait forever for a
  // once-call that another thread had begun and that waits for the lock.
  const auto lock = hdf5_lock();
  static bool done = false;
  if (done) return;
  done = true;
  // No clean-up at exit: the runtime closes its files itself, and a file whose last write
  // failed (disk full) would make HDF5's exit handler crash while closing it again.
  H5dont_atexit();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Hdf5Failure take_hdf5_failure() {
  const int saved_errno = errno;
  // The error stack is the library's global state here (a build without thread safety keeps
  // one stack for the process): callers hold the lock from the failed call to here.
  const auto lock = hdf5_lock();
  Walk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, visit, &walk);
  H5Eclear2(H5E_DEFAULT);
  Hdf5Failure f;
  f.filter_failed = walk.filter_failed;
  int err = errno_in(walk.innermost);
  if (err == 0) err = saved_errno;
  f.detail =
      walk.innermost.empty() ? std::string("HDF5 reported an error") : trimmed(walk.innermost);
  if (err != 0) f.detail += std::string(" (") + std::strerror(err) + ")";
  return f;
}

}  // namespace manta::spill::detail

namespace manta::spill {

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  const auto lock = hdf5_lock();
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace manta::spill
