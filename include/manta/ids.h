// Identifiers of tasks and objects. An id names its owner rank, so any rank can tell
// whom to ask about an object without a lookup in the control store.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace manta {

/// Names one object. `owner` is the rank that created the ObjectRef (the submitter of the task
/// that produces it, or the caller of put); `seq` is unique within that owner.
struct ObjectId {
  std::int32_t owner = -1;
  std::uint32_t index = 0;  // reserved for tasks with several returns; 0 today
  std::uint64_t seq = 0;

  [[nodiscard]] bool valid() const noexcept { return owner >= 0; }
  friend auto operator<=>(const ObjectId&, const ObjectId&) = default;
  [[nodiscard]] std::string to_string() const;
};

/// Names one task submission. A task's return object shares its owner and sequence number.
struct TaskId {
  std::int32_t submitter = -1;
  std::uint64_t seq = 0;

  [[nodiscard]] ObjectId return_object() const noexcept { return {submitter, 0, seq}; }
  friend auto operator<=>(const TaskId&, const TaskId&) = default;
  [[nodiscard]] std::string to_string() const;
};

/// Names one actor for its whole life, restarts included. `creator` is the rank that created it.
struct ActorId {
  std::int32_t creator = -1;
  std::uint32_t reserved = 0;
  std::uint64_t seq = 0;

  [[nodiscard]] bool valid() const noexcept { return creator >= 0; }
  friend auto operator<=>(const ActorId&, const ActorId&) = default;
  [[nodiscard]] std::string to_string() const;
};

}  // namespace manta

template <>
struct std::hash<manta::ActorId> {
  std::size_t operator()(const manta::ActorId& id) const noexcept {
    return std::hash<std::uint64_t>{}(id.seq * 0x9E3779B97F4A7C15ull ^
                                      std::uint64_t(std::uint32_t(id.creator)) << 40);
  }
};

template <>
struct std::hash<manta::ObjectId> {
  std::size_t operator()(const manta::ObjectId& id) const noexcept {
    return std::hash<std::uint64_t>{}(id.seq * 0x9E3779B97F4A7C15ull ^
                                      (std::uint64_t(std::uint32_t(id.owner)) << 32 | id.index));
  }
};

template <>
struct std::hash<manta::TaskId> {
  std::size_t operator()(const manta::TaskId& id) const noexcept {
    return std::hash<manta::ObjectId>{}(id.return_object());
  }
};
