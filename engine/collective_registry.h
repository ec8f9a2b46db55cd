// Rank 0's table of collective groups: their names, members and state. It makes a group once
// every member has been placed (the control store says where), tells each rank that hosts
// members to make the group's communicator, in one order for all groups so that no two ranks
// wait for each other, and answers the creator when all are ready.
//
// Handles: collective_create, collective_destroy, collective_query, collective_ready.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/memory.h>

#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;

class CollectiveRegistry {
 public:
  /// Calls back once the actor is placed: its rank, or why it is dead.
  using Placed = std::function<void(int host, std::shared_ptr<const ErrorInfo> death)>;
  using Locate = std::function<void(const ActorId&, Placed)>;

  CollectiveRegistry(RankContext& ctx, Locate locate) : ctx_(ctx), locate_(std::move(locate)) {}

  void register_handlers(Dispatcher& d);
  /// A member rank reported the group broken (a member died or timed out), for the summary.
  void note_broken(const std::string& name, std::uint64_t generation,
                   std::shared_ptr<const ErrorInfo> cause);
  [[nodiscard]] std::vector<CollectiveGroupSummary> summary() const;

 private:
  struct Group {
    std::string name;
    std::uint64_t generation = 0;
    std::vector<ActorId> members;
    std::vector<int> ranks;  // -1 until placed
    int located = 0;
    std::vector<int> legs;  // the ranks hosting members, each once
    std::size_t ready = 0;  // of them, those that made the communicator
    bool set_up = false;
    int creator = -1;
    std::uint64_t request = 0;
    std::shared_ptr<const ErrorInfo> failure;  // at creation
    std::shared_ptr<const ErrorInfo> broken;
  };

  void on_create(int source, transport::WireReader& r);
  void on_destroy(int source, transport::WireReader& r);
  void on_ready(transport::WireReader& r);
  /// With mutex_ held: every member is placed; set the group up on their ranks.
  void set_up(Group& g);
  /// With mutex_ held: tells the group's ranks it is gone.
  void tear_down(const Group& g);
  void answer(int dest, std::uint64_t request, bool exists, const ErrorInfo* error);
  [[nodiscard]] ErrorInfo error(ErrorKind kind, std::string message) const;

  RankContext& ctx_;
  Locate locate_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Group>> groups_;
  std::uint64_t next_generation_ = 1;
};

}  // namespace manta::engine
