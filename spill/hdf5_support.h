// Small helpers over HDF5's C API for the spill layer: identifiers that close themselves, and
// the library's error stack turned into words for SpillError messages.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

namespace manta::spill {

/// The HDF5 library's version, e.g. "1.10.8".
std::string hdf5_version();

}  // namespace manta::spill

namespace manta::spill::detail {

/// An HDF5 identifier and the function that closes it. Closing is HDF5 work: destroy or reset
/// a valid one holding the process's HDF5 lock (spill/hdf5_lock.h).
class Handle {
 public:
  using Close = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Close close) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  [[nodiscard]] hid_t get() const { return id_; }
  [[nodiscard]] bool valid() const { return id_ >= 0; }
  /// Closes now; returns false if HDF5 reported an error (e.g. a final flush failed).
  bool reset() noexcept {
    bool ok = true;
    if (id_ >= 0 && close_ != nullptr) ok = close_(id_) >= 0;
    id_ = H5I_INVALID_HID;
    return ok;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Close close_ = nullptr;
};

/// What HDF5 said about the call that just failed.
struct Hdf5Failure {
  /// The innermost description on the error stack, with the system's reason when there is one
  /// (e.g. "file write failed (No space left on device)").
  std::string detail;
  /// A filter rejected the data: a checksum mismatch or undecodable compressed bytes.
  bool filter_failed = false;
};

/// Stops HDF5 from printing its error stack to stderr (once per process): failures become
/// exceptions with messages instead.
void quiet_hdf5();

/// Reads and clears the error stack after a failed call. Callers set errno to 0 before the call,
/// so that a non-zero errno here is the system's reason for the failure, and hold the HDF5 lock
/// from the call to here (the stack is the whole process's).
Hdf5Failure take_hdf5_failure();

}  // namespace manta::spill::detail
