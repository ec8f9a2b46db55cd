// Ownership and reference counting across ranks. The rank that made an object owns it and
// counts who holds references: its own ObjectRefs, borrowers (other ranks that hold refs) and
// copies on other ranks. A borrower registers with the owner on its first reference
// (add_borrower) and says when it holds none (remove_borrower); the owner frees the object when
// nothing refers to it and tells the ranks holding copies to drop them (free_object). Releases
// from a borrower wait behind its unacknowledged registrations (see Outbox).
//
// Handles: add_borrower, borrow_ack, remove_borrower, free_object.
#pragma once

#include <memory>

#include <manta/ids.h>
#include <manta/object_ref.h>

#include "engine/object_store.h"
#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;
class Lineage;

class Ownership {
 public:
  explicit Ownership(RankContext& ctx) : ctx_(ctx) {}

  void register_handlers(Dispatcher& d);
  /// Freed objects' lineage goes with them (null: none kept).
  void set_lineage(Lineage* lineage) noexcept { lineage_ = lineage; }

  /// A new ObjectRef to `id` on this rank; the first one to an object owned elsewhere registers
  /// this rank as a borrower.
  std::shared_ptr<detail::RefToken> acquire(const ObjectId& id);
  /// An ObjectRef to `id` on this rank went away.
  void release(const ObjectId& id);
  /// Carries out what freeing an object left to do: tell holders of copies, drop the
  /// references it held and its lineage (outside the store's lock), and let waiting transfers
  /// have the room.
  void apply_freed(const ObjectId& id, ObjectStore::Freed&& freed);

 private:
  void on_add_borrower(int source, const ObjectId& id);

  RankContext& ctx_;
  Lineage* lineage_ = nullptr;
};

}  // namespace manta::engine
