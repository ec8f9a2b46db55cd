// Formatting of memory_summary(): a table per rank, then the largest objects.
#include <fmt/format.h>

#include <manta/memory.h>

#include "engine/text.h"

namespace manta {
using engine::human_bytes;

RankMemory MemorySummary::total() const {
  RankMemory t;
  t.rank = -1;
  for (const auto& r : ranks) {
    t.objects += r.objects;
    t.bytes += r.bytes;
    t.owned_objects += r.owned_objects;
    t.in_use_bytes += r.in_use_bytes;
    t.pinned_bytes += r.pinned_bytes;
    t.spillable_bytes += r.spillable_bytes;
    t.primary_copies += r.primary_copies;
    t.cached_copies += r.cached_copies;
    t.borrowed_refs += r.borrowed_refs;
    t.bytes_fetched += r.bytes_fetched;
    t.bytes_served += r.bytes_served;
    t.fetches += r.fetches;
    t.serves += r.serves;
    t.serves_of_copies += r.serves_of_copies;
    t.capacity_bytes += r.capacity_bytes;
    t.spilled_objects += r.spilled_objects;
    t.spilled_bytes += r.spilled_bytes;
    t.spill_files += r.spill_files;
    t.spill_file_bytes += r.spill_file_bytes;
    t.bytes_spilled += r.bytes_spilled;
    t.bytes_restored += r.bytes_restored;
    t.bytes_read_from_files += r.bytes_read_from_files;
    t.spill_seconds += r.spill_seconds;
    t.restore_seconds += r.restore_seconds;
    t.lineage_objects += r.lineage_objects;
    t.lineage_bytes += r.lineage_bytes;
    t.lineage_evicted += r.lineage_evicted;
    t.objects_reconstructed += r.objects_reconstructed;
    t.objects_lost += r.objects_lost;
    t.shared_bytes += r.shared_bytes;
    t.viewed_objects += r.viewed_objects;
    t.viewed_bytes += r.viewed_bytes;
    t.views_held += r.views_held;
    t.views_held_bytes += r.views_held_bytes;
    t.views_served += r.views_served;
    t.bytes_viewed += r.bytes_viewed;
  }
  return t;
}

namespace {
double mb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
}
}  // namespace

double RankMemory::spill_mb_per_s() const { return mb_per_s(bytes_spilled, spill_seconds); }
double RankMemory::restore_mb_per_s() const { return mb_per_s(bytes_restored, restore_seconds); }

namespace {
/// Per rank: what neighbours read here in place, and what this rank reads in theirs.
void append_shared_table(std::string& s, const std::vector<RankMemory>& ranks,
                         const RankMemory& t) {
  if (t.shared_bytes == 0 && t.views_served == 0) return;
  // Per rank: what neighbours read here in place, and what this rank reads in theirs.
  s += fmt::format("{:>5} {:>11} {:>14} {:>14} {:>14} {:>14}\n", "rank", "shared", "viewed here",
                   "viewed bytes", "views held", "served in place");
  auto shared_row = [&](const std::string& name, const RankMemory& r) {
    s += fmt::format("{:>5} {:>11} {:>14} {:>14} {:>14} {:>14}\n", name,
                     human_bytes(r.shared_bytes), r.viewed_objects, human_bytes(r.viewed_bytes),
                     fmt::format("{} ({})", r.views_held, human_bytes(r.views_held_bytes)),
                     fmt::format("{} ({})", r.views_served, human_bytes(r.bytes_viewed)));
  };
  for (const auto& r : ranks) shared_row(std::to_string(r.rank), r);
  shared_row("all", t);
}

/// Neighbours reading an object here, or the rank whose memory a view reads.
std::string in_place(const ObjectSummary& o) {
  if (o.viewing >= 0) return fmt::format("of rank {}", o.viewing);
  return o.viewers > 0 ? fmt::format("{} viewers", o.viewers) : "";
}
}  // namespace

std::string MemorySummary::to_string() const {
  std::string s = "--- Manta object store summary ---\n";
  s += fmt::format("{:>5} {:>8} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>8} {:>11} {:>11}\n",
                   "rank", "objects", "bytes", "in use", "pinned", "spillable", "owned", "copies",
                   "borrowed", "fetched", "served");
  auto row = [&](const std::string& name, const RankMemory& r) {
    s += fmt::format("{:>5} {:>8} {:>11} {:>11} {:>11} {:>11} {:>7} {:>7} {:>8} {:>11} {:>11}\n",
                     name, r.objects, human_bytes(r.bytes), human_bytes(r.in_use_bytes),
                     human_bytes(r.pinned_bytes), human_bytes(r.spillable_bytes), r.owned_objects,
                     r.primary_copies + r.cached_copies, r.borrowed_refs,
                     human_bytes(r.bytes_fetched), human_bytes(r.bytes_served));
  };
  for (const auto& r : ranks) row(std::to_string(r.rank), r);
  row("all", total());
  const RankMemory t = total();
  s += fmt::format("reads served: {} ({} from copies not held by the owner)\n", t.serves,
                   t.serves_of_copies);
  // Capacity and spilling; throughput is per rank's I/O thread (the total row averages them).
  s += fmt::format("{:>5} {:>11} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}\n", "rank",
                   "capacity", "spilled", "spilled", "file", "written", "restored", "from files",
                   "spill MB/s", "rest. MB/s");
  auto spill_row = [&](const std::string& name, const RankMemory& r) {
    s +=
        fmt::format("{:>5} {:>11} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10.0f} {:>10.0f}\n",
                    name, human_bytes(r.capacity_bytes), r.spilled_objects,
                    human_bytes(r.spilled_bytes), human_bytes(r.spill_file_bytes),
                    human_bytes(r.bytes_spilled), human_bytes(r.bytes_restored),
                    human_bytes(r.bytes_read_from_files), r.spill_mb_per_s(), r.restore_mb_per_s());
  };
  for (const auto& r : ranks) spill_row(std::to_string(r.rank), r);
  spill_row("all", t);
  s += fmt::format(
      "lineage: {} objects can be rebuilt ({} of specs), {} specs dropped for the bound; {} "
      "objects rebuilt, {} lost\n",
      t.lineage_objects, human_bytes(t.lineage_bytes), t.lineage_evicted, t.objects_reconstructed,
      t.objects_lost);
  append_shared_table(s, ranks, t);
  if (!objects.empty()) {
    s += fmt::format(
        "largest objects:\n{:<24} {:>5} {:>11} {:<13} {:<8} {:>4} {:>6} {:>9} {:>9} {:>7} {}\n",
        "object", "rank", "size", "role", "state", "ref", "pinned", "borrowers", "locations",
        "on disk", "in place");
    for (const auto& o : objects) {
      s += fmt::format("{:<24} {:>5} {:>11} {:<13} {:<8} {:>4} {:>6} {:>9} {:>9} {:>7} {}\n",
                       o.id.to_string(), o.rank, human_bytes(o.size), o.role, o.state,
                       o.referenced ? "yes" : "no", o.pinned ? "yes" : "no", o.borrowers,
                       o.locations, o.spilled ? "yes" : "no", in_place(o));
    }
  }
  if (!placement_groups.empty()) {
    s += fmt::format("placement groups:\n{:<16} {:<16} {:<13} {:<10} {}\n", "group", "name",
                     "strategy", "state", "bundles (rank)");
    for (const auto& g : placement_groups) {
      std::string bundles;
      for (std::size_t b = 0; b < g.bundles.size(); ++b) {
        if (b) bundles += ", ";
        bundles += g.bundles[b];
        if (b < g.ranks.size()) bundles += fmt::format(" ({})", g.ranks[b]);
      }
      s += fmt::format("{:<16} {:<16} {:<13} {:<10} {}\n", g.id, g.name, g.strategy, g.state,
                       bundles);
    }
  }
  if (!collective_groups.empty()) {
    s += fmt::format("collective groups:\n{:<16} {:<10} {}\n", "group", "state", "members (rank)");
    for (const auto& g : collective_groups) {
      std::string members;
      for (std::size_t i = 0; i < g.members.size(); ++i) {
        if (i) members += ", ";
        members += g.members[i];
        if (i < g.ranks.size()) members += fmt::format(" ({})", g.ranks[i]);
      }
      s += fmt::format("{:<16} {:<10} {}\n", g.name, g.state, members);
    }
  }
  return s;
}

}  // namespace manta
