#include "engine/ownership.h"

#include "engine/dispatcher.h"
#include "engine/lineage.h"
#include "engine/log.h"
#include "engine/messages.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void Ownership::register_handlers(Dispatcher& d) {
  d.on(MessageType::add_borrower,
       [this](int source, WireReader& r, auto) { on_add_borrower(source, r.get<ObjectId>()); });
  d.on(MessageType::borrow_ack,
       [this](int, WireReader&, auto) { ctx_.outbox.borrow_acknowledged(); });
  d.on(MessageType::remove_borrower, [this](int source, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    apply_freed(id, ctx_.store.remove_borrower(id, source));
  });
  d.on(MessageType::free_object, [this](int, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    apply_freed(id, ctx_.store.free_copy(id));
  });
}

void Ownership::on_add_borrower(int source, const ObjectId& id) {
  if (!ctx_.store.add_borrower(id, source)) {
    log().debug("rank {} registered as borrower of {} after it was freed", source, id.to_string());
  }
  ctx_.outbox.send(source, [&](WireWriter& w) { w.put(MessageType::borrow_ack).put(id); });
}

std::shared_ptr<detail::RefToken> Ownership::acquire(const ObjectId& id) {
  ObjectStore::Acquired a = ctx_.store.acquire(id);
  if (a.new_borrow && !ctx_.stopping) {
    ctx_.outbox.borrow_registered();
    ctx_.outbox.send(id.owner, [&](WireWriter& w) { w.put(MessageType::add_borrower).put(id); });
  }
  return std::move(a.token);
}

void Ownership::release(const ObjectId& id) {
  ObjectStore::Released r = ctx_.store.release(id);
  if (r.tell_owner && !ctx_.stopping) {
    ctx_.outbox.send_gated(id.owner,
                           [&](WireWriter& w) { w.put(MessageType::remove_borrower).put(id); });
  }
  apply_freed(id, std::move(r.freed));
}

void Ownership::apply_freed(const ObjectId& id, ObjectStore::Freed&& freed) {
  if (!ctx_.stopping) {
    for (int rank : freed.tell) {
      if (rank == ctx_.rank) continue;
      ctx_.outbox.send_gated(rank, [&](WireWriter& w) { w.put(MessageType::free_object).put(id); });
    }
  }
  // The references it held are dropped here, outside the store's lock; that may free more.
  if (lineage_) lineage_->forget(freed.erased);
  freed.contained.clear();
  freed.decoded.reset();
  freed.spill.reset();
  ctx_.store.serve_reservations();  // memory may have been freed: transfers waiting for room go
}

}  // namespace manta::engine
