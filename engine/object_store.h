// This rank's objects: values it owns, copies it fetched, and results it produced for owners
// elsewhere ("primary copies"). Tracks each object's state and who waits for it; on the owner
// also its reference count (local refs, borrowing ranks, references held inside other objects)
// and the ranks that hold its bytes. It also keeps the store under its capacity: it reserves
// room for bytes on their way in, picks the least recently used unpinned objects to spill, and
// tracks which objects are in this rank's spill file. One mutex; callbacks, wake-ups and token
// releases run after it is released.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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
    spilled,  // finished; bytes are only in this rank's spill file (restore reads them back)
  };

  /// Where an object's bytes lie in this rank's spill file. Shared by the entry and by readers
  /// of the file; the spill layer's deleter gives the space back when the last one lets go.
  struct SpillSlot {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint64_t check = 0;  // what the bytes must read back as (spill::Extent::check)
  };
  using SpillHandle = std::shared_ptr<const SpillSlot>;

  /// A thread blocked in get or wait; signalled on any change of an object it watches.
  /// Wake-ups are delivered after the store's lock is dropped, so a waiter may return (another
  /// object became ready, or its deadline passed) while a wake-up for it is still on its way:
  /// `in_flight` counts those, and the destructor lets them finish before the memory goes.
  struct Waiter {
    Waiter() = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    ~Waiter();
    std::mutex mutex;
    std::condition_variable cv;
    std::atomic<bool> signaled{false};
    std::atomic<int> in_flight{0};
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
    bool cached_copy = false;     // a copy fetched from elsewhere, not the owner's or primary
    bool neighbour_view = false;  // the bytes are a neighbour rank's memory, read in place
    bool primary_copy = false;    // bytes this rank produced for an owner elsewhere
    SpillHandle spill;            // set when the bytes are (also) in this rank's spill file
  };

  /// What an object's end leaves to do once the store's lock is released: ranks to tell to drop
  /// their copies, and references it held (dropping them may free further objects).
  struct Freed {
    std::vector<int> tell;
    TokenList contained;
    std::shared_ptr<const void> decoded;
    std::shared_ptr<const SpillSlot> spill;  // given back to the spill file when let go
    std::vector<ObjectId> erased;            // owned objects that are gone (their lineage too)
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

  /// An object picked for spilling: its bytes stay in memory until spilled() says where they went.
  struct SpillItem {
    ObjectId id;
    SharedBuffer bytes;
  };

  /// Where room for `bytes` stands: reserved, or why not.
  struct Room {
    bool ok = false;
    std::uint64_t capacity = 0;
    std::uint64_t pinned = 0;  // bytes nothing may spill, when it failed
  };

  explicit ObjectStore(int rank) : rank_(rank) {}

  // Capacity. With capacity 0 (the default) the store is unbounded and never asks to spill.
  /// `high_water`: past this many bytes (held plus reserved plus asked for), objects spill.
  /// `on_pressure` is called, with the store's lock held, whenever that happens; it must only
  /// queue work (the spill itself runs elsewhere).
  void set_capacity(std::uint64_t capacity, std::uint64_t high_water,
                    std::function<void()> on_pressure);
  [[nodiscard]] std::uint64_t capacity() const;
  /// Waits up to `timeout` for room (spilling makes it), then reserves it. Fails at once when
  /// `bytes` exceeds the capacity.
  Room reserve(std::uint64_t bytes, std::chrono::steady_clock::duration timeout);
  /// Runs `then` once room for `bytes` is reserved: now (on this thread), or later on a thread
  /// that frees memory. Requests are served in order. With `give_up` set, a request still
  /// waiting after `timeout` is dropped and `give_up` runs instead (from serve_reservations).
  void reserve_async(std::uint64_t bytes, std::function<void()> then,
                     std::chrono::steady_clock::duration timeout = {},
                     std::function<void()> give_up = nullptr);
  /// Bytes that nothing may spill now (held by readers, or being written).
  [[nodiscard]] std::uint64_t pinned_bytes() const;
  /// Bytes in memory that are not in the spill file (what spilling would have to write).
  [[nodiscard]] std::uint64_t unwritten_bytes() const;
  /// Bytes by which what is held, reserved and asked for exceeds the capacity (0 if none).
  [[nodiscard]] std::uint64_t room_shortfall() const;
  /// Gives back a reservation that was not used.
  void unreserve(std::uint64_t bytes);
  /// Runs the reservations that fit now; call after memory was freed.
  void serve_reservations();

  // Spilling.
  /// Bytes that must leave memory to get back under the high-water mark (0 if none), counting
  /// what is being written already.
  [[nodiscard]] std::uint64_t spill_needed() const;
  /// Least recently used unpinned objects in memory, about `want` bytes (objects of at least
  /// `min_batch` together when there are that many), marked as being spilled. Objects already in
  /// the spill file leave memory here at once, without a write. With `written_only` (nothing
  /// can be written any more) only those leave, and nothing is returned.
  std::vector<SpillItem> take_spill_batch(std::uint64_t want, std::uint64_t min_batch,
                                          bool written_only = false);
  /// The batch taken before is written (`slots[i]` for `ids[i]`; empty slots: the write failed
  /// and the object stays in memory). Objects nothing pinned meanwhile leave memory. Returns
  /// decoded values to destroy outside the lock.
  std::vector<std::shared_ptr<const void>> spilled(const std::vector<ObjectId>& ids,
                                                   const std::vector<SpillHandle>& slots);
  /// The first caller for a spilled object gets its slot and must read it back, then call
  /// restored() or restore_failed(). Empty for any other caller or state.
  SpillHandle start_restore(const ObjectId& id);
  /// Bytes read back from the spill file, with `reserved` bytes of room reserved for them.
  void restored(const ObjectId& id, SharedBuffer bytes, std::uint64_t reserved);
  /// The spill region is gone or damaged. With a lost handler set, the slot is dropped and the
  /// handler decides what becomes of the object (another copy, a rebuild, or a final error);
  /// without one the object fails with `error`.
  void restore_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);
  using LostHandler = std::function<void(const ObjectId&, std::shared_ptr<const ErrorInfo>)>;
  /// Set once the engine's parts are built (cleared before they go); called outside the lock.
  void set_lost_handler(LostHandler handler);
  /// The restore could not get room: the object stays spilled, and the next waiter to look
  /// (take_restore_error) reads it past the store or reports `error`, instead of waiting on.
  void restore_gave_up(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);
  std::shared_ptr<const ErrorInfo> take_restore_error(const ObjectId& id);
  /// Runs `cb` once a spilled object is back in memory (or failed). Returns false, without
  /// keeping `cb`, when the object is not spilled.
  bool when_restored(const ObjectId& id, std::function<void()> cb);

  /// The owner's entry for a task's return value, and the first reference to it.
  std::shared_ptr<detail::RefToken> create_pending(const ObjectId& id);
  /// The owner's entry for a value that exists now (put, or an automatically put argument).
  /// `reserved`: room reserve() made for these bytes, which they now take.
  std::shared_ptr<detail::RefToken> create_ready(const ObjectId& id, SharedBuffer bytes,
                                                 std::uint64_t tag, TokenList contained = {},
                                                 std::uint64_t reserved = 0);
  /// This rank's token for `id`, making an entry if the rank has never seen it. An owned object
  /// that is gone gets a failed entry (its get says it was freed) instead of waiting forever.
  Acquired acquire(const ObjectId& id);
  /// The last local reference went away.
  Released release(const ObjectId& id);

  /// State changes; an owned object with no references left is freed by them.
  Freed set_ready(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                  TokenList contained = {}, std::uint64_t reserved = 0);
  /// `fetching`: this rank starts reading the bytes now (set before waiters wake, so they
  /// don't start a second read).
  Freed set_remote(const ObjectId& id, int location, std::uint64_t size, std::uint64_t tag,
                   bool fetching = false);
  Freed set_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error);

  /// Bytes this rank produced for an owner elsewhere; kept until the owner frees them.
  void store_primary(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag, TokenList contained,
                     std::uint64_t reserved = 0);
  /// A fetched copy of an object owned elsewhere; kept (as a location the owner knows) until
  /// the owner frees it, even when no task or reference here wants it any more.
  void store_copy(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                  std::uint64_t reserved = 0);
  /// Bytes read in place in a neighbour rank's memory (`holder`), under its lease: on the owner
  /// the object becomes ready, elsewhere the entry holds them while references here want them
  /// (never a copy the owner hands out). They take no room in this store, are never spilled,
  /// and the lease ends when the last holder of `bytes` lets go.
  /// `create`: make the entry if there is none (a task's argument); else a view nobody here
  /// wants any more is dropped at once.
  Freed set_view(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag, int holder,
                 bool create = true);
  /// A get took the view in the entry: the entry lets go of it (back to remote), so the holder's
  /// lease lasts as long as the values the get returned, not as long as the reference here.
  void end_view(const ObjectId& id, const SharedBuffer& bytes);
  /// The node of every rank (one-copy-per-node reads); empty: every rank is a node of its own.
  void set_nodes(std::vector<int> node_of);
  /// The owner freed the object: drop the primary or cached copy.
  Freed free_copy(const ObjectId& id);

  // Lost copies (docs/lineage.md).
  /// Owner: the copy on `rank` is gone (on this rank: its spill region; bytes still in memory
  /// stay). Returns how many locations are left, or -1 when nothing was dropped (no such copy,
  /// or the object is unknown, pending or failed). Waiters look again when copies are left.
  int drop_location(const ObjectId& id, int rank);
  /// Owner: whether `rank` is listed as holding the bytes of a finished, not failed object.
  [[nodiscard]] bool lists_location(const ObjectId& id, int rank) const;
  /// Owner: every copy is lost and its task runs again, so the object is pending once more;
  /// waiters and callbacks keep waiting for it. Returns the readers that were queued for a copy
  /// (to be answered once it is rebuilt), or nothing when it is unknown or pending already.
  std::optional<std::vector<int>> make_pending(const ObjectId& id);
  /// Not the owner: this rank's copy is gone; whoever wants the object asks the owner again.
  /// `dropped`: there was a copy here.
  Freed drop_copy(const ObjectId& id, bool* dropped);

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
  /// `reader`: the rank that read (its node's read from another node is over).
  std::vector<Assignment> reader_done(const ObjectId& id, int reader, int from, int copy_at,
                                      bool* known, Freed* freed = nullptr);

  [[nodiscard]] View view(const ObjectId& id) const;

  /// Runs `cb` once the object is finished (ready, remote or failed). Returns false, without
  /// keeping `cb`, when it is finished already or unknown here.
  bool when_finished(const ObjectId& id, std::function<void()> cb);

  void add_waiter(const ObjectId& id, Waiter* w);
  void remove_waiter(const ObjectId& id, Waiter* w);
  /// True the first time it is called for a pending/remote entry: the caller starts the fetch
  /// (or the question to the owner). False once the bytes are here (ready or spilled), though
  /// the caller's view still lacked them: a pull that ended meanwhile has told the owner this
  /// rank holds a copy, and a holder asking for the object reads to the owner as a lost copy.
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
    int view_of = -1;  // >= 0: the bytes are a view of this neighbour rank's memory
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
    std::vector<int> incoming_nodes;  // nodes a copy is on its way to (one read per node)
    // Memory and spilling.
    mutable std::uint64_t last_use = 0;  // LRU clock value of the last read or write
    SpillHandle spill;                   // the bytes' place in the spill file, if written
    bool spilling = false;               // being written now
    bool restoring = false;              // being read back now
    std::shared_ptr<const ErrorInfo> restore_error;  // the last restore found no room
    std::vector<std::function<void()>> on_restored;
  };

  /// Wake-ups gathered under the store's lock and delivered after it is dropped. Each waiter
  /// appears once however many of its objects changed; delivery is also done on destruction,
  /// so an early return never strands a waiter's in-flight count.
  struct Wakeups {
    Wakeups() = default;
    Wakeups(const Wakeups&) = delete;
    Wakeups& operator=(const Wakeups&) = delete;
    ~Wakeups() { run(); }
    std::vector<Waiter*> waiters;
    std::vector<std::function<void()>> callbacks;
    void run();
  };
  static void collect(Entry& e, Wakeups& w, bool finished);
  [[nodiscard]] bool owned(const ObjectId& id) const noexcept { return id.owner == rank_; }
  /// Not owned here, and nothing here wants it: no reference, waiter, copy or work in flight.
  [[nodiscard]] bool unwanted(const ObjectId& id, const Entry& e) const;
  /// Frees an owned entry if nothing refers to it any more.
  Freed free_if_unreferenced(std::unordered_map<ObjectId, Entry>::iterator it);
  Freed erase(std::unordered_map<ObjectId, Entry>::iterator it);
  static void add_location(Entry& e, int rank);
  /// Makes `e` ready with these bytes (its fetch or question is over) and keeps `contained`.
  /// `rerun`: bytes a task made again (a rebuild) replace a slot that may be the damaged one.
  /// `view_of` >= 0: the bytes are that neighbour's memory (not counted here).
  void set_bytes(Entry& e, SharedBuffer bytes, std::uint64_t tag, TokenList&& contained,
                 std::uint64_t reserved, bool rerun = false, int view_of = -1);
  /// Bytes this store counts against its capacity: its own, not a neighbour's viewed in place.
  [[nodiscard]] static std::uint64_t counted(const Entry& e) {
    return e.bytes && e.view_of < 0 ? e.size : 0;
  }
  /// The bytes are in memory here or in this rank's spill file.
  [[nodiscard]] static bool holds_bytes(const Entry& e);
  /// Nothing but the store (and a decoded value it caches) holds the bytes.
  [[nodiscard]] static bool is_pinned(const Entry& e);
  /// Takes `n` bytes off the reservations (never below zero).
  void take_reserved(std::uint64_t n);
  [[nodiscard]] bool over_high_water() const;
  [[nodiscard]] std::uint64_t pinned_locked() const;
  /// A restore ended (done, failed or gave up): wakes waiters, hands over on_restored callbacks.
  static void end_restore(Entry& e, Wakeups& w);
  /// Frees the entry's memory (its bytes are in the spill file); the decoded value goes to `out`.
  void drop_bytes(Entry& e, std::vector<std::shared_ptr<const void>>& out);
  std::optional<Assignment> pick(Entry& e, int requester) const;
  [[nodiscard]] int node_of(int rank) const;

  int rank_;
  std::vector<int> nodes_;  // set once at init, before any message
  mutable std::mutex mutex_;
  std::unordered_map<ObjectId, Entry> entries_;
  bool stopped_ = false;
  std::uint64_t bytes_ = 0;
  // Capacity.
  std::uint64_t capacity_ = 0;  // 0: unbounded
  std::uint64_t high_water_ = 0;
  std::uint64_t reserved_ = 0;  // room promised to bytes on their way in
  std::uint64_t demand_ = 0;    // room asked for and not yet reserved
  std::uint64_t spilling_bytes_ = 0;
  mutable std::uint64_t clock_ = 0;  // LRU clock
  std::function<void()> on_pressure_;
  LostHandler lost_handler_;
  std::condition_variable room_cv_;
  struct RoomWaiter {
    std::uint64_t bytes = 0;
    std::function<void()> then;
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> give_up;
  };
  std::deque<RoomWaiter> room_waiters_;
  // Requests waiting for room, blocking or queued; read without the lock to skip idle work.
  std::atomic<std::size_t> room_waiting_{0};
};

}  // namespace manta::engine
