// This rank's objects: values it owns, copies it fetched, and results it produced for owners
// elsewhere ("primary copies"). Tracks each object's state and who waits for it; on the owner
// also its reference count (local refs, borrowing ranks, references held inside other objects)
// and the ranks that hold its bytes. One mutex; callbacks, wake-ups and token releases run
// after it is released.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/memory.h>
#include <manta/object_ref.h>

namespace manta::engine {

using TokenList = std::vector<std::shared_ptr<detail::RefToken>>;

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
    bool cached_copy = false;  // a copy fetched from elsewhere, not the owner's or primary
  };

  /// What an object's end leaves to do once the store's lock is released: ranks to tell to drop
  /// their copies, and references it held (dropping them may free further objects).
  struct Freed {
    std::vector<int> tell;
    TokenList contained;
    std::shared_ptr<const void> decoded;
    void merge(Freed&& other);
  };

  struct Acquired {
    std::shared_ptr<detail::RefToken> token;
    bool new_borrow = false;  // first reference on this rank to an object owned elsewhere
  };

  struct Released {
    bool tell_owner = false;  // this rank was a registered borrower: tell the owner it is done
    Freed freed;
  };

  /// A reader the owner assigned to a copy: `requester` pulls from `at`.
  struct Assignment {
    int requester = -1;
    int at = -1;
    std::uint64_t size = 0;
    std::uint64_t tag = 0;
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
                                                 std::uint64_t tag, TokenList contained = {});
  /// This rank's token for `id`, making an entry if the rank has never seen it. An owned object
  /// that is gone gets a failed entry (its get says it was freed) instead of waiting forever.
  Acquired acquire(const ObjectId& id);
  /// The last local reference went away.
  Released release(const ObjectId& id);

  /// State changes; an owned object with no references left is freed by them.
  Freed set_ready(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                  TokenList contained = {});
  /// `fetching`: this rank starts reading the bytes now (set before waiters wake, so they
  /// don't start a second read).
  Freed set_remote(const ObjectId& id, int location, std::uint64_t size, std::uint64_t tag,
                   bool fetching = false);
  Freed set_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);

  /// Bytes this rank produced for an owner elsewhere; kept until the owner frees them.
  void store_primary(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                     TokenList contained);
  /// A fetched copy of an object owned elsewhere; kept (as a location the owner knows) until
  /// the owner frees it, even when no task or reference here wants it any more.
  void store_copy(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag);
  /// The owner freed the object: drop the primary or cached copy.
  Freed free_copy(const ObjectId& id);

  // Owner side of reference counting.
  /// A rank registered (+1) or dropped (-1) its references. Counts are per rank and signed, so
  /// a drop that overtakes its registration on another path cancels out instead of freeing.
  /// Returns false when the object is unknown (already freed).
  bool add_borrower(const ObjectId& id, int rank);
  Freed remove_borrower(const ObjectId& id, int rank);

  // Owner side of copies.
  /// Picks the copy `requester` should read: the one with fewest readers, a copy before the
  /// first location. Large objects get one reader per copy at a time, so a broadcast spreads
  /// along the copies as they finish; if all copies are busy the request waits (nullopt).
  std::optional<Assignment> assign_reader(const ObjectId& id, int requester, bool may_queue);
  /// Any location, without counting a reader (for status answers and task arguments).
  [[nodiscard]] int any_location(const ObjectId& id) const;
  /// A read from `from` ended (`from` < 0: not an assigned read); `copy_at` >= 0 now holds a
  /// copy. Returns the queued readers that can start now.
  /// An owned object whose last reference went while readers were queued is freed here, into
  /// `freed` (to be applied outside the lock).
  std::vector<Assignment> reader_done(const ObjectId& id, int from, int copy_at, bool* known,
                                      Freed* freed = nullptr);

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
  void end_resolve(const ObjectId& id);
  /// A fetch failed: the object is lost here.
  void fetch_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);

  /// `views_bytes`: the decoded value holds the bytes itself (manta::Array), which then does not
  /// count as a pin.
  void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value,
                     bool views_bytes = false);

  /// Wakes every waiter; from now on `stopped()` is true.
  void stop();
  [[nodiscard]] bool stopped() const;
  [[nodiscard]] Stats stats() const;
  /// This rank's part of memory_summary: totals, and up to `max_objects` largest objects.
  void summarize(RankMemory& totals, std::vector<ObjectSummary>& objects,
                 std::size_t max_objects) const;

 private:
  struct Location {
    int rank = -1;
    int readers = 0;
  };
  struct Entry {
    State state = State::pending;
    SharedBuffer bytes;
    std::uint64_t tag = 0;
    std::uint64_t size = 0;
    std::int32_t location = -1;  // rank with the bytes, when not (only) here
    std::shared_ptr<const ErrorInfo> error;
    std::weak_ptr<detail::RefToken> token;
    bool primary = false;    // bytes held for an owner elsewhere
    bool copy = false;       // a fetched copy the owner knows about
    bool borrowing = false;  // this rank is registered with the owner as a borrower
    bool fetching = false;
    bool resolving = false;
    std::vector<Waiter*> waiters;
    std::vector<std::function<void()>> on_finished;
    std::shared_ptr<const void> decoded;
    std::uint64_t decoded_tag = 0;
    bool decoded_views = false;
    TokenList contained;  // references encoded inside the bytes, kept alive with them
    // Owner only.
    std::vector<std::pair<int, std::int64_t>> borrowers;  // rank, signed count
    std::vector<Location> locations;                      // ranks with the bytes, this one too
    std::vector<int> queued_readers;                      // waiting for a free copy
  };

  struct Wakeups {
    std::vector<Waiter*> waiters;
    std::vector<std::function<void()>> callbacks;
    void run();
  };
  static void collect(Entry& e, Wakeups& w, bool finished);
  [[nodiscard]] bool owned(const ObjectId& id) const noexcept { return id.owner == rank_; }
  /// Frees an owned entry if nothing refers to it any more.
  Freed free_if_unreferenced(std::unordered_map<ObjectId, Entry>::iterator it);
  Freed erase(std::unordered_map<ObjectId, Entry>::iterator it);
  static void add_location(Entry& e, int rank);
  /// Makes `e` ready with these bytes (its fetch or question is over) and keeps `contained`.
  void set_bytes(Entry& e, SharedBuffer bytes, std::uint64_t tag, TokenList&& contained);
  std::optional<Assignment> pick(Entry& e, int requester) const;

  int rank_;
  mutable std::mutex mutex_;
  std::unordered_map<ObjectId, Entry> entries_;
  bool stopped_ = false;
  std::uint64_t bytes_ = 0;
};

}  // namespace manta::engine
