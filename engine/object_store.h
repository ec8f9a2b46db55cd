// This rank's objects: values it owns, copies it fetched, and results it produced for owners
// elsewhere ("primary copies"). Tracks each object's state, who waits for it, and what runs
// when it finishes. One mutex; callbacks and wake-ups run after it is released.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/object_ref.h>

namespace manta::engine {

class ObjectStore {
 public:
  enum class State : std::uint8_t {
    pending,  // its task has not finished
    ready,    // bytes are here
    remote,   // finished; bytes are on rank `location`
    failed,   // finished with an error
  };

  /// A thread blocked in get or wait; signalled on any change of an object it watches.
  struct Waiter {
    std::mutex mutex;
    std::condition_variable cv;
    std::atomic<bool> signaled{false};
    void notify();
  };

  struct View {
    bool exists = false;
    State state = State::pending;
    SharedBuffer bytes;
    std::uint64_t tag = 0;
    std::uint64_t size = 0;
    std::int32_t location = -1;
    std::shared_ptr<const ErrorInfo> error;
    std::shared_ptr<const void> decoded;
    std::uint64_t decoded_tag = 0;
  };

  struct Stats {
    std::uint64_t objects = 0;
    std::uint64_t bytes = 0;
  };

  explicit ObjectStore(int rank) : rank_(rank) {}

  /// The owner's entry for a task's return value, and the first reference to it.
  std::shared_ptr<detail::RefToken> create_pending(const ObjectId& id);
  /// The owner's entry for a value that exists now (put, or an automatically put argument).
  std::shared_ptr<detail::RefToken> create_ready(const ObjectId& id, SharedBuffer bytes,
                                                 std::uint64_t tag);
  /// This rank's token for `id`, making a pending entry if the rank has never seen it.
  std::shared_ptr<detail::RefToken> acquire(const ObjectId& id);
  /// The last local reference went away. Returns the rank holding the bytes that must be told to
  /// free them, if any.
  std::optional<int> release(const ObjectId& id);

  /// State changes. Each returns the rank to tell to free the bytes when no reference is left.
  std::optional<int> set_ready(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag);
  std::optional<int> set_remote(const ObjectId& id, int location, std::uint64_t size,
                                std::uint64_t tag);
  void set_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);

  /// Bytes this rank produced for an owner elsewhere; kept until the owner frees them.
  void store_primary(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag);
  void free_primary(const ObjectId& id);

  [[nodiscard]] View view(const ObjectId& id) const;

  /// Runs `cb` once the object is finished (ready, remote or failed). Returns false, without
  /// keeping `cb`, when it is finished already or unknown here.
  bool when_finished(const ObjectId& id, std::function<void()> cb);

  void add_waiter(const ObjectId& id, Waiter* w);
  void remove_waiter(const ObjectId& id, Waiter* w);
  /// True the first time it is called for a pending/remote entry: the caller starts the fetch
  /// (or the question to the owner).
  bool start_fetch(const ObjectId& id);
  bool start_resolve(const ObjectId& id);
  /// Forget a failed fetch so a later get can try again.
  void fetch_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);

  void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value);

  /// Wakes every waiter; from now on `stopped()` is true.
  void stop();
  [[nodiscard]] bool stopped() const;
  [[nodiscard]] Stats stats() const;

 private:
  struct Entry {
    State state = State::pending;
    SharedBuffer bytes;
    std::uint64_t tag = 0;
    std::uint64_t size = 0;
    std::int32_t location = -1;  // rank with the bytes, when not (only) here
    std::shared_ptr<const ErrorInfo> error;
    std::weak_ptr<detail::RefToken> token;
    bool released = false;  // owner dropped every reference before the task finished
    bool primary = false;   // bytes held for another owner
    bool fetching = false;
    bool resolving = false;
    std::vector<Waiter*> waiters;
    std::vector<std::function<void()>> on_finished;
    std::shared_ptr<const void> decoded;
    std::uint64_t decoded_tag = 0;
  };

  struct Wakeups {
    std::vector<Waiter*> waiters;
    std::vector<std::function<void()>> callbacks;
    void run();
  };
  static void collect(Entry& e, Wakeups& w, bool finished);
  std::optional<int> finish_owned(const ObjectId& id, Entry& e);

  int rank_;
  mutable std::mutex mutex_;
  std::unordered_map<ObjectId, Entry> entries_;
  bool stopped_ = false;
  std::uint64_t bytes_ = 0;
};

}  // namespace manta::engine
