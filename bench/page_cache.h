// What the file benchmarks share: dropping a file's pages from the page cache, so that the next
// read comes from the device (where the kernel allows it; a virtual disk may still be served from
// its host's cache).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace manta::bench {

inline void drop_cached(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace manta::bench
