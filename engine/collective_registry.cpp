#include "engine/collective_registry.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/collective_call.h"
#include "engine/dispatcher.h"
#include "engine/messages.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void CollectiveRegistry::register_handlers(Dispatcher& d) {
  d.on(MessageType::collective_create,
       [this](int source, WireReader& r, auto) { on_create(source, r); });
  d.on(MessageType::collective_destroy,
       [this](int source, WireReader& r, auto) { on_destroy(source, r); });
  d.on(MessageType::collective_query, [this](int source, WireReader& r, auto) {
    const auto request = r.get<std::uint64_t>();
    const std::string name = r.str();
    bool found;
    {
      std::lock_guard lock(mutex_);
      found = groups_.count(name) != 0;
    }
    answer(source, request, found, nullptr);
  });
  d.on(MessageType::collective_ready, [this](int, WireReader& r, auto) { on_ready(r); });
}

ErrorInfo CollectiveRegistry::error(ErrorKind kind, std::string message) const {
  ErrorInfo e;
  e.kind = kind;
  e.rank = ctx_.rank;
  e.message = std::move(message);
  return e;
}

void CollectiveRegistry::answer(int dest, std::uint64_t request, bool exists, const ErrorInfo* e) {
  ctx_.outbox.send(dest, [&](WireWriter& w) {
    w.put(MessageType::collective_answer).put(request).put<std::uint8_t>(exists);
    w.put<std::uint8_t>(e != nullptr);
    if (e) write_error(w, *e);
  });
}

void CollectiveRegistry::on_create(int source, WireReader& r) {
  auto g = std::make_shared<Group>();
  g->creator = source;
  g->request = r.get<std::uint64_t>();
  g->name = r.str();
  const std::size_t n = r.count<std::uint32_t>(sizeof(ActorId));
  for (std::size_t i = 0; i < n; ++i) g->members.push_back(r.get<ActorId>());
  g->ranks.assign(n, -1);
  {
    std::lock_guard lock(mutex_);
    if (groups_.count(g->name)) {
      const ErrorInfo e =
          error(ErrorKind::collective,
                fmt::format("create_group: a collective group named '{}' exists already; "
                            "destroy_group(\"{}\") first, or choose another name",
                            g->name, g->name));
      answer(source, g->request, true, &e);
      return;
    }
    g->generation = next_generation_++;
    groups_[g->name] = g;
  }
  // Members are found outside the lock: the control store may answer at once.
  for (std::size_t i = 0; i < n; ++i) {
    locate_(g->members[i], [this, g, i](int host, std::shared_ptr<const ErrorInfo> death) {
      std::lock_guard lock(mutex_);
      auto it = groups_.find(g->name);
      if (it == groups_.end() || it->second != g || g->set_up) return;
      g->ranks[i] = host;
      if (death && !g->failure) {
        g->failure = std::make_shared<const ErrorInfo>(
            error(ErrorKind::actor_died,
                  fmt::format("create_group(\"{}\"): {} is dead: {}", g->name,
                              describe_member(static_cast<int>(i), g->members), death->message)));
      }
      if (++g->located < static_cast<int>(g->members.size())) return;
      if (g->failure) {
        answer(g->creator, g->request, false, g->failure.get());
        groups_.erase(it);
        return;
      }
      set_up(*g);
    });
  }
}

void CollectiveRegistry::set_up(Group& g) {
  g.set_up = true;
  for (int r : g.ranks)
    if (std::find(g.legs.begin(), g.legs.end(), r) == g.legs.end()) g.legs.push_back(r);
  // Each rank makes the groups' communicators in the order these messages leave rank 0; the
  // tag tells concurrent creations apart.
  const int tag = static_cast<int>(g.generation % 32000);
  for (int rank : g.legs) {
    ctx_.outbox.send(rank, [&](WireWriter& w) {
      w.put(MessageType::collective_setup).str(g.name).put(g.generation).put<std::int32_t>(tag);
      w.put(static_cast<std::uint32_t>(g.members.size()));
      for (std::size_t i = 0; i < g.members.size(); ++i)
        w.put(g.members[i]).put<std::int32_t>(g.ranks[i]);
    });
  }
}

void CollectiveRegistry::on_ready(WireReader& r) {
  const std::string name = r.str();
  const auto generation = r.get<std::uint64_t>();
  std::shared_ptr<const ErrorInfo> failed;
  if (r.get<std::uint8_t>() != 0) failed = std::make_shared<const ErrorInfo>(read_error(r));
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it == groups_.end() || it->second->generation != generation) return;
  Group& g = *it->second;
  if (failed && !g.failure) g.failure = failed;
  if (++g.ready < g.legs.size()) return;
  answer(g.creator, g.request, true, g.failure.get());
  if (g.failure) {
    tear_down(g);
    groups_.erase(it);
  }
}

void CollectiveRegistry::tear_down(const Group& g) {
  for (int rank : g.legs) {
    ctx_.outbox.send(rank, [&](WireWriter& w) {
      w.put(MessageType::collective_teardown).str(g.name).put(g.generation);
    });
  }
}

void CollectiveRegistry::on_destroy(int source, WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  const std::string name = r.str();
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it == groups_.end() || !it->second->set_up) {
    const ErrorInfo e = error(ErrorKind::collective,
                              fmt::format("destroy_group: no collective group named '{}'", name));
    answer(source, request, false, &e);
    return;
  }
  tear_down(*it->second);
  groups_.erase(it);
  answer(source, request, false, nullptr);
}

void CollectiveRegistry::note_broken(const std::string& name, std::uint64_t generation,
                                     std::shared_ptr<const ErrorInfo> cause) {
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it == groups_.end() || it->second->generation != generation || it->second->broken) return;
  it->second->broken = std::move(cause);
}

std::vector<CollectiveGroupSummary> CollectiveRegistry::summary() const {
  std::lock_guard lock(mutex_);
  std::vector<CollectiveGroupSummary> out;
  for (const auto& [name, g] : groups_) {
    CollectiveGroupSummary s;
    s.name = name;
    for (const ActorId& m : g->members) s.members.push_back(m.to_string());
    s.ranks = g->ranks;
    s.state = g->broken                                 ? "broken: " + g->broken->message
              : !g->set_up || g->ready < g->legs.size() ? std::string("forming")
                                                        : std::string("ready");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace manta::engine
