// manta::memory_summary(): every rank reports its object store (summary_request,
// summary_reply) and the asker merges the reports. Also this rank's own figures, which the job
// directory's status reports use.
//
// Handles: summary_request, summary_reply.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include <manta/memory.h>

#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;
class Lineage;
class ObjectTransfer;

class MemoryReports {
 public:
  MemoryReports(RankContext& ctx, const ObjectTransfer& transfer)
      : ctx_(ctx), transfer_(transfer) {}

  void register_handlers(Dispatcher& d);

  /// Collects every rank's report (waits up to --manta-shutdown-timeout for them).
  MemorySummary memory_summary(std::size_t max_objects);
  /// This rank's transfer and spill figures (the store's own are added by summarize).
  [[nodiscard]] RankMemory local_memory() const;
  /// Where rank 0 reads its placement groups for the summary (set once, before start).
  /// Rank 0: the collective groups, for the summary.
  void set_collective_groups(std::function<std::vector<CollectiveGroupSummary>()> groups) {
    collectives_ = std::move(groups);
  }
  void set_placement_groups(std::function<std::vector<PlacementGroupSummary>()> groups) {
    groups_ = std::move(groups);
  }
  /// This rank's lineage table, for its counts in the summary.
  void set_lineage(const Lineage* lineage) { lineage_ = lineage; }
  /// Writes the summary where --manta-summary says.
  void print_summary(const std::string& text) const;

 private:
  struct Request {
    int replies = 0;
    MemorySummary summary;
  };

  void on_request(int source, transport::WireReader& r);
  void on_reply(transport::WireReader& r);

  RankContext& ctx_;
  const ObjectTransfer& transfer_;
  const Lineage* lineage_ = nullptr;
  std::function<std::vector<PlacementGroupSummary>()> groups_;
  std::function<std::vector<CollectiveGroupSummary>()> collectives_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t next_request_ = 1;
  std::unordered_map<std::uint64_t, Request> requests_;
};

/// The wire form of one rank's report (a table of fields, kept beside its reader).
void write_rank_memory(transport::WireWriter& w, const RankMemory& m,
                       const std::vector<ObjectSummary>& objects);
void read_rank_memory(transport::WireReader& r, RankMemory& m, std::vector<ObjectSummary>& objects);

}  // namespace manta::engine
