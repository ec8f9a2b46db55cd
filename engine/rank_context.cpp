#include "engine/rank_context.h"

#include <fmt/format.h>

#include "engine/function_table.h"
#include "engine/spill_manager.h"

namespace manta::engine {

std::string RankContext::function_name(const TaskSpec& t) const {
  if (!t.name.empty()) return t.name;
  const auto* f = FunctionTable::instance().at(t.function);
  return f ? f->name : fmt::format("function #{}", t.function);
}

ErrorInfo RankContext::make_error(ErrorKind kind, const TaskSpec* task, std::string message) const {
  ErrorInfo e;
  e.kind = kind;
  e.rank = rank;
  if (task) e.task_name = function_name(*task);
  e.message = std::move(message);
  return e;
}

std::chrono::steady_clock::duration RankContext::store_full_timeout() const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(config.store_full_timeout_s));
}

ErrorInfo RankContext::store_full_error(std::uint64_t requested, const ObjectStore::Room& room,
                                        const TaskSpec* task) const {
  const std::string spill_error = spill ? spill->last_error() : std::string();
  std::string why, fix = "raise --manta-object-store-memory or release objects sooner";
  if (requested > room.capacity) {
    why = "the object is larger than the whole store";
  } else if (!spill_error.empty()) {
    // Memory holds objects that could spill if the disk had room: more memory is not the fix.
    why = fmt::format(
        "{} bytes of it are pinned by get views, running tasks or transfers, and {} bytes "
        "cannot leave memory because spilling failed: {}",
        room.pinned, store.unwritten_bytes(), spill_error);
    fix =
        "give --manta-spill-dir a file system with more room, or hold fewer objects at once "
        "(drop ObjectRefs and get results no longer needed)";
  } else {
    why = fmt::format(
        "{} bytes of it are pinned by get views, running tasks or transfers, and room did not "
        "appear within {} s",
        room.pinned, config.store_full_timeout_s);
  }
  ErrorInfo info = make_error(
      ErrorKind::store_full, task,
      fmt::format("object store full on rank {}: {} bytes requested, capacity {} bytes, {} bytes "
                  "pinned ({}); {}",
                  rank, requested, room.capacity, room.pinned, why, fix));
  info.requested_bytes = requested;
  info.capacity_bytes = room.capacity;
  info.pinned_bytes = room.pinned;
  return info;
}

}  // namespace manta::engine
