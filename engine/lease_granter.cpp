#include "engine/lease_granter.h"

#include <map>
#include <utility>

#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/messages.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

LeaseGranter::LeaseGranter(RankContext& ctx, std::vector<ResourceSet> totals,
                           LeaseSettings settings, GlobalScheduler& global)
    : ctx_(ctx), global_(global), table_(std::move(totals), settings) {}

void LeaseGranter::register_handlers(Dispatcher& d) {
  d.on(MessageType::lease_request, [this](int source, WireReader& r, auto) {
    const ResourceSet shape = read_resources(r);
    const auto wanted = r.get<std::uint32_t>();
    if (!ctx_.stopping) on_request(source, shape, wanted);
  });
  d.on(MessageType::lease_renew, [this](int source, WireReader& r, auto) {
    std::vector<std::uint64_t> ids(r.count<std::uint32_t>(sizeof(std::uint64_t)));
    for (auto& id : ids) id = r.get<std::uint64_t>();
    const auto now = clock_();
    std::vector<Lease> renewed;
    {
      std::lock_guard lock(mutex_);
      renewed = table_.renew(source, ids, now);
      stats_.renewed += renewed.size();
    }
    if (renewed.empty() || ctx_.stopping) return;
    ctx_.outbox.send(source, [&](WireWriter& w) {
      w.put(MessageType::lease_renewed).put(static_cast<std::uint32_t>(renewed.size()));
      for (const Lease& l : renewed) {
        w.put(l.id).put(static_cast<std::int64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(l.expires - now).count()));
      }
    });
  });
  d.on(MessageType::lease_return, [this](int source, WireReader& r, auto) {
    std::vector<std::uint64_t> ids(r.count<std::uint32_t>(sizeof(std::uint64_t)));
    for (auto& id : ids) id = r.get<std::uint64_t>();
    std::vector<Lease> granted;
    const auto now = clock_();
    const std::vector<double> busy = global_.busy_per_cpu();
    {
      std::lock_guard lock(mutex_);
      for (std::uint64_t id : ids) stats_.returned += table_.give_back(source, id);
      // Room came back: whoever waited for it gets it now, not at the next tick.
      if (table_.waiting() > 0) granted = table_.grant_waiting(busy, now);
      stats_.granted += granted.size();
    }
    send(granted, now);
  });
}

void LeaseGranter::on_request(int holder, const ResourceSet& shape, std::uint32_t wanted) {
  const auto now = clock_();
  std::vector<Lease> granted;
  {
    const std::vector<double> busy = global_.busy_per_cpu();
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    granted = table_.request(holder, shape, wanted, busy, now);
    stats_.granted += granted.size();
  }
  // Always answered, so the holder knows its request arrived (and may wait for more).
  send(granted, now, holder, &shape);
}

void LeaseGranter::send(const std::vector<Lease>& leases, LeaseClock::time_point now, int answer_to,
                        const ResourceSet* answer_shape) {
  if (ctx_.stopping) return;
  // Grouped by holder and shape: one message each.
  std::map<std::pair<int, std::string>, std::vector<const Lease*>> groups;
  for (const Lease& l : leases) groups[{l.holder, l.shape.to_string()}].push_back(&l);
  if (answer_to >= 0 && answer_shape) groups.try_emplace({answer_to, answer_shape->to_string()});
  for (const auto& [key, group] : groups) {
    const int holder = key.first;
    const ResourceSet& shape =
        group.empty() ? *answer_shape : group.front()->shape;  // empty only for the answer
    const bool answer = holder == answer_to && answer_shape && shape == *answer_shape;
    ctx_.outbox.send(holder, [&](WireWriter& w) {
      w.put(MessageType::lease_grant);
      write_resources(w, shape);
      w.put(static_cast<std::uint8_t>(answer)).put(static_cast<std::uint32_t>(group.size()));
      for (const Lease* l : group) {
        w.put(l->id).put(l->rank).put(l->slots);
        // Time left rather than a time point: clocks of different hosts do not agree.
        w.put(static_cast<std::int64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(l->expires - now).count()));
      }
    });
  }
}

void LeaseGranter::tick() {
  const auto now = clock_();
  std::vector<Lease> granted;
  {
    std::lock_guard lock(mutex_);
    stats_.expired += table_.expire(now).size();
    if (table_.waiting() == 0) return;
  }
  // The global scheduler's lock is never taken inside this one.
  const std::vector<double> busy = global_.busy_per_cpu();
  {
    std::lock_guard lock(mutex_);
    granted = table_.grant_waiting(busy, now);
    stats_.granted += granted.size();
  }
  send(granted, now);
}

LeaseGranterStats LeaseGranter::stats() const {
  std::lock_guard lock(mutex_);
  LeaseGranterStats s = stats_;
  s.active = table_.active();
  s.waiting = table_.waiting();
  return s;
}

}  // namespace manta::engine
