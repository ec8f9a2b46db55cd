// The caller's side of actors: creating one (its creation goes to rank 0, which places it),
// learning where an actor lives (actor_lookup, actor_location), and sending its method calls
// to the host directly, numbered, so that the calls of one caller run in the order they were
// made. Calls made before the host is known wait here, in order. Also kills and name lookups.
//
// Handles: actor_location, name_result.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/actor.h>
#include <manta/detail/runtime_api.h>

#include "engine/rank_context.h"
#include "engine/task_spec.h"

namespace manta::engine {

class Dispatcher;
class Submitter;
class TaskManager;

class ActorRouting {
 public:
  /// `deliver_here`: a call to an actor this rank hosts (fetch its arguments, then run it).
  ActorRouting(RankContext& ctx, Submitter& submitter, TaskManager& tasks,
               std::function<void(const TaskPtr&)> deliver_here)
      : ctx_(ctx), submitter_(submitter), tasks_(tasks), deliver_here_(std::move(deliver_here)) {}

  void register_handlers(Dispatcher& d);

  ActorId create_actor(detail::Submission&& s, const ActorOptions& options,
                       std::uint64_t class_tag);
  std::shared_ptr<detail::RefToken> submit_call(const ActorId& actor, detail::Submission&& s,
                                                const ActorCallOptions& options = {});
  void kill_actor(const ActorId& actor, bool no_restart);
  /// `name_space` empty: the job's (--manta-namespace).
  std::optional<ActorId> lookup_actor(const std::string& name, const std::string& name_space,
                                      std::uint64_t class_tag, const std::string& class_name);

  /// A call whose arguments are resolved: to its host, or waiting until the host is known.
  void route_call(const TaskPtr& call);

  /// Calls waiting for the host of `actor` to be known (for tests).
  [[nodiscard]] std::size_t waiting_calls(const ActorId& actor) const;

 private:
  // Where this rank sends calls to each actor it knows, and its next sequence number there.
  struct Route {
    int host = -1;
    bool known = false;     // host or death is known
    bool accepted = false;  // rank 0 took its name; it waits for a free actor slot
    std::shared_ptr<const ErrorInfo> death;
    bool asked = false;
    std::uint64_t next_seq = 0;
    std::vector<TaskPtr> waiting;  // calls made before the host was known
  };
  struct NameAnswer {
    bool done = false;
    bool found = false;
    ActorId id;
    std::uint64_t class_tag = 0;
  };

  void send_call(int host, const TaskPtr& call);
  void on_location(const ActorId& id, int host, std::shared_ptr<const ErrorInfo> death);
  void on_name_result(transport::WireReader& r);
  /// A kill(no_restart = false): a marker call in this caller's order.
  void send_restart(const ActorId& actor);

  RankContext& ctx_;
  Submitter& submitter_;
  TaskManager& tasks_;
  std::function<void(const TaskPtr&)> deliver_here_;

  mutable std::mutex routes_mutex_;
  std::condition_variable routes_cv_;
  std::unordered_map<ActorId, Route> routes_;
  std::unordered_map<ActorId, TaskPtr> creations_;  // creation specs made here (their arguments)

  std::mutex names_mutex_;
  std::condition_variable names_cv_;
  std::uint64_t next_name_request_ = 1;
  std::unordered_map<std::uint64_t, NameAnswer> name_answers_;
};

}  // namespace manta::engine
