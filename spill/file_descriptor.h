// A POSIX file descriptor that closes itself, for the code that moves raw bytes of HDF5 files
// with pread/pwrite (checkpoint records, dataset rows).
#pragma once

#include <unistd.h>

#include <utility>

namespace manta::spill {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  /// Closes now and reports whether the close succeeded (a write-back error shows here).
  bool close() {
    const int fd = std::exchange(fd_, -1);
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_;
};

}  // namespace manta::spill
