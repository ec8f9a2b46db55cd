// send and recv between two members of a collective group. Between ranks, the sender's header
// goes first and the receiver answers whether its call matches, so a wrong size or type fails
// on both sides instead of truncating; the data follows only after a match. Between members on
// one rank, the second to arrive copies.
#include <sched.h>

#include <fmt/format.h>

#include <cstring>

#include "engine/collective_groups.h"
#include "engine/timeline.h"

namespace manta::engine {

using collective::detail::Call;

namespace {

enum class Reply : std::uint8_t { match = 0, differs = 1, gave_up = 2 };

int tag_of(const CollectiveGroup& g, int src, int dst, int step) {
  const int span = std::max(1, (g.comm->tag_limit() - 3) / 3);
  const long pair = (static_cast<long>(src) * g.size() + dst) % span;
  return static_cast<int>(pair) * 3 + step;
}

std::size_t bytes_of(const CallShape& s, std::uint64_t count) {
  return count * element_bytes(static_cast<CollectiveElement>(s.element));
}

bool matches(const CallShape& send, const CallShape& recv) {
  return send.element == recv.element && send.in_count == recv.out_count &&
         send.member == recv.peer && recv.member == send.peer;
}

std::string mismatch(const CallShape& send, const CallShape& recv,
                     const std::vector<ActorId>& members) {
  return fmt::format("{} called {}, but {} called {}", describe_member(send.member, members),
                     describe_call(send), describe_member(recv.member, members),
                     describe_call(recv));
}

}  // namespace

void CollectiveGroups::run_p2p(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
                               const Call& call) {
  if (g->broken) throw_as_member(*g->broken, ctx_.rank);
  const std::int64_t start_us = Timeline::now_us();
  const CallShape shape = shape_of(call, member);
  if (auto why = invalid_call(shape, g->size())) {
    throw_as_member(
        *error(ErrorKind::collective, fmt::format("collective group '{}': {} called {}", g->name,
                                                  describe_member(member, g->members), *why)),
        ctx_.rank);
  }
  auto t = std::make_shared<P2pTransfer>();
  t->sending = call.kind == collective::detail::Kind::send;
  t->src = t->sending ? member : call.peer;
  t->dst = t->sending ? call.peer : member;
  t->shape = shape;
  t->in = call.in;
  t->out = call.out;
  const auto deadline = Clock::now() + timeout_;
  const bool here = g->member_rank[static_cast<std::size_t>(call.peer)] == ctx_.rank;
  if (here) {
    match_here(lock, *g, t);
  } else {
    t->state = P2pTransfer::State::queued;
    queued_transfers_.emplace_back(g, t);
    has_work_.store(true, std::memory_order_release);  // this thread polls next
  }
  while (!t->error && t->state != P2pTransfer::State::done) {
    const bool moving = t->state == P2pTransfer::State::moving;
    if (wait_until(
            lock, moving ? Clock::time_point::max() : deadline,
            [&] {
              return t->error || t->state == P2pTransfer::State::done ||
                     (!moving && t->state == P2pTransfer::State::moving);
            },
            [&] { return t->state == P2pTransfer::State::moving; })) {
      continue;
    }
    if (t->state == P2pTransfer::State::moving) continue;
    give_up_transfer(*g, t);
  }
  const std::shared_ptr<const ErrorInfo> failure = t->error;
  lock.unlock();
  record(*g, member, t->sending ? "send" : "recv", start_us);
  if (failure) throw_as_member(*failure, ctx_.rank);
}

void CollectiveGroups::match_here(std::unique_lock<std::mutex>& lock, CollectiveGroup& g,
                                  const std::shared_ptr<P2pTransfer>& t) {
  auto& partners =
      t->sending ? g.unmatched_recvs[{t->src, t->dst}] : g.unmatched_sends[{t->src, t->dst}];
  if (!partners.empty()) {
    std::shared_ptr<P2pTransfer> other = partners.front();
    partners.pop_front();
    const P2pTransfer& s = t->sending ? *t : *other;
    const P2pTransfer& r = t->sending ? *other : *t;
    if (!matches(s.shape, r.shape)) {
      auto e = error(ErrorKind::collective, fmt::format("collective group '{}': {}", g.name,
                                                        mismatch(s.shape, r.shape, g.members)));
      other->error = e;
      t->error = e;
    } else {
      other->state = P2pTransfer::State::moving;
      lock.unlock();
      const std::size_t bytes = bytes_of(s.shape, s.shape.in_count);
      if (bytes) std::memcpy(r.out, s.in, bytes);
      lock.lock();
      other->state = P2pTransfer::State::done;
      t->state = P2pTransfer::State::done;
    }
    cv_.notify_all();
  } else {
    (t->sending ? g.unmatched_sends : g.unmatched_recvs)[{t->src, t->dst}].push_back(t);
  }
}

void CollectiveGroups::give_up_transfer(CollectiveGroup& g, const std::shared_ptr<P2pTransfer>& t) {
  // Out of time. The order between the two members stays intact: an unmatched call is
  // withdrawn, and one already announced to the other rank is answered there as given up.
  auto& mine = (t->sending ? g.unmatched_sends : g.unmatched_recvs)[{t->src, t->dst}];
  std::erase(mine, t);
  t->abandon(error(
      ErrorKind::collective,
      fmt::format("collective group '{}': {} waited {:.3g} s "
                  "(--manta-collective-timeout) for {} to call {}",
                  g.name, describe_call(t->shape), std::chrono::duration<double>(timeout_).count(),
                  describe_member(t->sending ? t->dst : t->src, g.members),
                  t->sending ? "recv" : "send")));
}

void CollectiveGroups::start_transfer(CollectiveGroup& g, P2pTransfer& t) {
  const int peer = g.member_leg[static_cast<std::size_t>(t.sending ? t.dst : t.src)];
  try {
    if (t.sending) {
      t.mine = t.shape;
      t.header = g.comm->send_bytes(&t.mine, sizeof t.mine, peer, tag_of(g, t.src, t.dst, 0));
      t.reply = g.comm->recv_bytes(&t.theirs, sizeof t.theirs, peer, tag_of(g, t.src, t.dst, 1));
    } else {
      t.header = g.comm->recv_bytes(&t.theirs, sizeof t.theirs, peer, tag_of(g, t.src, t.dst, 0));
    }
    t.state = P2pTransfer::State::waiting_peer;
  } catch (const std::exception& e) {
    fail_transfer(g, t, e.what());
  }
}

void CollectiveGroups::fail_transfer(CollectiveGroup& g, P2pTransfer& t, std::string why) {
  if (!t.error)
    t.error = error(ErrorKind::collective,
                    fmt::format("collective group '{}': {}", g.name, std::move(why)));
  t.state = P2pTransfer::State::done;
}

bool CollectiveGroups::advance_transfer(CollectiveGroup& g, P2pTransfer& t) {
  using transport::GroupCommunicator;
  using S = P2pTransfer::State;
  const int peer = g.member_leg[static_cast<std::size_t>(t.sending ? t.dst : t.src)];
  const auto e = to_transport(static_cast<CollectiveElement>(t.shape.element));
  try {
    if (t.sending) {
      if (t.state == S::waiting_peer && GroupCommunicator::test(t.reply)) {
        const auto reply = static_cast<Reply>(t.theirs.op);
        if (reply == Reply::match) {
          t.data = g.comm->send(t.in, t.shape.in_count, e, peer, tag_of(g, t.src, t.dst, 2));
          t.state = S::moving;
        } else if (reply == Reply::differs) {
          fail_transfer(g, t, mismatch(t.shape, t.theirs, g.members));
        } else {
          fail_transfer(g, t,
                        fmt::format("{} stopped waiting for this send (--manta-collective-timeout)",
                                    describe_member(t.dst, g.members)));
        }
        return true;
      }
      if (t.state == S::moving && GroupCommunicator::test(t.data) &&
          GroupCommunicator::test(t.header)) {
        t.state = S::done;
        return true;
      }
      GroupCommunicator::test(t.header);
      return false;
    }
    if (t.state == S::waiting_peer && GroupCommunicator::test(t.header)) {
      t.mine = t.shape;
      const bool ok = matches(t.theirs, t.shape);
      const Reply reply = t.abandoned ? Reply::gave_up : ok ? Reply::match : Reply::differs;
      t.mine.op = static_cast<std::uint8_t>(reply);
      t.reply = g.comm->send_bytes(&t.mine, sizeof t.mine, peer, tag_of(g, t.src, t.dst, 1));
      if (reply == Reply::match) {
        t.data = g.comm->recv(t.out, t.shape.out_count, e, peer, tag_of(g, t.src, t.dst, 2));
        t.state = S::moving;
      } else if (reply == Reply::differs) {
        fail_transfer(g, t, mismatch(t.theirs, t.shape, g.members));
      } else {
        t.state = S::done;
      }
      return true;
    }
    if (t.state == S::moving && GroupCommunicator::test(t.data) &&
        GroupCommunicator::test(t.reply)) {
      t.state = S::done;
      return true;
    }
    if (t.state == S::done) GroupCommunicator::test(t.reply);
    return false;
  } catch (const std::exception& ex) {
    t.header = t.reply = t.data = MPI_REQUEST_NULL;
    fail_transfer(g, t, ex.what());
    return true;
  }
}

}  // namespace manta::engine
