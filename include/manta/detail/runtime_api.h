// The non-template entry points that the public templates call; implemented in engine/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <manta/buffer.h>
#include <manta/detail/function_registry.h>
#include <manta/ids.h>
#include <manta/object_ref.h>
#include <manta/options.h>

namespace manta::detail {

using Timeout = std::optional<std::chrono::nanoseconds>;

/// One argument of a submitted task.
struct ArgSlot {
  enum class Kind : std::uint8_t {
    inline_value,  // bytes in Submission::inline_bytes[offset, offset + size)
    ref,           // an ObjectRef to resolve before the task runs
  };
  Kind kind = Kind::inline_value;
  std::uint64_t tag = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::shared_ptr<RefToken> ref;
};

/// A task as the public template builds it.
struct Submission {
  const FunctionEntry* function = nullptr;
  Buffer inline_bytes;
  std::vector<ArgSlot> args;
  std::vector<std::shared_ptr<RefToken>> keep_alive;  // refs passed through as values
};

std::shared_ptr<RefToken> submit_task(Submission&& submission, const TaskOptions& options);
/// Stores bytes this rank now owns; `contained` are the references encoded inside them.
std::shared_ptr<RefToken> put_object(SharedBuffer bytes, std::uint64_t tag,
                                     std::vector<std::shared_ptr<RefToken>> contained);

/// A value as the store holds it; `decoded` is the typed copy that threads share, if made.
struct StoredValue {
  SharedBuffer bytes;
  std::uint64_t tag = 0;
  std::shared_ptr<const void> decoded;
  std::uint64_t decoded_tag = 0;
};

/// Blocks until the object is available here (fetching it if needed) or throws its error.
StoredValue get_object(const ObjectId& id, Timeout timeout);
/// `views_bytes`: the value reads the stored bytes in place (manta::Array).
void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value,
                   bool views_bytes);

/// Which of `ids` are finished, after at least `num_ready` are or the timeout passed.
std::vector<bool> wait_objects(const std::vector<ObjectId>& ids, std::size_t num_ready,
                               Timeout timeout);

}  // namespace manta::detail
