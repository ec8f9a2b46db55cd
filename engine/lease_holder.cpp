#include "engine/lease_holder.h"

#include <utility>
#include <vector>

#include "engine/dispatcher.h"
#include "engine/messages.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

namespace {
// At most this many slots in one request: enough for a deep backlog, small enough that one
// holder's burst does not take the whole job for a term.
constexpr std::uint32_t kMaxAsk = 4096;

LeaseClock::duration micros(std::int64_t us) {
  return std::chrono::duration_cast<LeaseClock::duration>(std::chrono::microseconds(us));
}
}  // namespace

LeaseHolder::LeaseHolder(RankContext& ctx, LeaseClock::duration term, LeaseClock::duration idle)
    : ctx_(ctx), term_(term), idle_(idle), set_(term) {}

void LeaseHolder::register_handlers(Dispatcher& d, std::function<void()> on_room) {
  on_room_ = std::move(on_room);
  d.on(MessageType::lease_grant, [this](int, WireReader& r, auto) { on_grant(r); });
  d.on(MessageType::lease_renewed, [this](int, WireReader& r, auto) {
    const auto now = LeaseClock::now();
    const auto n = r.count<std::uint32_t>(2 * sizeof(std::uint64_t));
    std::lock_guard lock(mutex_);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto id = r.get<std::uint64_t>();
      set_.renewed(id, now + micros(r.get<std::int64_t>()));
    }
  });
}

void LeaseHolder::on_grant(WireReader& r) {
  const auto now = LeaseClock::now();
  const ResourceSet shape = read_resources(r);
  const bool answer = r.get<std::uint8_t>() != 0;
  const auto n = r.count<std::uint32_t>(2 * sizeof(std::uint64_t));
  {
    std::lock_guard lock(mutex_);
    for (std::uint32_t i = 0; i < n; ++i) {
      Lease l;
      l.id = r.get<std::uint64_t>();
      l.holder = ctx_.rank;
      l.rank = r.get<std::int32_t>();
      l.slots = r.get<std::uint32_t>();
      l.expires = now + micros(r.get<std::int64_t>());
      l.shape = shape;
      set_.add(l);
    }
    stats_.granted += n;
    // An answer without leases means the request waits at rank 0, which sends room when some
    // frees up: no new request until then (or until a term passed without any).
    if (n > 0 || !answer) {
      set_.answered(shape);
      asked_.erase(shape.to_string());
    }
  }
  if (n > 0 && on_room_) on_room_();
}

std::optional<LeaseSet::Use> LeaseHolder::take(const ResourceSet& shape) {
  std::lock_guard lock(mutex_);
  auto use = set_.take(shape, LeaseClock::now());
  if (use) ++stats_.sent;
  return use;
}

void LeaseHolder::done(std::uint64_t lease) {
  std::lock_guard lock(mutex_);
  set_.done(lease, LeaseClock::now());
}

void LeaseHolder::refused(std::uint64_t lease) {
  std::lock_guard lock(mutex_);
  ++stats_.refused;
  set_.refused(lease, LeaseClock::now());
}

std::uint64_t LeaseHolder::free_slots(const ResourceSet& shape) const {
  std::lock_guard lock(mutex_);
  return set_.free_slots(shape, LeaseClock::now());
}

void LeaseHolder::want(const ResourceSet& shape, std::uint64_t backlog) {
  std::uint32_t ask = 0;
  {
    std::lock_guard lock(mutex_);
    ask = set_.to_ask(shape, backlog, LeaseClock::now(), kMaxAsk);
    if (ask == 0) return;
    set_.asked(shape);
    asked_[shape.to_string()] = Asked{shape, LeaseClock::now()};
    ++stats_.requests;
  }
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::lease_request);
    write_resources(w, shape);
    w.put(ask);
  });
}

void LeaseHolder::tick() {
  const auto now = LeaseClock::now();
  std::vector<std::uint64_t> renew, give_back;
  {
    std::lock_guard lock(mutex_);
    renew = set_.to_renew(now);
    give_back = set_.to_return(now, idle_);
    stats_.returned += give_back.size();
    for (auto it = asked_.begin(); it != asked_.end();) {
      if (now - it->second.when < term_) {
        ++it;
        continue;
      }
      set_.answered(it->second.shape);
      it = asked_.erase(it);
    }
  }
  if (ctx_.stopping) return;
  auto send_ids = [&](MessageType type, const std::vector<std::uint64_t>& ids) {
    if (ids.empty()) return;
    ctx_.outbox.send(0, [&](WireWriter& w) {
      w.put(type).put(static_cast<std::uint32_t>(ids.size()));
      for (std::uint64_t id : ids) w.put(id);
    });
  };
  send_ids(MessageType::lease_renew, renew);
  send_ids(MessageType::lease_return, give_back);
}

LeaseHolderStats LeaseHolder::stats() const {
  std::lock_guard lock(mutex_);
  LeaseHolderStats s = stats_;
  s.held = set_.held();
  s.in_flight = set_.in_flight();
  return s;
}

}  // namespace manta::engine
