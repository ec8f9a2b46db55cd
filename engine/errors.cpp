// Error types, type names and id formatting.
#include <cxxabi.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/init.h>
#include <manta/serialization.h>

namespace manta {
namespace {

std::string describe(const ErrorInfo& i) {
  std::string where = fmt::format("rank {}", i.rank);
  if (!i.task_name.empty()) where += ", task " + i.task_name;
  std::string cause = i.exception_type.empty() ? i.message : i.exception_type + ": " + i.message;
  return cause + " (" + where + ")";
}

}  // namespace

Error::Error(ErrorInfo info)
    : std::runtime_error(describe(info)),
      info_(std::make_shared<const ErrorInfo>(std::move(info))) {}

void throw_error(const ErrorInfo& info) {
  switch (info.kind) {
    case ErrorKind::task:
      throw TaskError(info);
    case ErrorKind::serialization:
      throw SerializationError(info);
    case ErrorKind::unregistered:
      throw UnregisteredFunctionError(info);
    case ErrorKind::unschedulable:
      throw UnschedulableError(info);
    case ErrorKind::get_timeout:
      throw GetTimeoutError(info);
    case ErrorKind::object_lost:
      throw ObjectLostError(info);
    case ErrorKind::shutdown:
      throw RuntimeStoppedError(info);
    case ErrorKind::actor_died:
      throw ActorDiedError(info);
    case ErrorKind::store_full:
      throw ObjectStoreFullError(info);
    case ErrorKind::collective:
      throw CollectiveError(info);
    case ErrorKind::checkpoint:
      throw CheckpointError(info);
  }
  throw Error(info);
}

std::string ObjectId::to_string() const {
  return index ? fmt::format("obj:{}:{}.{}", owner, seq, index)
               : fmt::format("obj:{}:{}", owner, seq);
}

std::string TaskId::to_string() const { return fmt::format("task:{}:{}", submitter, seq); }

std::string ActorId::to_string() const { return fmt::format("actor:{}:{}", creator, seq); }

namespace detail {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

namespace {
struct TypeNames {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, std::string> names;
};
TypeNames& type_names() {
  static TypeNames t;
  return t;
}
}  // namespace

void remember_type_name(std::uint64_t tag, const char* mangled) {
  auto& t = type_names();
  std::lock_guard lock(t.mutex);
  t.names.emplace(tag, mangled);
}

std::string type_name_of_tag(std::uint64_t tag) {
  auto& t = type_names();
  std::lock_guard lock(t.mutex);
  auto it = t.names.find(tag);
  return it == t.names.end() ? fmt::format("an unknown type (tag {:#x})", tag)
                             : demangle(it->second.c_str());
}

void throw_serialization_error(std::string message) {
  ErrorInfo info;
  info.kind = ErrorKind::serialization;
  info.message = std::move(message);
  info.rank = manta::rank();
  throw SerializationError(std::move(info));
}

}  // namespace detail
}  // namespace manta
