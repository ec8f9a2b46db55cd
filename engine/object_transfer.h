// Objects across ranks: finding where an object is, and moving its bytes.
//
// A rank that needs an object owned elsewhere asks the owner (resolve_object); the owner answers
// when it is finished (object_status: the value inline, where a copy is, or the error). To read
// a copy, the getter reserves room, asks the holder (pull_request); the holder answers with a
// header (pull_header: size, type and the carrier) and the bytes follow over the data plane
// (MPI messages, a UCX RMA read, or the holder's spill file). A reader on the holder's node gets
// the place of the bytes in the holder's shared memory segment instead and maps it: a view, no
// copy. Bytes the reader reads in place (RMA, or a view for as long as it lives) stay leased on
// the holder until the reader says it is done (pull_done). A getter that kept a copy
// tells the owner (copy_done), which may then hand that copy to the next reader.
//
// A copy that turns out to be gone (its holder no longer has it, its spill region is damaged)
// does not fail the reader: the owner hears of it (copy_lost), drops that location and answers
// again with another copy, a rebuilt object (lineage.h) or the final ObjectLostError.
//
// Handles: resolve_object, object_status, pull_request, pull_header, pull_done, copy_done,
// copy_lost.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/memory.h>

#include "engine/messages.h"
#include "engine/object_store.h"
#include "engine/rank_context.h"
#include "transport/data_plane.h"
#include "transport/wire.h"

namespace manta::engine {

class Dispatcher;
class Ownership;

/// Transfer counters for the memory summary.
struct TransferStats {
  std::uint64_t bytes_fetched = 0;
  std::uint64_t bytes_served = 0;
  std::uint64_t fetches = 0;
  std::uint64_t serves = 0;
  std::uint64_t serves_of_copies = 0;
  std::uint64_t views_served = 0;  // neighbours' reads in place (not in serves)
  std::uint64_t bytes_viewed = 0;
  std::uint64_t views_taken = 0;  // this rank's reads in place of neighbours' bytes
};

class ObjectTransfer {
 public:
  /// `reserved`: the room the pull held for the bytes, which storing them takes over.
  /// `in_place_of` >= 0: the bytes are a view of that neighbour rank's memory (its lease ends
  /// when the last holder of `bytes` lets go); they take no room here.
  using PullDone = std::function<void(SharedBuffer bytes, std::uint64_t tag,
                                      std::shared_ptr<const ErrorInfo> error,
                                      std::uint64_t reserved, int in_place_of)>;
  /// Bytes read from a spill file outside the store, or the error.
  using ReadPastStore = std::function<void(SharedBuffer, std::shared_ptr<const ErrorInfo>)>;

  ObjectTransfer(RankContext& ctx, Ownership& ownership, transport::DataPlane& plane);
  /// Views still alive after this stop telling their holders when they go.
  ~ObjectTransfer();
  ObjectTransfer(const ObjectTransfer&) = delete;
  ObjectTransfer& operator=(const ObjectTransfer&) = delete;

  void register_handlers(Dispatcher& d);

  /// Reserves room for `size` bytes (waiting for it if need be), then asks `from` for the
  /// object. `may_read_file`: `from` may answer with its spill file instead of the bytes.
  /// A copy found gone is reported to the owner (who drops it or rebuilds the object).
  void pull(const ObjectId& id, int from, std::uint64_t size, PullDone done,
            bool may_read_file = true);
  /// Every copy of an object this rank owns is lost (`cause`): lineage decides.
  void set_lost_hook(std::function<void(const ObjectId&, const ErrorInfo&)> lost) {
    lost_ = std::move(lost);
  }
  /// The copy of `id` on rank `at` is gone (`cause`). On the owner: drops that location, and
  /// with none left the object is rebuilt or failed; `asker` >= 0 is answered again. Elsewhere
  /// (`at` is this rank): drops the copy here and tells the owner.
  void copy_lost(const ObjectId& id, int at, const ErrorInfo& cause, int asker = -1);
  /// Owner: answers `reader`'s request to pull `id` once it is finished (a rebuilt object's
  /// readers that were queued for a copy).
  void answer_reader(int reader, const ObjectId& id) { on_resolve_object(reader, id, true); }
  /// Pulls a copy from `at` and records it: on the owner as a location, elsewhere as a cached
  /// copy the owner learns of. `assigned`: the owner counted this read against `at`.
  void pull_copy(const ObjectId& id, int at, bool assigned);
  /// A pull of an argument ended: keeps the copy here and tells the owner (a view is kept while
  /// references here want it, and is no copy the owner hands out).
  void keep_copy(const ObjectId& id, const SharedBuffer& bytes, std::uint64_t tag,
                 std::uint64_t reserved, int in_place_of);
  /// Asks the owner to say when `id` is finished. `want_pull`: the asker will read the bytes,
  /// so the owner assigns it a copy to read from.
  void ask_owner(const ObjectId& id, bool want_pull);
  /// Records a finished object as a task_done or object_status message describes it.
  void apply_result(const ObjectId& id, ResultKind kind, transport::WireReader& r);

  /// Reads spilled object `id` (seen as `v`) into a buffer outside the store, for a reader the
  /// store could not make room for (`no_room` says why). `done` gets the bytes, or the error:
  /// ObjectLostError when the file region is damaged (the object then fails for every reader),
  /// else `no_room` with why the read failed too.
  void read_spilled(const ObjectId& id, const ObjectStore::View& v,
                    std::shared_ptr<const ErrorInfo> no_room, ReadPastStore done);

  [[nodiscard]] TransferStats stats() const;
  /// Reads leased to other ranks and not yet done (for tests and the status report).
  [[nodiscard]] std::size_t open_leases() const;
  /// The memory summary's node-shared part: this rank's objects neighbours view now (per object
  /// in `objects`, and in total), the views served, and the bytes in shared segments.
  void summarize_views(RankMemory& m, std::vector<ObjectSummary>& objects) const;
  [[nodiscard]] const char* transport_name() const noexcept { return plane_.name(); }

 private:
  struct Pull {
    ObjectId id;
    std::uint64_t reserved = 0;  // room held for the bytes
    PullDone done;
    bool may_read_file = true;
    bool room_later = false;  // asked for a view: a copy reserves its room when it comes
  };
  // Bytes a reader reads in place stay alive until its pull_done.
  struct Lease {
    SharedBuffer bytes;
    std::uint64_t handle = 0;       // the data plane's offer
    ObjectStore::SpillHandle slot;  // a reader reads it from the spill file
    ObjectId id;                    // for the memory summary
    bool in_place = false;          // a neighbour views the bytes in shared memory
  };
  /// Where a view's end is reported; outlives this object in views a program still holds.
  struct LeaseReturns {
    std::mutex mutex;
    Outbox* outbox = nullptr;  // null once this object is gone
  };

  /// pull() without reporting a lost copy (pull_copy reports its own).
  void pull_bytes(const ObjectId& id, int from, std::uint64_t size, PullDone done,
                  bool may_read_file);
  /// Tells the owner of `id` that the copy on `at` is gone; `answer`: send me the object again.
  void report_lost(const ObjectId& id, int at, const ErrorInfo& cause, bool answer);
  /// `may_view`: a holder on this node may answer with its shared memory (a view).
  void send_pull_request(const ObjectId& id, int from, std::uint64_t reserved, PullDone done,
                         bool may_read_file, bool may_view, bool room_later = false);
  /// Whether a pull of `size` bytes from `from` will likely end as a view (no room needed here).
  [[nodiscard]] bool expect_view(int from, std::uint64_t size) const;
  void serve_pull(int source, int tag, const ObjectId& id, bool may_read_file, bool may_view);
  /// Answers a reader on this node with the bytes' place in shared memory; false when they are
  /// not in a shared segment.
  bool offer_in_place(int reader, int tag, const ObjectId& id, const ObjectStore::View& v);
  /// Reader: maps the holder's segment; on failure asks again for a copy.
  void receive_in_place(int source, int tag, Pull pull, std::uint64_t obj_tag, std::uint64_t size,
                        std::span<const std::byte> descriptor);
  /// serve_pull of an object on disk; false when it came back to memory meanwhile.
  bool serve_spilled(int source, int tag, const ObjectId& id, const ObjectStore::View& v,
                     bool may_read_file);
  void offer_bytes(int reader, int tag, const ObjectId& id, const ObjectStore::View& v);
  void on_pull_header(int source, transport::WireReader& r);
  void receive_bytes(int source, int tag, Pull pull, std::uint64_t obj_tag, std::uint64_t size,
                     transport::Carrier carrier, std::span<const std::byte> descriptor);
  void on_pull_done(int source, int tag);
  void on_resolve_object(int source, const ObjectId& id, bool want_pull);
  void on_copy_done(int source, transport::WireReader& r);
  void read_ended(const ObjectId& id, int from, int copy_at);
  void send_located(int dest, const ObjectId& id, const ObjectStore::Assignment& a);
  void send_lost_header(int reader, int tag, const ErrorInfo& error);

  RankContext& ctx_;
  Ownership& ownership_;
  transport::DataPlane& plane_;
  std::function<void(const ObjectId&, const ErrorInfo&)> lost_;

  mutable std::mutex pulls_mutex_;
  std::unordered_map<int, Pull> pulls_;  // by transfer tag

  mutable std::mutex leases_mutex_;
  std::unordered_map<std::uint64_t, Lease> leases_;  // by reader rank << 32 | transfer tag

  std::atomic<std::uint64_t> bytes_fetched_{0};
  std::atomic<std::uint64_t> bytes_served_{0};
  std::atomic<std::uint64_t> fetches_{0};
  std::atomic<std::uint64_t> serves_{0};
  std::atomic<std::uint64_t> serves_of_copies_{0};
  std::atomic<std::uint64_t> views_served_{0};
  std::atomic<std::uint64_t> bytes_viewed_{0};
  std::atomic<std::uint64_t> views_taken_{0};
  std::shared_ptr<LeaseReturns> lease_returns_ = std::make_shared<LeaseReturns>();
};

/// Reads the file carrier's descriptors (spill file path, offset, checksum) with this rank's
/// spill manager, for the data plane.
transport::DataPlane::FileReader spill_file_reader(RankContext& ctx);

}  // namespace manta::engine
