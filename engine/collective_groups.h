// The collective groups this rank takes part in, and the calls of their members here.
// A member's call waits for the group's other members on this rank; the last to arrive
// combines their data, and the operation goes to MPI on the group's communicator, which only
// the ranks hosting members share. MPI work runs in progress(), with MPI held (the progress
// thread, or a waiting member polling), so a collective never stalls the rank's other traffic.
// Rank 0's CollectiveRegistry names the groups and tells the member ranks to set them up.
//
// Handles: collective_setup, collective_teardown, collective_broken, collective_answer.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/collective.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/collective_group.h"
#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;
class Timeline;

class CollectiveGroups {
 public:
  struct Hooks {
    std::function<bool()> poll;         // one round of the control channel on the calling thread
    std::function<void(bool)> polling;  // this thread starts (true) or stops polling
    MPI_Comm parent = MPI_COMM_NULL;    // the parent of the groups' communicators
    std::function<bool(const ActorId&)> dead_here;  // the actor is known dead on this rank
    Timeline* timeline = nullptr;
    /// Rank 0: a group was reported broken (for the registry's summary).
    std::function<void(const std::string&, std::uint64_t, std::shared_ptr<const ErrorInfo>)>
        broken_seen;
  };

  CollectiveGroups(RankContext& ctx, Hooks hooks);
  ~CollectiveGroups();
  CollectiveGroups(const CollectiveGroups&) = delete;
  CollectiveGroups& operator=(const CollectiveGroups&) = delete;

  void register_handlers(Dispatcher& d);

  /// With MPI held: makes communicators, starts and advances operations. True while data moves.
  bool progress();

  // In a member's method.
  void run(std::string_view group, const collective::detail::Call& call);
  int rank_in(std::string_view group);
  int size_of(std::string_view group);

  // Anywhere: requests to rank 0's registry.
  void create(const std::string& name, const std::vector<ActorId>& members);
  void destroy(const std::string& name);
  bool exists(const std::string& name);

  /// An actor hosted here died or was restarted: the groups it is in break.
  void member_ended(const ActorId& actor, const ErrorInfo& cause, bool restarted);

  /// Shutdown: fails every waiting call; later calls fail at once.
  void stop();
  /// Frees the communicators, once the progress thread has stopped and before MPI ends.
  void release();

 private:
  using Clock = std::chrono::steady_clock;
  using GroupPtr = std::shared_ptr<CollectiveGroup>;
  struct Setup {
    GroupPtr group;
    int tag = 0;
  };
  struct Answer {
    bool done = false;
    bool exists = false;
    std::shared_ptr<const ErrorInfo> error;
  };

  void on_setup(transport::WireReader& r);
  void on_teardown(transport::WireReader& r);
  void on_broken(transport::WireReader& r);
  void on_answer(transport::WireReader& r);
  Answer ask(std::uint64_t request, const std::function<void(transport::WireWriter&)>& fill);

  /// With mutex_ held: the group and the calling actor's rank in it, or a CollectiveError.
  std::pair<GroupPtr, int> find_member(std::string_view group, const char* what);
  /// Returns with `lock` released; throws the operation's error.
  void run_collective(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
                      const collective::detail::Call& call,
                      CollectiveOp::Mode mode = CollectiveOp::Mode::host);
  void run_p2p(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
               const collective::detail::Call& call);
  // collective_gpu.cpp: buffers in GPU memory.
  void run_gpu(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
               const collective::detail::Call& call, int device);
  void run_nccl(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
                const collective::detail::Call& call, int device);
  std::shared_ptr<gpu::NcclCommunicator> nccl_of(const GroupPtr& g, int member, int device,
                                                 Clock::time_point deadline);
  /// A failure of NCCL breaks the group everywhere; returns the error to throw.
  std::shared_ptr<const ErrorInfo> nccl_failed(CollectiveGroup& g, const char* what,
                                               const std::string& why);

  /// With mutex_ held: polls and sleeps until `done` or `deadline`; while `busy` (data moving,
  /// which the progress thread drives) it only sleeps.
  bool wait_until(std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                  const std::function<bool()>& done, const std::function<bool()>& busy);
  void make_communicators();
  bool advance_all();
  bool start_queued();  // with mutex_ held
  /// With mutex_ held: the group is broken by `cause` here; its waiting calls fail.
  void break_here(CollectiveGroup& g, std::shared_ptr<const ErrorInfo> cause);
  /// break_here, and the other member ranks and rank 0 are told.
  void break_everywhere(CollectiveGroup& g, std::shared_ptr<const ErrorInfo> cause);
  [[nodiscard]] std::shared_ptr<const ErrorInfo> error(ErrorKind kind, std::string message) const;
  /// "collective allreduce #3 in group 'g': <problem>".
  [[nodiscard]] std::shared_ptr<const ErrorInfo> op_error(const CollectiveGroup& g,
                                                          const CollectiveOp& op,
                                                          const std::string& problem) const;
  void record(const CollectiveGroup& g, int member, const char* what, std::int64_t start_us);

  // collective_p2p.cpp
  /// With mutex_ held: pairs a send and recv between members here, or queues the call.
  void match_here(std::unique_lock<std::mutex>& lock, CollectiveGroup& g,
                  const std::shared_ptr<P2pTransfer>& t);
  /// With mutex_ held: the call ran out of time; withdraws or abandons it.
  void give_up_transfer(CollectiveGroup& g, const std::shared_ptr<P2pTransfer>& t);
  void start_transfer(CollectiveGroup& g, P2pTransfer& t);
  bool advance_transfer(CollectiveGroup& g, P2pTransfer& t);
  void fail_transfer(CollectiveGroup& g, P2pTransfer& t, std::string why);

  RankContext& ctx_;
  Hooks hooks_;
  Clock::duration timeout_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<std::string, GroupPtr> groups_;  // by name
  std::vector<GroupPtr> retired_;  // destroyed, with MPI operations still in flight
  std::deque<Setup> setups_;       // communicators to make, in the order rank 0 asked
  std::deque<std::pair<GroupPtr, std::shared_ptr<CollectiveOp>>> queued_;
  std::deque<std::pair<GroupPtr, std::shared_ptr<P2pTransfer>>> queued_transfers_;
  std::atomic<bool> has_work_{false};  // setups, queued or in-flight MPI work: progress() runs
  std::atomic<bool> setups_waiting_{false};  // setups_ is not empty
  bool stopped_ = false;

  std::mutex answers_mutex_;
  std::condition_variable answers_cv_;
  std::unordered_map<std::uint64_t, Answer> answers_;
};

}  // namespace manta::engine
