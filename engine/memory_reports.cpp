#include "engine/memory_reports.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "engine/dispatcher.h"
#include "engine/lineage.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/spill_manager.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void write_rank_memory(WireWriter& w, const RankMemory& m,
                       const std::vector<ObjectSummary>& objects) {
  w.put<std::int32_t>(m.rank)
      .put(m.objects)
      .put(m.bytes)
      .put(m.owned_objects)
      .put(m.in_use_bytes)
      .put(m.pinned_bytes)
      .put(m.spillable_bytes)
      .put(m.primary_copies)
      .put(m.cached_copies)
      .put(m.borrowed_refs)
      .put(m.bytes_fetched)
      .put(m.bytes_served)
      .put(m.fetches)
      .put(m.serves)
      .put(m.serves_of_copies)
      .put(m.capacity_bytes)
      .put(m.spilled_objects)
      .put(m.spilled_bytes)
      .put(m.spill_files)
      .put(m.spill_file_bytes)
      .put(m.bytes_spilled)
      .put(m.bytes_restored)
      .put(m.bytes_read_from_files)
      .put(m.spill_seconds)
      .put(m.restore_seconds)
      .put(m.lineage_objects)
      .put(m.lineage_bytes)
      .put(m.lineage_evicted)
      .put(m.objects_reconstructed)
      .put(m.objects_lost)
      .put(m.shared_bytes)
      .put(m.viewed_objects)
      .put(m.viewed_bytes)
      .put(m.views_held)
      .put(m.views_held_bytes)
      .put(m.views_served)
      .put(m.bytes_viewed);
  w.str(m.spill_file);
  w.put(static_cast<std::uint32_t>(objects.size()));
  for (const auto& o : objects) {
    w.put(o.id).put<std::int32_t>(o.rank).put(o.size).str(o.role).str(o.state);
    w.put<std::uint8_t>(o.referenced).put<std::uint8_t>(o.pinned);
    w.put<std::uint8_t>(o.in_memory).put<std::uint8_t>(o.spilled);
    w.put<std::int32_t>(o.borrowers).put<std::int32_t>(o.locations).put<std::int32_t>(o.contained);
    w.put<std::int32_t>(o.viewers).put<std::int32_t>(o.viewing);
  }
}

void read_rank_memory(WireReader& r, RankMemory& m, std::vector<ObjectSummary>& objects) {
  m.rank = r.get<std::int32_t>();
  m.objects = r.get<std::uint64_t>();
  m.bytes = r.get<std::uint64_t>();
  m.owned_objects = r.get<std::uint64_t>();
  m.in_use_bytes = r.get<std::uint64_t>();
  m.pinned_bytes = r.get<std::uint64_t>();
  m.spillable_bytes = r.get<std::uint64_t>();
  m.primary_copies = r.get<std::uint64_t>();
  m.cached_copies = r.get<std::uint64_t>();
  m.borrowed_refs = r.get<std::uint64_t>();
  m.bytes_fetched = r.get<std::uint64_t>();
  m.bytes_served = r.get<std::uint64_t>();
  m.fetches = r.get<std::uint64_t>();
  m.serves = r.get<std::uint64_t>();
  m.serves_of_copies = r.get<std::uint64_t>();
  m.capacity_bytes = r.get<std::uint64_t>();
  m.spilled_objects = r.get<std::uint64_t>();
  m.spilled_bytes = r.get<std::uint64_t>();
  m.spill_files = r.get<std::uint64_t>();
  m.spill_file_bytes = r.get<std::uint64_t>();
  m.bytes_spilled = r.get<std::uint64_t>();
  m.bytes_restored = r.get<std::uint64_t>();
  m.bytes_read_from_files = r.get<std::uint64_t>();
  m.spill_seconds = r.get<double>();
  m.restore_seconds = r.get<double>();
  m.lineage_objects = r.get<std::uint64_t>();
  m.lineage_bytes = r.get<std::uint64_t>();
  m.lineage_evicted = r.get<std::uint64_t>();
  m.objects_reconstructed = r.get<std::uint64_t>();
  m.objects_lost = r.get<std::uint64_t>();
  m.shared_bytes = r.get<std::uint64_t>();
  m.viewed_objects = r.get<std::uint64_t>();
  m.viewed_bytes = r.get<std::uint64_t>();
  m.views_held = r.get<std::uint64_t>();
  m.views_held_bytes = r.get<std::uint64_t>();
  m.views_served = r.get<std::uint64_t>();
  m.bytes_viewed = r.get<std::uint64_t>();
  m.spill_file = r.str();
  objects.resize(r.get<std::uint32_t>());
  for (auto& o : objects) {
    o.id = r.get<ObjectId>();
    o.rank = r.get<std::int32_t>();
    o.size = r.get<std::uint64_t>();
    o.role = r.str();
    o.state = r.str();
    o.referenced = r.get<std::uint8_t>() != 0;
    o.pinned = r.get<std::uint8_t>() != 0;
    o.in_memory = r.get<std::uint8_t>() != 0;
    o.spilled = r.get<std::uint8_t>() != 0;
    o.borrowers = r.get<std::int32_t>();
    o.locations = r.get<std::int32_t>();
    o.contained = r.get<std::int32_t>();
    o.viewers = r.get<std::int32_t>();
    o.viewing = r.get<std::int32_t>();
  }
}

void MemoryReports::register_handlers(Dispatcher& d) {
  d.on(MessageType::summary_request,
       [this](int source, WireReader& r, auto) { on_request(source, r); });
  d.on(MessageType::summary_reply, [this](int, WireReader& r, auto) { on_reply(r); });
}

void MemoryReports::on_request(int source, WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  const auto max_objects = r.get<std::uint64_t>();
  RankMemory m = local_memory();
  std::vector<ObjectSummary> objects;
  ctx_.store.summarize(m, objects, max_objects);
  transfer_.summarize_views(m, objects);
  ctx_.outbox.send(source, [&](WireWriter& w) {
    w.put(MessageType::summary_reply).put(request);
    write_rank_memory(w, m, objects);
    const std::vector<PlacementGroupSummary> groups =
        groups_ ? groups_() : std::vector<PlacementGroupSummary>{};
    w.put(static_cast<std::uint32_t>(groups.size()));
    for (const auto& g : groups) {
      w.str(g.id).str(g.name).str(g.strategy).str(g.state);
      w.put(static_cast<std::uint32_t>(g.bundles.size()));
      for (const auto& b : g.bundles) w.str(b);
      w.put(static_cast<std::uint32_t>(g.ranks.size()));
      for (int k : g.ranks) w.put(static_cast<std::int32_t>(k));
    }
    const std::vector<CollectiveGroupSummary> collectives =
        collectives_ ? collectives_() : std::vector<CollectiveGroupSummary>{};
    w.put(static_cast<std::uint32_t>(collectives.size()));
    for (const auto& c : collectives) {
      w.str(c.name).str(c.state);
      w.put(static_cast<std::uint32_t>(c.members.size()));
      for (std::size_t i = 0; i < c.members.size(); ++i)
        w.str(c.members[i]).put(static_cast<std::int32_t>(i < c.ranks.size() ? c.ranks[i] : -1));
    }
  });
}

void MemoryReports::on_reply(WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  RankMemory m;
  std::vector<ObjectSummary> objects;
  read_rank_memory(r, m, objects);
  // Rank 0 adds its placement groups; the others none.
  std::vector<PlacementGroupSummary> groups(r.count<std::uint32_t>(4 * sizeof(std::uint64_t)));
  for (auto& g : groups) {
    g.id = r.str();
    g.name = r.str();
    g.strategy = r.str();
    g.state = r.str();
    g.bundles.resize(r.count<std::uint32_t>(sizeof(std::uint64_t)));
    for (auto& b : g.bundles) b = r.str();
    g.ranks.resize(r.count<std::uint32_t>(sizeof(std::int32_t)));
    for (int& k : g.ranks) k = r.get<std::int32_t>();
  }
  std::vector<CollectiveGroupSummary> collectives(
      r.count<std::uint32_t>(3 * sizeof(std::uint64_t)));
  for (auto& c : collectives) {
    c.name = r.str();
    c.state = r.str();
    const std::size_t n = r.count<std::uint32_t>(sizeof(std::uint64_t) + sizeof(std::int32_t));
    for (std::size_t i = 0; i < n; ++i) {
      c.members.push_back(r.str());
      c.ranks.push_back(r.get<std::int32_t>());
    }
  }
  {
    std::lock_guard lock(mutex_);
    auto it = requests_.find(request);
    if (it == requests_.end()) return;  // the asker gave up
    it->second.summary.ranks.push_back(m);
    for (auto& o : objects) it->second.summary.objects.push_back(std::move(o));
    for (auto& g : groups) it->second.summary.placement_groups.push_back(std::move(g));
    for (auto& c : collectives) it->second.summary.collective_groups.push_back(std::move(c));
    ++it->second.replies;
  }
  cv_.notify_all();
}

RankMemory MemoryReports::local_memory() const {
  RankMemory m;
  m.rank = ctx_.rank;
  const TransferStats t = transfer_.stats();
  m.bytes_fetched = t.bytes_fetched;
  m.bytes_served = t.bytes_served;
  m.fetches = t.fetches;
  m.serves = t.serves;
  m.serves_of_copies = t.serves_of_copies;
  if (ctx_.spill) {
    const SpillStats st = ctx_.spill->stats();
    m.spill_files = st.has_file ? 1 : 0;
    m.spill_file = ctx_.spill->file_path();
    m.spill_file_bytes = st.file_bytes;
    m.bytes_spilled = st.bytes_spilled;
    m.bytes_restored = st.bytes_restored;
    m.bytes_read_from_files = st.bytes_read_from_files;
    m.spill_seconds = st.spill_seconds;
    m.restore_seconds = st.restore_seconds;
  }
  if (lineage_) {
    const LineageStats l = lineage_->stats();
    m.lineage_objects = l.specs;
    m.lineage_bytes = l.bytes;
    m.lineage_evicted = l.evicted;
    m.objects_reconstructed = l.reconstructions;
    m.objects_lost = l.lost;
  }
  return m;
}

MemorySummary MemoryReports::memory_summary(std::size_t max_objects) {
  std::uint64_t request;
  {
    std::lock_guard lock(mutex_);
    request = next_request_++;
    requests_[request];
  }
  for (int r = 0; r < ctx_.size; ++r) {
    ctx_.outbox.send(r, [&](WireWriter& w) {
      w.put(MessageType::summary_request).put(request).put<std::uint64_t>(max_objects);
    });
  }
  std::unique_lock lock(mutex_);
  const bool all = cv_.wait_for(lock, std::chrono::seconds(ctx_.config.shutdown_timeout_s),
                                [&] { return requests_[request].replies == ctx_.size; });
  MemorySummary out = std::move(requests_[request].summary);
  const int replies = requests_[request].replies;
  requests_.erase(request);
  lock.unlock();
  if (!all) {
    throw RuntimeStoppedError(ctx_.make_error(
        ErrorKind::shutdown, nullptr,
        fmt::format("memory_summary: {} of {} ranks did not answer within {} s",
                    ctx_.size - replies, ctx_.size, ctx_.config.shutdown_timeout_s)));
  }
  std::sort(out.ranks.begin(), out.ranks.end(),
            [](const RankMemory& a, const RankMemory& b) { return a.rank < b.rank; });
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectSummary& a, const ObjectSummary& b) { return a.size > b.size; });
  if (out.objects.size() > max_objects) out.objects.resize(max_objects);
  return out;
}

void MemoryReports::print_summary(const std::string& text) const {
  const std::string& where = ctx_.config.summary;
  if (where.empty() || text.empty()) return;
  if (where == "-") {
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  } else if (std::FILE* f = std::fopen(where.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
    std::fprintf(stderr, "manta: memory summary written to %s\n", where.c_str());
  } else {
    log().error("--manta-summary={}: cannot write there ({})", where, std::strerror(errno));
  }
}

}  // namespace manta::engine
