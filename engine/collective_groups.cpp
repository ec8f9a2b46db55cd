#include "engine/collective_groups.h"

#include <sched.h>

#include <fmt/format.h>

#include <algorithm>

#include "engine/collective_op.h"
#include "engine/crash_report.h"
#include "engine/dispatcher.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/timeline.h"
#include "gpu/device_memory.h"

namespace manta::engine {

using collective::detail::Call;
using transport::WireReader;
using transport::WireWriter;

namespace {

// Poll (yielding the core) this long after the last movement before sleeping: an operation
// needs every rank to call MPI in turn, and a sleeping rank delays all of them.
constexpr auto kSpin = std::chrono::milliseconds(20);
constexpr auto kMaxSleep = std::chrono::microseconds(1000);  // between polls, once idle

}  // namespace

void lay_out(CollectiveGroup& g, const std::vector<int>& member_ranks, int this_rank) {
  g.member_rank = member_ranks;
  g.member_leg.assign(member_ranks.size(), -1);
  g.member_pos.assign(member_ranks.size(), 0);
  g.legs.clear();
  g.leg_sizes.clear();
  g.local.clear();
  for (std::size_t i = 0; i < member_ranks.size(); ++i) {
    auto it = std::find(g.legs.begin(), g.legs.end(), member_ranks[i]);
    if (it == g.legs.end()) {
      g.legs.push_back(member_ranks[i]);
      g.leg_sizes.push_back(0);
      it = g.legs.end() - 1;
    }
    const auto leg = static_cast<std::size_t>(it - g.legs.begin());
    g.member_leg[i] = static_cast<int>(leg);
    g.member_pos[i] = g.leg_sizes[leg]++;
    if (member_ranks[i] == this_rank) g.local.push_back(static_cast<int>(i));
  }
  g.leg = -1;
  for (std::size_t l = 0; l < g.legs.size(); ++l)
    if (g.legs[l] == this_rank) g.leg = static_cast<int>(l);
  g.legs_in_member_order = std::is_sorted(g.member_leg.begin(), g.member_leg.end());
  g.next_seq.assign(member_ranks.size(), 0);
}

CollectiveGroups::CollectiveGroups(RankContext& ctx, Hooks hooks)
    : ctx_(ctx),
      hooks_(std::move(hooks)),
      timeout_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(ctx.config.collective_timeout_s))) {}

CollectiveGroups::~CollectiveGroups() { stop(); }

void CollectiveGroups::register_handlers(Dispatcher& d) {
  d.on(MessageType::collective_setup, [this](int, WireReader& r, auto) { on_setup(r); });
  d.on(MessageType::collective_teardown, [this](int, WireReader& r, auto) { on_teardown(r); });
  d.on(MessageType::collective_broken, [this](int, WireReader& r, auto) { on_broken(r); });
  d.on(MessageType::collective_answer, [this](int, WireReader& r, auto) { on_answer(r); });
}

std::shared_ptr<const ErrorInfo> CollectiveGroups::op_error(const CollectiveGroup& g,
                                                            const CollectiveOp& op,
                                                            const std::string& problem) const {
  return error(
      ErrorKind::collective,
      fmt::format("collective {} #{} in group '{}': {}",
                  kind_name(static_cast<CollectiveKind>(op.shape.kind)), op.seq, g.name, problem));
}

std::shared_ptr<const ErrorInfo> CollectiveGroups::error(ErrorKind kind,
                                                         std::string message) const {
  ErrorInfo e;
  e.kind = kind;
  e.rank = ctx_.rank;
  e.task_name = RunningCallScope::current_function();
  e.message = std::move(message);
  return std::make_shared<const ErrorInfo>(std::move(e));
}

// ---- Set-up, tear-down, breaking ----------------------------------------------------------

void CollectiveGroups::on_setup(WireReader& r) {
  auto g = std::make_shared<CollectiveGroup>();
  g->name = r.str();
  g->generation = r.get<std::uint64_t>();
  const int tag = r.get<std::int32_t>();
  const std::size_t n = r.count<std::uint32_t>(sizeof(ActorId) + sizeof(std::int32_t));
  std::vector<int> ranks;
  for (std::size_t i = 0; i < n; ++i) {
    g->members.push_back(r.get<ActorId>());
    ranks.push_back(r.get<std::int32_t>());
  }
  lay_out(*g, ranks, ctx_.rank);
  std::lock_guard lock(mutex_);
  if (auto old = groups_.find(g->name); old != groups_.end()) {
    break_here(*old->second, error(ErrorKind::collective,
                                   fmt::format("collective group '{}' was made again", g->name)));
    retired_.push_back(old->second);
  }
  groups_[g->name] = g;
  // A member that died before the group reached its rank breaks it at once.
  for (int m : g->local) {
    if (hooks_.dead_here && hooks_.dead_here(g->members[static_cast<std::size_t>(m)])) {
      g->broken =
          error(ErrorKind::actor_died, fmt::format("{} of collective group '{}' is dead",
                                                   describe_member(m, g->members), g->name));
    }
  }
  setups_.push_back({g, tag});
  setups_waiting_.store(true, std::memory_order_release);
  has_work_.store(true, std::memory_order_release);
}

void CollectiveGroups::make_communicators() {
  if (!setups_waiting_.load(std::memory_order_acquire)) return;
  for (;;) {
    Setup s;
    {
      std::lock_guard lock(mutex_);
      if (setups_.empty()) {
        setups_waiting_.store(false, std::memory_order_release);
        return;
      }
      s = std::move(setups_.front());
      setups_.pop_front();
    }
    std::shared_ptr<const ErrorInfo> failed;
    std::unique_ptr<transport::GroupCommunicator> comm;
    if (s.group->legs.size() > 1 && hooks_.parent != MPI_COMM_NULL) {
      try {
        // Blocks until the group's other ranks get here too; rank 0 sent each of them the
        // same request in the same order, so they all do.
        comm = std::make_unique<transport::GroupCommunicator>(hooks_.parent, s.group->legs, s.tag);
      } catch (const std::exception& e) {
        failed = error(ErrorKind::collective,
                       fmt::format("collective group '{}': {}", s.group->name, e.what()));
      }
    } else if (s.group->legs.size() > 1) {
      failed = error(ErrorKind::collective, "collective groups over several ranks need MPI");
    }
    {
      std::lock_guard lock(mutex_);
      s.group->comm = std::move(comm);
      s.group->ready = true;
      if (failed && !s.group->broken) s.group->broken = failed;
      failed = s.group->broken;  // a member dead on arrival fails the creation too
    }
    cv_.notify_all();
    ctx_.outbox.send(0, [&](WireWriter& w) {
      w.put(MessageType::collective_ready).str(s.group->name).put(s.group->generation);
      w.put<std::uint8_t>(failed != nullptr);
      if (failed) write_error(w, *failed);
    });
  }
}

void CollectiveGroups::on_teardown(WireReader& r) {
  const std::string name = r.str();
  const auto generation = r.get<std::uint64_t>();
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it == groups_.end() || it->second->generation != generation) return;
  GroupPtr g = it->second;
  groups_.erase(it);
  break_here(
      *g, error(ErrorKind::collective, fmt::format("collective group '{}' was destroyed", name)));
  retired_.push_back(std::move(g));
  has_work_.store(true, std::memory_order_release);
}

void CollectiveGroups::on_broken(WireReader& r) {
  const std::string name = r.str();
  const auto generation = r.get<std::uint64_t>();
  auto cause = std::make_shared<const ErrorInfo>(read_error(r));
  if (hooks_.broken_seen) hooks_.broken_seen(name, generation, cause);
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it == groups_.end() || it->second->generation != generation) return;
  break_here(*it->second, std::move(cause));
}

void CollectiveGroups::break_here(CollectiveGroup& g, std::shared_ptr<const ErrorInfo> cause) {
  if (!g.broken) g.broken = cause;
  for (auto& [member, comm] : g.nccl) comm->cancel();  // a call blocked in NCCL returns
  using S = CollectiveOp::State;
  for (auto& [seq, op] : g.ops) {
    if (op->error || op->abandoned) continue;
    switch (op->state) {
      case S::collecting:
      case S::preparing:
      case S::queued:
        op->error = g.broken;
        break;
      case S::exchanging:
        // The other ranks may have sent their headers already: let MPI finish on our own copy.
        collective_op::abandon(*op);
        op->error = g.broken;
        break;
      default:
        break;  // the data moves already, and arrives
    }
  }
  for (auto* list : {&g.unmatched_sends, &g.unmatched_recvs}) {
    for (auto& [pair, waiting] : *list)
      for (auto& t : waiting) t->error = g.broken;
    list->clear();
  }
  for (auto& t : g.transfers) {
    if (t->error || t->abandoned) continue;
    if (t->state == P2pTransfer::State::queued || t->state == P2pTransfer::State::waiting_peer)
      t->abandon(g.broken);
  }
  cv_.notify_all();
}

void CollectiveGroups::break_everywhere(CollectiveGroup& g,
                                        std::shared_ptr<const ErrorInfo> cause) {
  break_here(g, cause);
  auto tell = [&](int dest) {
    ctx_.outbox.send(dest, [&](WireWriter& w) {
      w.put(MessageType::collective_broken).str(g.name).put(g.generation);
      write_error(w, *cause);
    });
  };
  for (int rank : g.legs)
    if (rank != ctx_.rank) tell(rank);
  if (std::find(g.legs.begin(), g.legs.end(), 0) == g.legs.end()) tell(0);
  if (hooks_.broken_seen) hooks_.broken_seen(g.name, g.generation, cause);
}

void CollectiveGroups::member_ended(const ActorId& actor, const ErrorInfo& cause, bool restarted) {
  std::lock_guard lock(mutex_);
  for (auto& [name, g] : groups_) {
    const int m = g->member_of(actor);
    if (m < 0 || g->member_rank[static_cast<std::size_t>(m)] != ctx_.rank) continue;
    const std::string who = describe_member(m, g->members);
    std::string why =
        restarted ? fmt::format(
                        "{} of collective group '{}' was restarted and lost its place in the "
                        "group's calls; destroy_group(\"{}\") and create it again",
                        who, name, name)
                  : fmt::format("{} of collective group '{}' died: {}", who, name, cause.message);
    break_everywhere(*g, error(ErrorKind::actor_died, std::move(why)));
  }
}

void CollectiveGroups::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    auto cause = error(ErrorKind::shutdown, "the runtime is shutting down");
    for (auto& [name, g] : groups_) break_here(*g, cause);
    for (auto& [g, op] : queued_) op->error = cause;
    for (auto& [g, t] : queued_transfers_) t->error = cause;
  }
  cv_.notify_all();
  {
    std::lock_guard lock(answers_mutex_);
    for (auto& [id, a] : answers_) {
      a.done = true;
      a.error = error(ErrorKind::shutdown, "the runtime is shutting down");
    }
  }
  answers_cv_.notify_all();
}

void CollectiveGroups::release() {
  stop();
  std::lock_guard lock(mutex_);
  // Operations still in flight are dropped with their communicators: MPI ends next.
  for (auto& [name, g] : groups_) g->comm.reset();
  for (auto& g : retired_) g->comm.reset();
  for (auto& s : setups_) s.group->comm.reset();
  setups_.clear();
  queued_.clear();
  queued_transfers_.clear();
  has_work_.store(false, std::memory_order_release);
}

// ---- Progress (MPI held) --------------------------------------------------------------------

bool CollectiveGroups::progress() {
  if (!has_work_.load(std::memory_order_acquire)) return false;
  make_communicators();
  return advance_all();
}

bool CollectiveGroups::start_queued() {
  bool changed = false;
  while (!queued_.empty()) {
    auto [g, op] = std::move(queued_.front());
    queued_.pop_front();
    changed = true;
    if (op->error) continue;
    try {
      if (auto problem = collective_op::start(*g, *op)) op->error = op_error(*g, *op, *problem);
    } catch (const std::exception& e) {
      op->error = op_error(*g, *op, e.what());
    }
  }
  while (!queued_transfers_.empty()) {
    auto [g, t] = std::move(queued_transfers_.front());
    queued_transfers_.pop_front();
    changed = true;
    if (t->error) continue;
    g->transfers.push_back(t);
    start_transfer(*g, *t);
  }
  return changed;
}

bool CollectiveGroups::advance_all() {
  bool active = false;
  std::unique_lock lock(mutex_);
  bool changed = start_queued();
  bool work = !setups_.empty();
  auto advance_group = [&](CollectiveGroup& g) {
    for (auto it = g.ops.begin(); it != g.ops.end();) {
      CollectiveOp& op = *it->second;
      std::optional<std::string> problem;
      try {
        changed |= collective_op::advance(g, op, problem);
      } catch (const std::exception& e) {
        problem = e.what();
        op.request = MPI_REQUEST_NULL;
        op.state = CollectiveOp::State::moved;
      }
      if (problem && !op.error) op.error = op_error(g, op, *problem);
      active |= op.state == CollectiveOp::State::moving;
      work |= op.request != MPI_REQUEST_NULL;
      // An operation its members left is dropped once MPI is done with it.
      if (op.abandoned && op.request == MPI_REQUEST_NULL &&
          op.left == static_cast<int>(op.arrivals.size())) {
        it = g.ops.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = g.transfers.begin(); it != g.transfers.end();) {
      P2pTransfer& t = **it;
      changed |= advance_transfer(g, t);
      active |= t.state == P2pTransfer::State::moving;
      const bool mpi =
          t.header != MPI_REQUEST_NULL || t.reply != MPI_REQUEST_NULL || t.data != MPI_REQUEST_NULL;
      work |= mpi;
      it = (!mpi && (t.state == P2pTransfer::State::done || t.abandoned)) ? g.transfers.erase(it)
                                                                          : it + 1;
    }
  };
  for (auto& [name, g] : groups_) advance_group(*g);
  for (auto& g : retired_) advance_group(*g);
  std::erase_if(retired_, [](const GroupPtr& g) {
    if (g->in_flight()) return false;
    g->comm.reset();  // here, with MPI held: a member thread may drop the group's last reference
    return true;
  });
  work |= !queued_.empty() || !queued_transfers_.empty() || !retired_.empty();
  has_work_.store(work, std::memory_order_release);
  lock.unlock();
  if (changed) cv_.notify_all();
  return active || changed;
}

// ---- Members' calls -------------------------------------------------------------------------

std::pair<CollectiveGroups::GroupPtr, int> CollectiveGroups::find_member(std::string_view group,
                                                                         const char* what) {
  const ActorId me = RunningCallScope::current_actor();
  if (!me.valid()) {
    throw_error(*error(ErrorKind::collective,
                       fmt::format("collective::{}(\"{}\") runs inside a method of a member actor "
                                   "of the group, not in the driver or a task",
                                   what, group)));
  }
  auto it = groups_.find(std::string(group));
  if (it == groups_.end()) {
    throw_error(*error(ErrorKind::collective,
                       fmt::format("collective::{}: no collective group named '{}' here; make it "
                                   "with manta::collective::create_group first",
                                   what, group)));
  }
  const int member = it->second->member_of(me);
  if (member < 0) {
    throw_error(*error(ErrorKind::collective,
                       fmt::format("collective::{}: {} is not a member of collective group '{}'",
                                   what, me.to_string(), group)));
  }
  return {it->second, member};
}

int CollectiveGroups::rank_in(std::string_view group) {
  std::lock_guard lock(mutex_);
  return find_member(group, "rank").second;
}

int CollectiveGroups::size_of(std::string_view group) {
  std::lock_guard lock(mutex_);
  return find_member(group, "size").first->size();
}

void CollectiveGroups::run(std::string_view group, const Call& call) {
  std::unique_lock lock(mutex_);
  if (stopped_) throw_error(*error(ErrorKind::shutdown, "the runtime is shutting down"));
  auto [g, member] = find_member(group, is_p2p(call) ? "send/recv" : kind_name(call.kind));
  if (g->broken) throw_as_member(*g->broken, ctx_.rank);
  const bool in_gpu = call.in_count && gpu::where_is(call.in).device;
  const bool out_gpu = call.out_count && gpu::where_is(call.out).device;
  if (in_gpu || out_gpu) {
    run_gpu(lock, g, member, call, gpu::where_is(in_gpu ? call.in : call.out).ordinal);
  } else if (is_p2p(call)) {
    run_p2p(lock, g, member, call);
  } else {
    run_collective(lock, g, member, call);
  }
}

bool CollectiveGroups::wait_until(std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                                  const std::function<bool()>& done,
                                  const std::function<bool()>& busy) {
  auto spin_until = Clock::now() + kSpin;
  auto sleep = std::chrono::microseconds(20);
  bool polling = false;
  auto poll_mode = [&](bool on) {
    if (on != polling && hooks_.polling) hooks_.polling(on);
    polling = on;
  };
  bool in_time = true;
  unsigned rounds = 0;
  while (!done()) {
    const auto now = Clock::now();
    if (now >= deadline) {
      in_time = false;
      break;
    }
    if (busy()) {
      // Data moves: the progress thread drives MPI and wakes us, so that one thread polls, not
      // two (ranks often share cores).
      poll_mode(false);
      cv_.wait_for(lock, kMaxSleep);
      continue;
    }
    poll_mode(now < spin_until);
    lock.unlock();
    const bool moved = hooks_.poll && hooks_.poll();
    lock.lock();
    if (done()) break;
    if (moved) {
      spin_until = Clock::now() + kSpin;
      sleep = std::chrono::microseconds(20);
    }
    if (moved || Clock::now() < spin_until) {
      lock.unlock();
      // A rank's threads may share a core: yield, but not at every round (a yield costs about
      // as much as a small operation takes).
      if ((++rounds & 15) == 0) sched_yield();
      lock.lock();
      continue;
    }
    poll_mode(false);
    cv_.wait_for(lock, std::min<Clock::duration>(sleep, deadline - now));
    sleep = std::min(sleep * 2, kMaxSleep);
  }
  poll_mode(false);
  return in_time;
}

void CollectiveGroups::run_collective(std::unique_lock<std::mutex>& lock, const GroupPtr& g,
                                      int member, const Call& call, CollectiveOp::Mode mode) {
  using S = CollectiveOp::State;
  if (g->broken) throw_as_member(*g->broken, ctx_.rank);
  const std::int64_t start_us = Timeline::now_us();
  const std::uint64_t seq = g->next_seq[static_cast<std::size_t>(member)]++;
  auto& slot = g->ops[seq];
  if (!slot) {
    slot = std::make_shared<CollectiveOp>();
    slot->seq = seq;
    slot->mode = mode;
  }
  const std::shared_ptr<CollectiveOp> op = slot;
  op->arrivals.push_back({member, call});
  const auto deadline = Clock::now() + timeout_;
  bool leader = false;
  if (op->arrivals.size() == g->local.size() && !op->error) {
    leader = true;
    op->state = S::preparing;
    lock.unlock();
    collective_op::prepare(*g, *op);
    lock.lock();
    if (!op->error) {
      op->state = S::queued;
      queued_.emplace_back(g, op);
      has_work_.store(true, std::memory_order_release);
      // No wake-up of the progress thread: this thread polls next, and if MPI is held by
      // another thread, that thread is making progress and starts the operation.
    }
  }
  for (;;) {
    if (op->error || op->state == S::done) break;
    if (leader && op->state == S::moved) {
      op->state = S::distributing;
      lock.unlock();
      collective_op::distribute(*g, *op);
      lock.lock();
      op->state = S::done;
      cv_.notify_all();
      break;
    }
    // Once the data moves, every rank is in: it finishes without a deadline.
    const bool moving =
        op->state == S::moving || op->state == S::moved || op->state == S::distributing;
    const bool in_time = wait_until(
        lock, moving ? Clock::time_point::max() : deadline,
        [&] {
          return op->error || op->state == S::done || (leader && op->state == S::moved) ||
                 (!moving && op->state == S::moving);
        },
        [&] { return op->state == S::moving; });
    if (in_time || op->error) continue;
    if (op->state == S::moving || op->state == S::moved || op->state == S::distributing) continue;
    std::vector<std::string> missing;
    for (int m : g->local) {
      if (std::none_of(op->arrivals.begin(), op->arrivals.end(),
                       [&](const Arrival& a) { return a.member == m; }))
        missing.push_back(describe_member(m, g->members));
    }
    const std::string who = missing.empty() ? std::string("the members on the other ranks")
                                            : fmt::format("{}", fmt::join(missing, ", "));
    break_everywhere(*g, error(ErrorKind::collective,
                               fmt::format("collective {} #{} in group '{}' waited {:.3g} s "
                                           "(--manta-collective-timeout) for {} to call it too",
                                           kind_name(call.kind), seq, g->name,
                                           std::chrono::duration<double>(timeout_).count(), who)));
  }
  ++op->left;
  const bool all_left = op->left == static_cast<int>(op->arrivals.size());
  const std::shared_ptr<const ErrorInfo> failure = op->error;
  if (all_left && op->request == MPI_REQUEST_NULL && !op->abandoned) {
    if (auto it = g->ops.find(seq); it != g->ops.end() && it->second == op) g->ops.erase(it);
  }
  lock.unlock();
  if (mode != CollectiveOp::Mode::check_only) record(*g, member, kind_name(call.kind), start_us);
  if (failure) throw_as_member(*failure, ctx_.rank);
}

void CollectiveGroups::record(const CollectiveGroup& g, int member, const char* what,
                              std::int64_t start_us) {
  if (!hooks_.timeline) return;
  const ActorId& actor = g.members[static_cast<std::size_t>(member)];
  hooks_.timeline->record_lane(fmt::format("{} {}", what, g.name), actor.to_string(),
                               Timeline::lane_of(actor), start_us, Timeline::now_us());
}

// ---- Requests to rank 0 ---------------------------------------------------------------------

CollectiveGroups::Answer CollectiveGroups::ask(std::uint64_t request,
                                               const std::function<void(WireWriter&)>& fill) {
  {
    std::lock_guard lock(answers_mutex_);
    answers_[request];
  }
  ctx_.outbox.send(0, [&](WireWriter& w) { fill(w); });
  std::unique_lock lock(answers_mutex_);
  // Creation waits for members to be placed, which may take as long as the cluster is busy.
  while (!answers_[request].done) {
    if (ctx_.stopping) throw_error(*error(ErrorKind::shutdown, "the runtime is shutting down"));
    answers_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  Answer a = answers_[request];
  answers_.erase(request);
  return a;
}

void CollectiveGroups::on_answer(WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  {
    std::lock_guard lock(answers_mutex_);
    auto it = answers_.find(request);
    if (it == answers_.end()) return;
    Answer& a = it->second;
    a.exists = r.get<std::uint8_t>() != 0;
    if (r.get<std::uint8_t>() != 0) a.error = std::make_shared<const ErrorInfo>(read_error(r));
    a.done = true;
  }
  answers_cv_.notify_all();
}

void CollectiveGroups::create(const std::string& name, const std::vector<ActorId>& members) {
  if (name.empty())
    throw_error(*error(ErrorKind::collective, "create_group: the group needs a name"));
  if (members.empty())
    throw_error(*error(ErrorKind::collective,
                       fmt::format("create_group(\"{}\"): the member list is empty", name)));
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!members[i].valid())
      throw_error(
          *error(ErrorKind::collective,
                 fmt::format("create_group(\"{}\"): member {} is an empty actor handle", name, i)));
    for (std::size_t j = 0; j < i; ++j) {
      if (members[i] == members[j])
        throw_error(*error(ErrorKind::collective,
                           fmt::format("create_group(\"{}\"): {} is both member {} and member {}; "
                                       "an actor takes one place in a group",
                                       name, members[i].to_string(), j, i)));
    }
  }
  const std::uint64_t request = ctx_.next_seq();
  Answer a = ask(request, [&](WireWriter& w) {
    w.put(MessageType::collective_create).put(request).str(name);
    w.put(static_cast<std::uint32_t>(members.size()));
    for (const ActorId& m : members) w.put(m);
  });
  if (a.error) throw_error(*a.error);
}

void CollectiveGroups::destroy(const std::string& name) {
  const std::uint64_t request = ctx_.next_seq();
  Answer a = ask(request, [&](WireWriter& w) {
    w.put(MessageType::collective_destroy).put(request).str(name);
  });
  if (a.error) throw_error(*a.error);
}

bool CollectiveGroups::exists(const std::string& name) {
  const std::uint64_t request = ctx_.next_seq();
  Answer a = ask(
      request, [&](WireWriter& w) { w.put(MessageType::collective_query).put(request).str(name); });
  if (a.error) throw_error(*a.error);
  return a.exists;
}

}  // namespace manta::engine
