// The errors Manta reports. Every one says where it happened (rank), in which task, and why.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace manta {

/// What kind of failure an error record describes; travels between ranks.
enum class ErrorKind : std::uint8_t {
  task = 1,       // a remote function threw
  serialization,  // bytes could not be turned back into the expected type
  unregistered,   // a function was called that MANTA_REMOTE did not register
  unschedulable,  // no rank can ever satisfy the task's resource request
  get_timeout,    // get/wait ran out of time
  object_lost,    // the object's bytes are gone
  shutdown,       // the runtime stopped while the caller waited
  actor_died,     // the actor was killed, exited, or could not be created
  store_full,     // the object store had no room: everything in it was pinned
  collective,     // a collective call was misused, mismatched, or timed out
  checkpoint,     // a checkpoint could not be taken or restored
};

/// The record of a failure, as stored in an object and sent between ranks.
struct ErrorInfo {
  ErrorKind kind = ErrorKind::task;
  std::int32_t rank = -1;
  std::string task_name;       // function the failure happened in (may be empty)
  std::string exception_type;  // demangled C++ type of a user exception
  std::string message;         // the cause, in words
  // store_full: what was asked for and why it did not fit.
  std::uint64_t requested_bytes = 0;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t pinned_bytes = 0;
};

/// Base of all Manta errors. `what()` reads "<cause> (rank R, task NAME)".
class Error : public std::runtime_error {
 public:
  explicit Error(ErrorInfo info);
  [[nodiscard]] int rank() const noexcept { return info_->rank; }
  [[nodiscard]] const std::string& task_name() const noexcept { return info_->task_name; }
  [[nodiscard]] const std::string& cause() const noexcept { return info_->message; }
  [[nodiscard]] const ErrorInfo& info() const noexcept { return *info_; }

 private:
  std::shared_ptr<const ErrorInfo> info_;
};

/// A remote function threw. `exception_type()` names the C++ type it threw.
class TaskError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] const std::string& exception_type() const noexcept { return info().exception_type; }
};
class SerializationError : public Error {
  using Error::Error;
};
class UnregisteredFunctionError : public Error {
  using Error::Error;
};
class UnschedulableError : public Error {
  using Error::Error;
};
class GetTimeoutError : public Error {
  using Error::Error;
};
class ObjectLostError : public Error {
  using Error::Error;
};
class RuntimeStoppedError : public Error {
  using Error::Error;
};
/// A call to an actor that is dead (killed, exited, out of restarts, or never created): the
/// cause says which.
class ActorDiedError : public Error {
  using Error::Error;
};

/// The object store could not make room: the bytes asked for did not fit beside the objects
/// that are pinned (held by get views, running tasks or transfers), even after waiting
/// (--manta-store-full-timeout). Raise --manta-object-store-memory or release objects sooner.
class ObjectStoreFullError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] std::uint64_t requested() const noexcept { return info().requested_bytes; }
  [[nodiscard]] std::uint64_t capacity() const noexcept { return info().capacity_bytes; }
  [[nodiscard]] std::uint64_t pinned() const noexcept { return info().pinned_bytes; }
};

/// A collective call among actors failed: the members' calls differ (the cause names both), the
/// group does not exist or was destroyed, the caller is not a member, or the others did not come
/// within --manta-collective-timeout. A member's death is an ActorDiedError instead.
class CollectiveError : public Error {
  using Error::Error;
};

/// A checkpoint could not be taken (an actor stayed busy past --manta-checkpoint-timeout, a save
/// threw, the disk failed) or read back: the cause says which, and where.
class CheckpointError : public Error {
  using Error::Error;
};

/// Throws the Error subclass that matches `info.kind`.
[[noreturn]] void throw_error(const ErrorInfo& info);

}  // namespace manta
