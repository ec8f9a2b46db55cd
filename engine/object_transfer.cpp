#include "engine/object_transfer.h"

#include <fmt/format.h>

#include "engine/dispatcher.h"
#include "engine/log.h"
#include "engine/ownership.h"
#include "engine/shared_store.h"
#include "engine/spill_manager.h"
#include "transport/shared_segments.h"

namespace manta::engine {

using transport::Carrier;
using transport::WireReader;
using transport::WireWriter;

namespace {

// pull_request flags.
constexpr std::uint8_t kMayReadFile = 1;  // the holder may answer with its spill file
constexpr std::uint8_t kMayView = 2;      // a holder on this node may answer with its memory

std::uint64_t lease_key(int reader, int tag) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(reader)) << 32 |
         static_cast<std::uint32_t>(tag);
}

}  // namespace

transport::DataPlane::FileReader spill_file_reader(RankContext& ctx) {
  return [&ctx](std::span<const std::byte> descriptor, std::uint64_t size,
                transport::DataPlane::ReceiveDone done) {
    WireReader r(descriptor);
    const std::string path = r.str();
    const auto offset = r.get<std::uint64_t>();
    const auto check = r.get<std::uint64_t>();
    if (!ctx.spill) {
      done({nullptr, "this rank has no spill manager", true});
      return;
    }
    ctx.spill->read_file(
        path, offset, size, check,
        [path, done = std::move(done)](SharedBuffer bytes, std::string error, bool unreachable) {
          if (unreachable) error = path + ": " + error;
          done({std::move(bytes), std::move(error), unreachable});
        });
  };
}

ObjectTransfer::ObjectTransfer(RankContext& ctx, Ownership& ownership, transport::DataPlane& plane)
    : ctx_(ctx), ownership_(ownership), plane_(plane) {
  lease_returns_->outbox = &ctx_.outbox;
}

ObjectTransfer::~ObjectTransfer() {
  std::lock_guard lock(lease_returns_->mutex);
  lease_returns_->outbox = nullptr;
}

void ObjectTransfer::register_handlers(Dispatcher& d) {
  d.on(MessageType::resolve_object, [this](int source, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    on_resolve_object(source, id, r.get<std::uint8_t>() != 0);
  });
  d.on(MessageType::object_status, [this](int, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    apply_result(id, r.get<ResultKind>(), r);
  });
  d.on(MessageType::pull_request, [this](int source, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    const auto tag = r.get<int>();
    const auto flags = r.get<std::uint8_t>();
    serve_pull(source, tag, id, (flags & kMayReadFile) != 0, (flags & kMayView) != 0);
  });
  d.on(MessageType::pull_header,
       [this](int source, WireReader& r, auto) { on_pull_header(source, r); });
  d.on(MessageType::pull_done,
       [this](int source, WireReader& r, auto) { on_pull_done(source, r.get<int>()); });
  d.on(MessageType::copy_done,
       [this](int source, WireReader& r, auto) { on_copy_done(source, r); });
  d.on(MessageType::copy_lost, [this](int source, WireReader& r, auto) {
    const auto id = r.get<ObjectId>();
    const auto at = r.get<std::int32_t>();
    const bool answer = r.get<std::uint8_t>() != 0;
    copy_lost(id, at, read_error(r), answer ? source : -1);
  });
}

// ---------------------------------------------------------------------------------------------
// The getter's side.

void ObjectTransfer::pull(const ObjectId& id, int from, std::uint64_t size, PullDone done,
                          bool may_read_file) {
  pull_bytes(
      id, from, size,
      [this, id, from, done = std::move(done)](SharedBuffer bytes, std::uint64_t tag,
                                               std::shared_ptr<const ErrorInfo> err,
                                               std::uint64_t reserved, int in_place_of) {
        // The caller fails (a task's argument); the owner learns the copy is gone first, so the
        // task's rerun finds the object rebuilt or another copy.
        if (err && err->kind == ErrorKind::object_lost) report_lost(id, from, *err, false);
        done(std::move(bytes), tag, std::move(err), reserved, in_place_of);
      },
      may_read_file);
}

void ObjectTransfer::pull_bytes(const ObjectId& id, int from, std::uint64_t size, PullDone done,
                                bool may_read_file) {
  const bool may_view = ctx_.config.shared_memory != "off";
  if (may_view && expect_view(from, size)) {
    // A view takes no room here; room is reserved if the holder sends a copy after all.
    send_pull_request(id, from, 0, std::move(done), may_read_file, true, /*room_later=*/true);
    return;
  }
  // Room first: a transfer never lands in a store that has none (it waits for spilling).
  auto shared = std::make_shared<PullDone>(std::move(done));
  ctx_.store.reserve_async(size, [this, id, from, size, shared, may_read_file, may_view] {
    send_pull_request(id, from, size, std::move(*shared), may_read_file, may_view);
  });
}

bool ObjectTransfer::expect_view(int from, std::uint64_t size) const {
  // Large blocks live in shared segments where the node's ranks enabled them (they share one
  // directory and one setting, so this rank's state speaks for the holder's).
  return ctx_.shared_store && from != ctx_.rank && ctx_.same_node(from) && size >= kSharedMinBytes;
}

void ObjectTransfer::send_pull_request(const ObjectId& id, int from, std::uint64_t reserved,
                                       PullDone done, bool may_read_file, bool may_view,
                                       bool room_later) {
  const int tag = plane_.new_tag();
  {
    std::lock_guard lock(pulls_mutex_);
    pulls_[tag] = {id, reserved, std::move(done), may_read_file, room_later};
  }
  const std::uint8_t flags = (may_read_file ? kMayReadFile : 0) | (may_view ? kMayView : 0);
  ctx_.outbox.send(
      from, [&](WireWriter& w) { w.put(MessageType::pull_request).put(id).put(tag).put(flags); });
}

void ObjectTransfer::on_pull_header(int source, WireReader& r) {
  const auto tag = r.get<int>();
  const bool ok = r.get<std::uint8_t>() != 0;
  Pull pull;
  {
    std::lock_guard lock(pulls_mutex_);
    auto it = pulls_.find(tag);
    if (it == pulls_.end()) return;
    pull = std::move(it->second);
    pulls_.erase(it);
  }
  if (!ok) {
    // A failed read gives its room back before the caller hears of it.
    ctx_.store.unreserve(pull.reserved);
    pull.done(nullptr, 0, std::make_shared<const ErrorInfo>(read_error(r)), 0, -1);
    return;
  }
  const auto obj_tag = r.get<std::uint64_t>();
  const auto size = r.get<std::uint64_t>();
  const auto carrier = r.get<Carrier>();
  const auto descriptor = r.bytes();
  if (carrier == Carrier::shared) {
    receive_in_place(source, tag, std::move(pull), obj_tag, size, descriptor);
    return;
  }
  fetches_.fetch_add(1, std::memory_order_relaxed);
  bytes_fetched_.fetch_add(size, std::memory_order_relaxed);
  if (pull.room_later) {
    // Asked for a view, answered with a copy: the copy needs room here first.
    auto held = std::make_shared<Pull>(std::move(pull));
    auto desc = std::make_shared<Buffer>(descriptor.data(), descriptor.size());
    ctx_.store.reserve_async(size, [this, source, tag, held, desc, obj_tag, size, carrier] {
      held->reserved = size;
      held->room_later = false;
      receive_bytes(source, tag, std::move(*held), obj_tag, size, carrier, desc->span());
    });
    return;
  }
  receive_bytes(source, tag, std::move(pull), obj_tag, size, carrier, descriptor);
}

void ObjectTransfer::receive_in_place(int source, int tag, Pull pull, std::uint64_t obj_tag,
                                      std::uint64_t size, std::span<const std::byte> descriptor) {
  WireReader d(descriptor);
  transport::SegmentPlace place;
  place.name = d.str();
  place.segment_size = d.get<std::uint64_t>();
  place.offset = d.get<std::uint64_t>();
  std::string error;
  // The holder's lease ends when the view's last reference goes, wherever that happens.
  std::weak_ptr<LeaseReturns> returns = lease_returns_;
  SharedBuffer view = transport::map_view(
      place, size,
      [returns, source, tag] {
        if (auto r = returns.lock()) {
          std::lock_guard lock(r->mutex);
          if (r->outbox) {
            r->outbox->send(source, [&](WireWriter& w) { w.put(MessageType::pull_done).put(tag); });
          }
        }
      },
      &error);
  if (!view) {
    // This rank cannot map it (another mount namespace, a limit on mappings): ask for a copy.
    ctx_.outbox.send(source, [&](WireWriter& w) { w.put(MessageType::pull_done).put(tag); });
    log().warn("reading {} in place in rank {}'s shared memory failed ({}); copying it instead",
               pull.id.to_string(), source, error);
    auto held = std::make_shared<Pull>(std::move(pull));
    ctx_.store.reserve_async(held->room_later ? size : 0, [this, source, held, size] {
      send_pull_request(held->id, source, size, std::move(held->done), held->may_read_file, false);
    });
    return;
  }
  views_taken_.fetch_add(1, std::memory_order_relaxed);
  ctx_.store.unreserve(pull.reserved);
  pull.done(std::move(view), obj_tag, nullptr, 0, source);
}

void ObjectTransfer::receive_bytes(int source, int tag, Pull pull, std::uint64_t obj_tag,
                                   std::uint64_t size, Carrier carrier,
                                   std::span<const std::byte> descriptor) {
  if (carrier == Carrier::messages) {
    plane_.receive(
        source, tag, carrier, descriptor, size,
        [done = std::move(pull.done), obj_tag, reserved = pull.reserved](transport::Received got) {
          done(std::move(got.bytes), obj_tag, nullptr, reserved, -1);
        });
    return;
  }
  plane_.receive(
      source, tag, carrier, descriptor, size,
      [this, source, tag, carrier, obj_tag, pull = std::move(pull)](transport::Received got) {
        // The holder lets go of what it lent, whatever became of the read.
        ctx_.outbox.send(source, [&](WireWriter& w) { w.put(MessageType::pull_done).put(tag); });
        if (got.unreachable) {
          // This rank does not see that file (node-local disk): the holder restores and sends.
          log().debug("reading {} from rank {}'s spill file failed ({}); asking it to send it",
                      pull.id.to_string(), source, got.error);
          send_pull_request(pull.id, source, pull.reserved, pull.done, /*may_read_file=*/false,
                            /*may_view=*/false);
          return;
        }
        if (!got.error.empty()) {
          // The bytes are gone or damaged: no other copy to try.
          ctx_.store.unreserve(pull.reserved);
          const std::string message =
              carrier == Carrier::file
                  ? fmt::format(
                        "{} could not be read on rank {} from the spill file of rank {}: {}",
                        pull.id.to_string(), ctx_.rank, source, got.error)
                  : fmt::format("reading {} from rank {} failed: {}", pull.id.to_string(), source,
                                got.error);
          pull.done(nullptr, 0,
                    std::make_shared<const ErrorInfo>(
                        ctx_.make_error(ErrorKind::object_lost, nullptr, message)),
                    0, -1);
          return;
        }
        pull.done(std::move(got.bytes), obj_tag, nullptr, pull.reserved, -1);
      });
}

void ObjectTransfer::keep_copy(const ObjectId& id, const SharedBuffer& bytes, std::uint64_t tag,
                               std::uint64_t reserved, int in_place_of) {
  if (in_place_of >= 0) {
    ownership_.apply_freed(id, ctx_.store.set_view(id, bytes, tag, in_place_of));
    return;
  }
  // Kept, so later tasks and gets here need no transfer.
  if (id.owner == ctx_.rank) {
    ownership_.apply_freed(id, ctx_.store.set_ready(id, bytes, tag, {}, reserved));
    return;
  }
  ctx_.store.store_copy(id, bytes, tag, reserved);
  ctx_.outbox.send(id.owner, [&](WireWriter& w) {
    w.put(MessageType::copy_done).put(id).put<std::int32_t>(-1).put<std::uint8_t>(1);
  });
}

void ObjectTransfer::pull_copy(const ObjectId& id, int at, bool assigned) {
  pull_bytes(
      id, at, ctx_.store.view(id).size,
      [this, id, at, assigned](SharedBuffer bytes, std::uint64_t tag,
                               std::shared_ptr<const ErrorInfo> err, std::uint64_t reserved,
                               int in_place_of) {
        const bool ok = err == nullptr;
        if (!ok && err->kind == ErrorKind::object_lost) {
          // Not the last word: the owner drops that copy and gives another, or rebuilds it.
          if (id.owner == ctx_.rank) {
            copy_lost(id, at, *err);
            read_ended(id, at, -1);
          } else {
            report_lost(id, at, *err, true);  // the entry keeps waiting for the answer
          }
          return;
        }
        if (ok && in_place_of >= 0) {
          // A view: no copy here for the owner to hand out, but the read is over.
          ownership_.apply_freed(
              id, ctx_.store.set_view(id, std::move(bytes), tag, in_place_of, /*create=*/false));
          if (id.owner == ctx_.rank) {
            read_ended(id, at, -1);
          } else {
            ctx_.outbox.send(id.owner, [&](WireWriter& w) {
              w.put(MessageType::copy_done)
                  .put(id)
                  .put<std::int32_t>(assigned ? at : -1)
                  .put<std::uint8_t>(0);
            });
          }
          return;
        }
        if (!ok) {
          ctx_.store.fetch_failed(id, std::move(err));
        } else if (id.owner == ctx_.rank) {
          ownership_.apply_freed(id, ctx_.store.set_ready(id, std::move(bytes), tag, {}, reserved));
        } else {
          ctx_.store.store_copy(id, std::move(bytes), tag, reserved);
        }
        if (id.owner == ctx_.rank) {
          read_ended(id, at, ok ? ctx_.rank : -1);
        } else {
          ctx_.outbox.send(id.owner, [&](WireWriter& w) {
            w.put(MessageType::copy_done)
                .put(id)
                .put<std::int32_t>(assigned ? at : -1)
                .put<std::uint8_t>(ok);
          });
        }
      },
      true);
}

void ObjectTransfer::report_lost(const ObjectId& id, int at, const ErrorInfo& cause, bool answer) {
  if (id.owner == ctx_.rank) {
    copy_lost(id, at, cause, answer ? ctx_.rank : -1);
    return;
  }
  ctx_.outbox.send(id.owner, [&](WireWriter& w) {
    w.put(MessageType::copy_lost).put(id).put<std::int32_t>(at).put<std::uint8_t>(answer);
    write_error(w, cause);
  });
}

void ObjectTransfer::copy_lost(const ObjectId& id, int at, const ErrorInfo& cause, int asker) {
  if (id.owner != ctx_.rank) {
    // This rank's copy is gone: the owner stops sending readers here. It hears it before a
    // waiter here, woken by the drop, asks it for the object again.
    report_lost(id, ctx_.rank, cause, false);
    bool dropped = false;
    ownership_.apply_freed(id, ctx_.store.drop_copy(id, &dropped));
    return;
  }
  log().debug("the copy of {} on rank {} is lost: {}", id.to_string(), at, cause.message);
  if (ctx_.store.drop_location(id, at) == 0) {
    if (lost_) {
      lost_(id, cause);
    } else {
      auto error = std::make_shared<const ErrorInfo>(cause);
      ownership_.apply_freed(id, ctx_.store.set_failed(id, error));
    }
  }
  if (asker >= 0 && asker != ctx_.rank) on_resolve_object(asker, id, true);
}

void ObjectTransfer::ask_owner(const ObjectId& id, bool want_pull) {
  ctx_.outbox.send(id.owner, [&](WireWriter& w) {
    w.put(MessageType::resolve_object).put(id).put<std::uint8_t>(want_pull);
  });
}

void ObjectTransfer::apply_result(const ObjectId& id, ResultKind kind, WireReader& r) {
  ObjectStore& store = ctx_.store;
  if (kind == ResultKind::failed) {
    ownership_.apply_freed(id,
                           store.set_failed(id, std::make_shared<const ErrorInfo>(read_error(r))));
  } else if (kind == ResultKind::value) {
    const auto tag = r.get<std::uint64_t>();
    auto bytes = r.bytes();
    ownership_.apply_freed(
        id, store.set_ready(id, std::make_shared<const Buffer>(bytes.data(), bytes.size()), tag));
  } else {
    const auto tag = r.get<std::uint64_t>();
    const auto at = r.get<std::int32_t>();
    const auto size = r.get<std::uint64_t>();
    const bool assigned = r.get<std::uint8_t>() != 0;
    const ObjectStore::View here = store.view(id);
    if (assigned && here.exists && id.owner != ctx_.rank &&
        (here.state == ObjectStore::State::ready || here.state == ObjectStore::State::spilled)) {
      // The bytes came here meanwhile (a rebuild ran here, or a task's argument landed after
      // the question went out): no read, its slot goes back. Bytes kept until the owner frees
      // them are reported as a copy: the owner may have taken the question for a lost copy and
      // dropped this rank from its locations, and then its free would never reach them.
      const bool kept = here.cached_copy || here.primary_copy;
      ctx_.outbox.send(id.owner, [&](WireWriter& w) {
        w.put(MessageType::copy_done).put(id).put<std::int32_t>(at).put<std::uint8_t>(kept);
      });
      return;
    }
    const bool wanted = here.exists;
    ownership_.apply_freed(id, store.set_remote(id, at, size, tag, assigned && wanted));
    if (!assigned) return;
    if (wanted) {
      pull_copy(id, at, true);
    } else {
      ctx_.outbox.send(id.owner, [&](WireWriter& w) {
        w.put(MessageType::copy_done).put(id).put<std::int32_t>(at).put<std::uint8_t>(0);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The owner's side: where to read, and which copy.

void ObjectTransfer::on_resolve_object(int source, const ObjectId& id, bool want_pull) {
  if (want_pull && source != ctx_.rank && ctx_.store.lists_location(id, source)) {
    // A rank listed as holding a copy asks for it: its copy is gone (copy_lost answers it).
    copy_lost(id, source,
              ctx_.make_error(ErrorKind::object_lost, nullptr,
                              fmt::format("{} is no longer on rank {}", id.to_string(), source)),
              source);
    return;
  }
  auto reply = [this, source, id, want_pull] {
    ObjectStore::View v = ctx_.store.view(id);
    if (v.exists && v.state != ObjectStore::State::failed &&
        !(v.state == ObjectStore::State::ready && v.size <= ctx_.config.inline_limit)) {
      if (want_pull) {
        // The owner picks the copy to read; a busy broadcast waits for the next copy.
        if (auto a = ctx_.store.assign_reader(id, source, /*may_queue=*/true)) {
          send_located(source, id, *a);
        }
        return;
      }
      ctx_.outbox.send(source, [&](WireWriter& w) {
        w.put(MessageType::object_status)
            .put(id)
            .put(ResultKind::located)
            .put(v.tag)
            .put<std::int32_t>(ctx_.store.any_location(id))
            .put(v.size)
            .put<std::uint8_t>(0);
      });
      return;
    }
    ctx_.outbox.send(source, [&](WireWriter& w) {
      w.put(MessageType::object_status).put(id);
      if (!v.exists) {
        w.put(ResultKind::failed);
        write_error(w,
                    ctx_.make_error(ErrorKind::object_lost, nullptr,
                                    id.to_string() + " was freed by its owner before it was read"));
      } else if (v.state == ObjectStore::State::failed) {
        w.put(ResultKind::failed);
        write_error(w, *v.error);
      } else {
        w.put(ResultKind::value).put(v.tag).bytes(v.bytes->span());
      }
    });
  };
  if (!ctx_.store.when_finished(id, reply)) reply();
}

void ObjectTransfer::on_copy_done(int source, WireReader& r) {
  const auto id = r.get<ObjectId>();
  const auto from = r.get<std::int32_t>();
  const bool ok = r.get<std::uint8_t>() != 0;
  bool known = false;
  ObjectStore::Freed freed;
  for (const auto& a : ctx_.store.reader_done(id, source, from, ok ? source : -1, &known, &freed)) {
    send_located(a.requester, id, a);
  }
  ownership_.apply_freed(id, std::move(freed));
  // Freed while the copy was made: the copy has nothing left to serve.
  if (!known && ok) {
    ctx_.outbox.send_gated(source, [&](WireWriter& w) { w.put(MessageType::free_object).put(id); });
  }
}

void ObjectTransfer::read_ended(const ObjectId& id, int from, int copy_at) {
  bool known = false;
  ObjectStore::Freed freed;
  for (const auto& a : ctx_.store.reader_done(id, ctx_.rank, from, copy_at, &known, &freed)) {
    send_located(a.requester, id, a);
  }
  ownership_.apply_freed(id, std::move(freed));
}

void ObjectTransfer::send_located(int dest, const ObjectId& id, const ObjectStore::Assignment& a) {
  ctx_.outbox.send(dest, [&](WireWriter& w) {
    w.put(MessageType::object_status)
        .put(id)
        .put(ResultKind::located)
        .put(a.tag)
        .put<std::int32_t>(a.at)
        .put(a.size)
        .put<std::uint8_t>(1);
  });
}

// ---------------------------------------------------------------------------------------------
// The holder's side.

void ObjectTransfer::serve_pull(int source, int tag, const ObjectId& id, bool may_read_file,
                                bool may_view) {
  ObjectStore::View v = ctx_.store.view(id);
  if (v.exists && v.state == ObjectStore::State::spilled) {
    if (serve_spilled(source, tag, id, v, may_read_file)) return;
    v = ctx_.store.view(id);
  }
  if (!v.exists || v.state != ObjectStore::State::ready) {
    // A restore that failed (a damaged spill file) says why.
    send_lost_header(source, tag,
                     v.exists && v.state == ObjectStore::State::failed && v.error
                         ? *v.error
                         : ctx_.make_error(ErrorKind::object_lost, nullptr,
                                           id.to_string() + " is no longer on rank " +
                                               std::to_string(ctx_.rank)));
    return;
  }
  if (may_view && offer_in_place(source, tag, id, v)) return;
  serves_.fetch_add(1, std::memory_order_relaxed);
  bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
  if (v.cached_copy) serves_of_copies_.fetch_add(1, std::memory_order_relaxed);
  offer_bytes(source, tag, id, v);
}

bool ObjectTransfer::offer_in_place(int reader, int tag, const ObjectId& id,
                                    const ObjectStore::View& v) {
  if (reader == ctx_.rank || !ctx_.same_node(reader) || !v.bytes || v.bytes->empty()) return false;
  const auto place = transport::find_segment(v.bytes->data(), v.bytes->size());
  if (!place) return false;
  // The bytes stay (not freed, spilled or reused) until the reader's view goes: pull_done.
  {
    std::lock_guard lock(leases_mutex_);
    leases_[lease_key(reader, tag)] = {v.bytes, 0, nullptr, id, true};
  }
  views_served_.fetch_add(1, std::memory_order_relaxed);
  bytes_viewed_.fetch_add(v.size, std::memory_order_relaxed);
  Buffer descriptor;
  WireWriter(descriptor).str(place->name).put(place->segment_size).put(place->offset);
  ctx_.outbox.send(reader, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
    w.put(Carrier::shared).bytes(descriptor.span());
  });
  return true;
}

bool ObjectTransfer::serve_spilled(int source, int tag, const ObjectId& id,
                                   const ObjectStore::View& v, bool may_read_file) {
  if (may_read_file) {
    // The reader reads the file itself when it sees it; the slot stays until pull_done.
    {
      std::lock_guard lock(leases_mutex_);
      leases_[lease_key(source, tag)] = {nullptr, 0, v.spill, id, false};
    }
    serves_.fetch_add(1, std::memory_order_relaxed);
    bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
    Buffer descriptor;
    WireWriter(descriptor).str(ctx_.spill->file_path()).put(v.spill->offset).put(v.spill->check);
    ctx_.outbox.send(source, [&](WireWriter& w) {
      w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
      w.put(Carrier::file).bytes(descriptor.span());
    });
    return true;
  }
  if (auto error = ctx_.store.take_restore_error(id)) {
    // No room here to read it back into the store: send it from a buffer of its own.
    serves_.fetch_add(1, std::memory_order_relaxed);
    bytes_served_.fetch_add(v.size, std::memory_order_relaxed);
    read_spilled(id, v, std::move(error),
                 [this, source, tag, obj_tag = v.tag](SharedBuffer bytes,
                                                      std::shared_ptr<const ErrorInfo> err) {
                   if (err) {
                     send_lost_header(source, tag, *err);
                     return;
                   }
                   ctx_.outbox.send(source, [&](WireWriter& w) {
                     w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(obj_tag);
                     w.put(bytes->size()).put(Carrier::messages).bytes({});
                   });
                   plane_.send(source, tag, bytes);
                 });
    return true;
  }
  // It cannot read the file: read it back here, then send it.
  if (ctx_.store.when_restored(
          id, [this, source, tag, id] { serve_pull(source, tag, id, false, false); })) {
    ctx_.spill->restore(id);
    return true;
  }
  return false;
}

void ObjectTransfer::offer_bytes(int reader, int tag, const ObjectId& id,
                                 const ObjectStore::View& v) {
  transport::DataPlane::Offer offer;
  try {
    offer = plane_.offer(v.bytes);
  } catch (const std::exception& e) {
    // The reader still gets the object: by messages, below.
    log().warn("cannot offer {} for RMA reads ({}); sending it over MPI", id.to_string(), e.what());
  }
  if (offer.carrier != Carrier::messages) {
    // The reader copies straight out of this buffer; it stays alive until pull_done.
    {
      std::lock_guard lock(leases_mutex_);
      leases_[lease_key(reader, tag)] = {v.bytes, offer.handle, nullptr, id, false};
    }
    ctx_.outbox.send(reader, [&](WireWriter& w) {
      w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
      w.put(offer.carrier).bytes(offer.descriptor.span());
    });
    return;
  }
  ctx_.outbox.send(reader, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put(v.tag).put(v.size);
    w.put(Carrier::messages).bytes({});
  });
  plane_.send(reader, tag, v.bytes);
}

void ObjectTransfer::send_lost_header(int reader, int tag, const ErrorInfo& error) {
  ctx_.outbox.send(reader, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(0);
    write_error(w, error);
  });
}

void ObjectTransfer::on_pull_done(int source, int tag) {
  Lease lease;
  {
    std::lock_guard lock(leases_mutex_);
    auto it = leases_.find(lease_key(source, tag));
    if (it == leases_.end()) return;
    lease = std::move(it->second);
    leases_.erase(it);
  }
  plane_.release(lease.handle);
}

void ObjectTransfer::read_spilled(const ObjectId& id, const ObjectStore::View& v,
                                  std::shared_ptr<const ErrorInfo> no_room, ReadPastStore done) {
  ctx_.spill->read_spilled(id, v.spill,
                           [this, id, no_room = std::move(no_room), done = std::move(done)](
                               SharedBuffer bytes, std::string error, bool lost) {
                             if (bytes) {
                               done(std::move(bytes), nullptr);
                             } else if (lost) {
                               // The object is gone for good: every later reader hears the same.
                               auto info = std::make_shared<const ErrorInfo>(ctx_.make_error(
                                   ErrorKind::object_lost, nullptr, std::move(error)));
                               ctx_.store.restore_failed(id, info);
                               done(nullptr, std::move(info));
                             } else {
                               ErrorInfo info = *no_room;
                               info.message += "; reading " + id.to_string() +
                                               " past the store failed too: " + error;
                               done(nullptr, std::make_shared<const ErrorInfo>(std::move(info)));
                             }
                           });
}

TransferStats ObjectTransfer::stats() const {
  TransferStats s;
  s.bytes_fetched = bytes_fetched_.load(std::memory_order_relaxed);
  s.bytes_served = bytes_served_.load(std::memory_order_relaxed);
  s.fetches = fetches_.load(std::memory_order_relaxed);
  s.serves = serves_.load(std::memory_order_relaxed);
  s.serves_of_copies = serves_of_copies_.load(std::memory_order_relaxed);
  s.views_served = views_served_.load(std::memory_order_relaxed);
  s.bytes_viewed = bytes_viewed_.load(std::memory_order_relaxed);
  s.views_taken = views_taken_.load(std::memory_order_relaxed);
  return s;
}

void ObjectTransfer::summarize_views(RankMemory& m, std::vector<ObjectSummary>& objects) const {
  std::unordered_map<ObjectId, std::pair<int, std::uint64_t>> viewed;  // viewers, size
  {
    std::lock_guard lock(leases_mutex_);
    for (const auto& [key, lease] : leases_) {
      if (!lease.in_place) continue;
      auto& [viewers, size] = viewed[lease.id];
      ++viewers;
      size = lease.bytes ? lease.bytes->size() : 0;
    }
  }
  m.viewed_objects = viewed.size();
  for (const auto& [id, v] : viewed) m.viewed_bytes += v.second;
  for (auto& o : objects) {
    auto it = viewed.find(o.id);
    if (it != viewed.end() && o.rank == ctx_.rank) o.viewers = it->second.first;
  }
  m.views_served = views_served_.load(std::memory_order_relaxed);
  m.bytes_viewed = bytes_viewed_.load(std::memory_order_relaxed);
  const transport::SegmentStats segments = transport::segment_stats();
  m.shared_bytes = segments.own_bytes;
  m.views_held = segments.views;
  m.views_held_bytes = segments.view_bytes;
}

std::size_t ObjectTransfer::open_leases() const {
  std::lock_guard lock(leases_mutex_);
  return leases_.size();
}

}  // namespace manta::engine
