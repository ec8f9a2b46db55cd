// Collective groups of actors: every operation and reduction over 2, 3 and 4 members, on distinct
// ranks and sharing ranks; sizes 0, 1, odd and 64 MiB; int, float, double and 64-bit integers; in
// place and into a separate result. Members return what they computed and the driver checks it
// against a serial fold of the same inputs. Then what must keep running while a collective waits,
// mismatched calls, a killed member, a restarted member, a call whose peer never comes, two groups
// over the same actors, misuse, and the groups in the memory summary.
// Runs with --manta-collective-timeout=20: a death must be noticed well before that, and a call
// without its peer must fail at about that.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <manta/manta.h>

#include "collective_reference.h"

namespace {

namespace coll = manta::collective;
using coll::ReduceOp;
using namespace collective_reference;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every get has a limit: a hang shows up as GetTimeoutError, not a stuck suite.
constexpr auto kLimit = std::chrono::seconds(60);
// The job runs with --manta-collective-timeout=20; a member's death must be seen well before.
constexpr auto kDeathNoticed = std::chrono::seconds(15);

int last_rank() { return manta::world_size() - 1; }

template <class T>
T value(const manta::ObjectRef<T>& ref) {
  return *manta::get(ref, kLimit);
}

// ---- what ranks remember for the driver ------------------------------------------------------
// Members mark that they reached a point (entered a collective) and wait to be released; the
// driver reads and sets these with plain tasks on the member's rank, so no test guesses with a
// sleep whether a member got somewhere.
std::mutex g_marks_mutex;
std::condition_variable g_marks_changed;
std::set<int> g_entered;
std::set<int> g_released;
std::atomic<int> g_next_token{1};

void mark_entered(int token) {
  std::lock_guard lock(g_marks_mutex);
  g_entered.insert(token);
}
bool entered(int token) {
  std::lock_guard lock(g_marks_mutex);
  return g_entered.count(token) > 0;
}
bool release(int token) {
  std::lock_guard lock(g_marks_mutex);
  g_released.insert(token);
  g_marks_changed.notify_all();
  return true;
}
bool wait_released(int token, std::chrono::seconds limit) {
  std::unique_lock lock(g_marks_mutex);
  return g_marks_changed.wait_for(lock, limit, [&] { return g_released.count(token) > 0; });
}

// "ok", or the Manta error a collective call ended with: its type and what().
template <class F>
std::string outcome(F&& f) {
  try {
    f();
    return "ok";
  } catch (const manta::ActorDiedError& e) {
    return std::string("ActorDiedError: ") + e.what();
  } catch (const manta::CollectiveError& e) {
    return std::string("CollectiveError: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other error: ") + e.what();
  }
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Whether `text` names actor `id` ("actor:0:5", not the prefix of "actor:0:51").
bool names_actor(const std::string& text, const manta::ActorId& id) {
  const std::string name = id.to_string();
  for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    const auto end = at + name.size();
    if (end == text.size() || !std::isdigit(static_cast<unsigned char>(text[end]))) return true;
  }
  return false;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---- the member actor ------------------------------------------------------------------------
// Each *_cases method runs one operation over every size (and op or root) in a fixed order and
// returns every buffer it should know afterwards; expected_*_cases below build the same list
// serially, with labels.

struct Member {
  static Member* create(int index) { return new Member{index}; }

  int index = 0;

  // {rank in the group, size of the group, the rank hosting this actor}
  std::vector<int> placement(std::string g) {
    return {coll::rank(g), coll::size(g), manta::rank()};
  }
  bool restarted() const { return manta::was_actor_restarted(); }
  int where() const { return manta::rank(); }

  // Sum of (group rank + 1) over the group, with this member's rank and the group's size.
  std::vector<int> rank_sum(std::string g) {
    std::vector<int> v{coll::rank(g) + 1};
    coll::allreduce(g, v);
    return {v[0], coll::rank(g), coll::size(g)};
  }

  template <class T>
  std::vector<std::vector<T>> allreduce_cases(std::string g) {
    const int me = coll::rank(g);
    std::vector<std::vector<T>> out;
    int seed = 0;
    for (ReduceOp op : kOps) {
      for (std::size_t n : kSizes) {
        auto data = inputs<T>(op, seed, me, n);  // in place, a vector
        coll::allreduce(g, data, op);
        out.push_back(data);
        const auto in = inputs<T>(op, seed + 1, me, n);  // into an Array
        manta::Array<T> result(n, kUntouched<T>);
        coll::allreduce(g, in, result, op);
        out.push_back(result.to_vector());
        out.push_back(in);
        seed += 2;
      }
    }
    return out;
  }

  template <class T>
  std::vector<std::vector<T>> reduce_cases(std::string g) {
    const int me = coll::rank(g);
    const int size = coll::size(g);
    std::vector<std::vector<T>> out;
    int seed = 0;
    for (int root : {size - 1, 0}) {
      for (std::size_t n : kSizes) {
        // In place, an Array: the sum lands in the root's data only.
        manta::Array<T> data(inputs<T>(ReduceOp::sum, seed, me, n));
        coll::reduce(g, data, root);
        out.push_back(data.to_vector());
        // The minimum into a separate span: the others' `out` is not written.
        const auto in = inputs<T>(ReduceOp::min, seed + 1, me, n);
        std::vector<T> result(n, kUntouched<T>);
        coll::reduce(g, std::span<const T>(in), std::span<T>(result), root, ReduceOp::min);
        out.push_back(result);
        out.push_back(in);
        seed += 2;
      }
    }
    return out;
  }

  template <class T>
  std::vector<std::vector<T>> broadcast_cases(std::string g) {
    const int me = coll::rank(g);
    const int size = coll::size(g);
    std::vector<std::vector<T>> out;
    int seed = 0;
    for (int root : {size - 1, size / 2, 0}) {
      for (std::size_t n : kSizes) {
        auto v = inputs<T>(ReduceOp::sum, seed, me, n);  // a vector
        coll::broadcast(g, v, root);
        out.push_back(v);
        manta::Array<T> a(inputs<T>(ReduceOp::sum, seed + 1, me, n));  // an Array
        coll::broadcast(g, a, root);
        out.push_back(a.to_vector());
        seed += 2;
      }
    }
    return out;
  }

  template <class T>
  std::vector<std::vector<T>> allgather_cases(std::string g) {
    const int me = coll::rank(g);
    const auto size = static_cast<std::size_t>(coll::size(g));
    std::vector<std::vector<T>> out;
    int seed = 0;
    for (std::size_t n : kSizes) {
      const auto in = inputs<T>(ReduceOp::sum, seed, me, n);
      manta::Array<T> gathered(n * size, kUntouched<T>);  // into an Array
      coll::allgather(g, in, gathered);
      out.push_back(gathered.to_vector());
      out.push_back(coll::allgather(g, inputs<T>(ReduceOp::sum, seed + 1, me, n)));  // returned
      out.push_back(in);
      seed += 2;
    }
    return out;
  }

  template <class T>
  std::vector<std::vector<T>> reduce_scatter_cases(std::string g) {
    const int me = coll::rank(g);
    const auto size = static_cast<std::size_t>(coll::size(g));
    std::vector<std::vector<T>> out;
    int seed = 0;
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
      for (std::size_t n : kSizes) {
        const manta::Array<T> in(inputs<T>(op, seed, me, n * size));  // from an Array
        std::vector<T> mine(n, kUntouched<T>);
        coll::reduce_scatter(g, in, mine, op);
        out.push_back(mine);
        out.push_back(in.to_vector());
        out.push_back(coll::reduce_scatter(g, inputs<T>(op, seed + 1, me, n * size), op));
        seed += 2;
      }
    }
    return out;
  }

  // Member 0 sends three messages (1, 1001 and 0 elements) to each other member, which answer
  // with two (1001 and 1), received in member order; then a ring, each member to the next.
  // Returns what this member received, in the order it received it.
  template <class T>
  std::vector<std::vector<T>> send_recv_cases(std::string g) {
    const int me = coll::rank(g);
    const int size = coll::size(g);
    std::vector<std::vector<T>> out;
    if (me == 0) {
      for (int j = 1; j < size; ++j) {
        coll::send(g, inputs<T>(ReduceOp::sum, j * 10 + 0, 0, 1), j);
        coll::send(g, manta::Array<T>(inputs<T>(ReduceOp::sum, j * 10 + 1, 0, 1001)), j);
        coll::send(g, std::vector<T>{}, j);
      }
      for (int j = 1; j < size; ++j) {
        std::vector<T> a(1001, kUntouched<T>);
        coll::recv(g, a, j);
        manta::Array<T> b(1, kUntouched<T>);
        coll::recv(g, b, j);
        out.push_back(a);
        out.push_back(b.to_vector());
      }
    } else {
      std::vector<T> a(1, kUntouched<T>);
      coll::recv(g, a, 0);
      manta::Array<T> b(1001, kUntouched<T>);
      coll::recv(g, b, 0);
      std::vector<T> c;
      coll::recv(g, c, 0);
      out.push_back(a);
      out.push_back(b.to_vector());
      out.push_back(c);
      coll::send(g, inputs<T>(ReduceOp::sum, 100 + me * 10 + 0, me, 1001), 0);
      const auto one = inputs<T>(ReduceOp::sum, 100 + me * 10 + 1, me, 1);
      coll::send(g, std::span<const T>(one), 0);
    }
    // The ring: even members send first, odd ones receive first, so that sends which wait for
    // their receiver cannot form a cycle.
    const int next = (me + 1) % size;
    const int prev = (me + size - 1) % size;
    const auto mine = inputs<T>(ReduceOp::sum, 200 + me, me, 1001);
    std::vector<T> got(1001, kUntouched<T>);
    if (me % 2 == 0) {
      coll::send(g, mine, next);
      coll::recv(g, got, prev);
    } else {
      coll::recv(g, got, prev);
      coll::send(g, mine, next);
    }
    out.push_back(got);
    return out;
  }

  // `rounds` barriers, each entered after a pause that differs between members; returns the
  // monotonic clock (shared by the processes of one node) at each entry and exit.
  std::vector<std::int64_t> barrier_times(std::string g, int rounds) {
    const int me = coll::rank(g);
    std::vector<std::int64_t> times;
    for (int r = 0; r < rounds; ++r) {
      std::this_thread::sleep_for(std::chrono::milliseconds(40 * ((me * 3 + r) % 4)));
      times.push_back(now_ns());
      coll::barrier(g);
      times.push_back(now_ns());
    }
    return times;
  }
  // Many barriers back to back.
  int barriers(std::string g, int n) {
    for (int i = 0; i < n; ++i) coll::barrier(g);
    return n;
  }

  Digest big_allreduce(std::string g, std::uint64_t count) {
    const int me = coll::rank(g);
    std::vector<float> v(count);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = big_element(me, i);
    coll::allreduce(g, v);
    return digest_of(v);
  }
  Digest big_broadcast(std::string g, std::uint64_t count, int root) {
    const int me = coll::rank(g);
    manta::Array<float> a = manta::Array<float>::uninitialized(count);
    float* p = a.mutable_data();
    for (std::size_t i = 0; i < count; ++i) p[i] = big_element(me, i);
    coll::broadcast(g, a, root);
    return digest_of(a.span());
  }

  // Calls that disagree with the other members' calls.
  std::string allreduce_of_count(std::string g, std::uint64_t count) {
    std::vector<int> v(count, 1);
    return outcome([&] { coll::allreduce(g, v); });
  }
  std::string allreduce_of_type(std::string g, bool use_double) {
    return outcome([&] {
      if (use_double) {
        std::vector<double> v(64, 1.0);
        coll::allreduce(g, v);
      } else {
        std::vector<float> v(64, 1.0f);
        coll::allreduce(g, v);
      }
    });
  }
  std::string allreduce_or_broadcast(std::string g, bool broadcast) {
    std::vector<int> v(64, 1);
    return outcome([&] {
      if (broadcast) {
        coll::broadcast(g, v, 0);
      } else {
        coll::allreduce(g, v);
      }
    });
  }

  // A barrier, marked as entered for the driver first.
  std::string marked_barrier(std::string g, int token) {
    mark_entered(token);
    return outcome([&] { coll::barrier(g); });
  }
  // A barrier entered only once the driver releases `token`.
  std::string gated_barrier(std::string g, int token) {
    if (!wait_released(token, std::chrono::seconds(40))) return "never released";
    return outcome([&] { coll::barrier(g); });
  }
  std::string barrier_on(std::string g) {
    return outcome([&] { coll::barrier(g); });
  }

  // Each round: an allreduce in `g1`, then a broadcast in `g2` from a root that moves.
  std::vector<std::vector<int>> alternate(std::string g1, std::string g2, int rounds) {
    std::vector<std::vector<int>> out;
    for (int r = 0; r < rounds; ++r) {
      auto a = inputs<int>(ReduceOp::sum, r, coll::rank(g1), 33);
      coll::allreduce(g1, a);
      auto b = inputs<int>(ReduceOp::sum, 50 + r, coll::rank(g2), 33);
      coll::broadcast(g2, b, r % coll::size(g2));
      out.push_back(a);
      out.push_back(b);
      out.push_back({coll::rank(g1), coll::rank(g2)});
    }
    return out;
  }
};

// ---- plain tasks -----------------------------------------------------------------------------

int square(int x) { return x * x; }
std::string barrier_from_task(std::string g) {
  return outcome([&] { coll::barrier(g); });
}
bool exists_here(std::string g) { return coll::group_exists(g); }
// Whether a call from this rank finds `h` dead.
bool is_dead(manta::ActorHandle<Member> h) {
  try {
    manta::get(h.task(&Member::where).remote(), kLimit);
    return false;
  } catch (const manta::ActorDiedError&) {
    return true;
  }
}

}  // namespace

MANTA_REMOTE(Member::create, &Member::placement, &Member::restarted, &Member::where,
             &Member::rank_sum, &Member::allreduce_cases<int>, &Member::allreduce_cases<float>,
             &Member::allreduce_cases<double>, &Member::allreduce_cases<std::uint64_t>,
             &Member::reduce_cases<int>, &Member::reduce_cases<float>,
             &Member::reduce_cases<double>, &Member::broadcast_cases<int>,
             &Member::broadcast_cases<float>, &Member::broadcast_cases<double>,
             &Member::allgather_cases<int>, &Member::allgather_cases<float>,
             &Member::allgather_cases<double>, &Member::reduce_scatter_cases<int>,
             &Member::reduce_scatter_cases<float>, &Member::reduce_scatter_cases<double>,
             &Member::reduce_scatter_cases<std::int64_t>, &Member::send_recv_cases<int>,
             &Member::send_recv_cases<float>, &Member::send_recv_cases<double>,
             &Member::barrier_times, &Member::barriers, &Member::big_allreduce,
             &Member::big_broadcast, &Member::allreduce_of_count, &Member::allreduce_of_type,
             &Member::allreduce_or_broadcast, &Member::marked_barrier, &Member::gated_barrier,
             &Member::barrier_on, &Member::alternate, square, entered, release, barrier_from_task,
             exists_here, is_dead);

namespace {

std::string member_label(int i) { return "member " + std::to_string(i); }

// ---- layouts: how many members, on which ranks -----------------------------------------------

struct Layout {
  const char* name;
  int members;
  int (*rank_of)(int member, int world);
};

const Layout kLayouts[] = {
    {"TwoOnDistinctRanks", 2, [](int i, int w) { return i % w; }},
    {"ThreeOnDistinctRanks", 3, [](int i, int w) { return i % w; }},
    {"FourOnDistinctRanks", 4, [](int i, int w) { return i % w; }},
    {"TwoOnOneRank", 2, [](int, int w) { return w - 1; }},
    {"FourOnOneRank", 4, [](int, int w) { return w - 1; }},
    // Members 0 and 2 share the last rank, member 1 is on rank 0.
    {"ThreeSharingARank", 3, [](int i, int w) { return i == 1 ? 0 : w - 1; }},
    // Ranks {0, 1, 0, 1}: two members on each of two ranks, interleaved in group order.
    {"FourInterleavedOnTwoRanks", 4, [](int i, int w) { return (i % 2) % w; }},
};

std::atomic<int> g_next_group{0};
std::string fresh_group_name(const char* what) {
  return std::string(what) + "-" + std::to_string(g_next_group++);
}

// A group of Members placed by a layout, made at the start of a test and ended after it.
class MemberGroup {
 public:
  MemberGroup(const Layout& layout, const char* what) : layout_(layout) {
    for (int i = 0; i < layout.members; ++i) {
      handles.push_back(
          manta::actor(Member::create).on_rank(layout.rank_of(i, manta::world_size())).remote(i));
    }
    name = fresh_group_name(what);
    coll::create_group(name, handles);
  }
  ~MemberGroup() {
    try {
      if (coll::group_exists(name)) coll::destroy_group(name);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "destroying group " << name << ": " << e.what();
    }
    for (auto& h : handles) h.kill();
  }
  MemberGroup(const MemberGroup&) = delete;
  MemberGroup& operator=(const MemberGroup&) = delete;

  [[nodiscard]] int size() const { return layout_.members; }
  [[nodiscard]] int rank_of(int member) const {
    return layout_.rank_of(member, manta::world_size());
  }

  // Calls `method` on every member (all calls made before any result is awaited) and returns
  // the results in member order.
  template <class R, class... P, class... A>
  std::vector<R> on_every_member(R (Member::*method)(P...), const A&... args) const {
    std::vector<manta::ObjectRef<R>> refs;
    for (const auto& h : handles) refs.push_back(h.task(method).remote(args...));
    std::vector<R> out;
    for (const auto& r : refs) out.push_back(value(r));
    return out;
  }

  std::vector<manta::ActorHandle<Member>> handles;
  std::string name;

 private:
  Layout layout_;
};

class CollectiveOps : public ::testing::TestWithParam<Layout> {};

std::string layout_name(const ::testing::TestParamInfo<Layout>& info) { return info.param.name; }

// ---- every operation on every layout ---------------------------------------------------------

TEST_P(CollectiveOps, MembersKnowTheirRankAndSize) {
  MemberGroup g(GetParam(), "placement");
  const auto seen = g.on_every_member(&Member::placement, g.name);
  for (int i = 0; i < g.size(); ++i) {
    ASSERT_EQ(seen[i].size(), 3u);
    EXPECT_EQ(seen[i][0], i) << member_label(i) << ": rank in the group";
    EXPECT_EQ(seen[i][1], g.size()) << member_label(i) << ": size of the group";
    EXPECT_EQ(seen[i][2], g.rank_of(i)) << member_label(i) << ": hosting rank";
  }
}

template <class T>
void check_allreduce(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::allreduce_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_allreduce_cases<T>(g.size(), i), member_label(i));
}

TEST_P(CollectiveOps, AllreduceEveryOpAndType) {
  MemberGroup g(GetParam(), "allreduce");
  check_allreduce<int>(g);
  check_allreduce<float>(g);
  check_allreduce<double>(g);
  check_allreduce<std::uint64_t>(g);
}

template <class T>
void check_reduce(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::reduce_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_reduce_cases<T>(g.size(), i), member_label(i));
}

TEST_P(CollectiveOps, ReduceToARoot) {
  MemberGroup g(GetParam(), "reduce");
  check_reduce<int>(g);
  check_reduce<float>(g);
  check_reduce<double>(g);
}

template <class T>
void check_broadcast(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::broadcast_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_broadcast_cases<T>(g.size()), member_label(i));
}

TEST_P(CollectiveOps, BroadcastFromEveryKindOfRoot) {
  MemberGroup g(GetParam(), "broadcast");
  check_broadcast<int>(g);
  check_broadcast<float>(g);
  check_broadcast<double>(g);
}

template <class T>
void check_allgather(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::allgather_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_allgather_cases<T>(g.size(), i), member_label(i));
}

TEST_P(CollectiveOps, AllgatherConcatenatesInGroupOrder) {
  MemberGroup g(GetParam(), "allgather");
  check_allgather<int>(g);
  check_allgather<float>(g);
  check_allgather<double>(g);
}

template <class T>
void check_reduce_scatter(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::reduce_scatter_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_reduce_scatter_cases<T>(g.size(), i), member_label(i));
}

TEST_P(CollectiveOps, ReduceScatterGivesEachMemberItsBlock) {
  MemberGroup g(GetParam(), "reduce-scatter");
  check_reduce_scatter<int>(g);
  check_reduce_scatter<float>(g);
  check_reduce_scatter<double>(g);
  check_reduce_scatter<std::int64_t>(g);
}

template <class T>
void check_send_recv(const MemberGroup& g) {
  const auto got = g.on_every_member(&Member::send_recv_cases<T>, g.name);
  for (int i = 0; i < g.size(); ++i)
    expect_cases(got[i], expected_send_recv_cases<T>(g.size(), i), member_label(i));
}

TEST_P(CollectiveOps, SendAndRecvArriveInOrder) {
  MemberGroup g(GetParam(), "send-recv");
  check_send_recv<int>(g);
  check_send_recv<float>(g);
  check_send_recv<double>(g);
}

TEST_P(CollectiveOps, BarrierReleasesNobodyBeforeTheLastArrives) {
  MemberGroup g(GetParam(), "barrier");
  constexpr int kRounds = 3;
  const auto times = g.on_every_member(&Member::barrier_times, g.name, kRounds);
  for (int r = 0; r < kRounds; ++r) {
    std::int64_t last_entry = 0;
    std::int64_t first_exit = std::numeric_limits<std::int64_t>::max();
    int last_in = -1, first_out = -1;
    for (int i = 0; i < g.size(); ++i) {
      ASSERT_EQ(times[i].size(), 2u * kRounds) << member_label(i);
      if (times[i][2 * r] > last_entry) {
        last_entry = times[i][2 * r];
        last_in = i;
      }
      if (times[i][2 * r + 1] < first_exit) {
        first_exit = times[i][2 * r + 1];
        first_out = i;
      }
    }
    EXPECT_LE(last_entry, first_exit) << "round " << r << ": " << member_label(first_out)
                                      << " left the barrier " << (last_entry - first_exit) / 1000
                                      << " us before " << member_label(last_in) << " entered it";
  }
  const auto counts = g.on_every_member(&Member::barriers, g.name, 50);
  for (int i = 0; i < g.size(); ++i) EXPECT_EQ(counts[i], 50) << member_label(i);
}

INSTANTIATE_TEST_SUITE_P(Layouts, CollectiveOps, ::testing::ValuesIn(kLayouts), layout_name);

// ---- 64 MiB ----------------------------------------------------------------------------------

// What a member's digest must be after summing `members` members' big inputs.
Digest expected_big_sum(int members) {
  std::vector<float> sum(kBigCount);
  for (std::size_t i = 0; i < sum.size(); ++i) {
    float acc = big_element(0, i);
    for (int m = 1; m < members; ++m) acc += big_element(m, i);
    sum[i] = acc;
  }
  return digest_of(sum);
}

void expect_digest(const Digest& got, const Digest& want, const std::string& where) {
  EXPECT_EQ(got.count, want.count) << where;
  EXPECT_EQ(got.hash, want.hash) << where << ": the 64 MiB differ (first " << got.first
                                 << " expected " << want.first << ", middle " << got.middle
                                 << " expected " << want.middle << ", last " << got.last
                                 << " expected " << want.last << ")";
}

class BigCollectives : public ::testing::TestWithParam<Layout> {};

TEST_P(BigCollectives, AllreduceOf64MiBOfFloatsMatchesTheSerialSum) {
  MemberGroup g(GetParam(), "big-allreduce");
  const auto got = g.on_every_member(&Member::big_allreduce, g.name, kBigCount);
  const Digest want = expected_big_sum(g.size());
  for (int i = 0; i < g.size(); ++i) expect_digest(got[i], want, member_label(i));
}

TEST_P(BigCollectives, BroadcastOf64MiBOfFloatsFromANonZeroRoot) {
  MemberGroup g(GetParam(), "big-broadcast");
  const int root = g.size() - 1;
  const auto got = g.on_every_member(&Member::big_broadcast, g.name, kBigCount, root);
  std::vector<float> roots(kBigCount);
  for (std::size_t i = 0; i < roots.size(); ++i) roots[i] = big_element(root, i);
  const Digest want = digest_of(roots);
  for (int i = 0; i < g.size(); ++i) expect_digest(got[i], want, member_label(i));
}

// Four members on distinct ranks, and two on each of two ranks.
INSTANTIATE_TEST_SUITE_P(Layouts, BigCollectives, ::testing::Values(kLayouts[2], kLayouts[6]),
                         layout_name);

// ---- calls that disagree ---------------------------------------------------------------------

class MismatchedCalls : public ::testing::TestWithParam<Layout> {};

// Every member's outcome must be a CollectiveError whose message holds each of `needles`' words
// (one of the alternatives of each).
void expect_collective_errors(const std::vector<std::string>& outcomes,
                              const std::vector<std::vector<std::string>>& needles) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const std::string& o = outcomes[i];
    EXPECT_TRUE(starts_with(o, "CollectiveError: "))
        << member_label(static_cast<int>(i)) << ": " << o;
    for (const auto& alternatives : needles) {
      const bool found = std::any_of(alternatives.begin(), alternatives.end(),
                                     [&](const std::string& w) { return o.find(w) != o.npos; });
      EXPECT_TRUE(found) << member_label(static_cast<int>(i)) << ": the error does not name "
                         << alternatives.front() << ": " << o;
    }
  }
}

TEST_P(MismatchedCalls, WrongSizeFailsEveryMemberNamingBothSizes) {
  MemberGroup g(GetParam(), "wrong-size");
  std::vector<manta::ObjectRef<std::string>> refs;
  for (int i = 0; i < g.size(); ++i) {
    const std::uint64_t count = i == 1 ? 4321 : 1234;
    refs.push_back(g.handles[i].task(&Member::allreduce_of_count).remote(g.name, count));
  }
  std::vector<std::string> outcomes;
  for (auto& r : refs) outcomes.push_back(value(r));
  expect_collective_errors(outcomes, {{"1234"}, {"4321"}});
}

TEST_P(MismatchedCalls, WrongTypeFailsEveryMember) {
  MemberGroup g(GetParam(), "wrong-type");
  std::vector<manta::ObjectRef<std::string>> refs;
  for (int i = 0; i < g.size(); ++i)
    refs.push_back(g.handles[i].task(&Member::allreduce_of_type).remote(g.name, i == 1));
  std::vector<std::string> outcomes;
  for (auto& r : refs) outcomes.push_back(value(r));
  expect_collective_errors(outcomes, {{"float", "f32"}, {"double", "f64"}});
}

TEST_P(MismatchedCalls, DifferentOperationsFailEveryMember) {
  MemberGroup g(GetParam(), "wrong-operation");
  std::vector<manta::ObjectRef<std::string>> refs;
  for (int i = 0; i < g.size(); ++i) {
    refs.push_back(
        g.handles[i].task(&Member::allreduce_or_broadcast).remote(g.name, i == g.size() - 1));
  }
  std::vector<std::string> outcomes;
  for (auto& r : refs) outcomes.push_back(value(r));
  expect_collective_errors(outcomes, {{"allreduce"}, {"broadcast"}});
}

// Distinct ranks, all on one rank, and a mix.
INSTANTIATE_TEST_SUITE_P(Layouts, MismatchedCalls,
                         ::testing::Values(kLayouts[1], kLayouts[4], kLayouts[5]), layout_name);

// ---- what keeps running while a collective waits ---------------------------------------------

// Polls `done` until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

bool has_entered(int rank, int token) {
  return eventually([&] { return value(manta::task(entered).on_rank(rank).remote(token)); });
}

TEST(CollectiveProgress, TasksAndOtherActorsRunWhileAMemberWaits) {
  const int a_rank = last_rank();
  const int b_rank = 0;
  auto a = manta::actor(Member::create).on_rank(a_rank).remote(0);
  auto b = manta::actor(Member::create).on_rank(b_rank).remote(1);
  const std::string waiting = fresh_group_name("waiting");
  coll::create_group(waiting, std::vector{a, b});
  // A second group of other actors on the same two ranks, and a bystander actor next to a.
  auto c = manta::actor(Member::create).on_rank(a_rank).remote(0);
  auto d = manta::actor(Member::create).on_rank(b_rank).remote(1);
  auto bystander = manta::actor(Member::create).on_rank(a_rank).remote(9);
  const std::string other = fresh_group_name("other");
  coll::create_group(other, std::vector{c, d});

  const int token_a = g_next_token++, token_b = g_next_token++;
  auto in_a = a.task(&Member::marked_barrier).remote(waiting, token_a);
  auto in_b = b.task(&Member::gated_barrier).remote(waiting, token_b);
  ASSERT_TRUE(has_entered(a_rank, token_a)) << "member a never reached its barrier";

  // a waits in the barrier, and b will not come until released: all of this must finish now.
  std::vector<manta::ObjectRef<int>> tasks;
  for (int i = 0; i < 20; ++i) tasks.push_back(manta::task(square).on_rank(a_rank).remote(i));
  std::vector<manta::ObjectRef<int>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(bystander.task(&Member::where).remote());
  auto c_sum = c.task(&Member::rank_sum).remote(other);
  auto d_sum = d.task(&Member::rank_sum).remote(other);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(value(tasks[i]), i * i) << "task " << i;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(value(calls[i]), a_rank) << "call " << i;
  EXPECT_EQ(value(c_sum), (std::vector<int>{3, 0, 2})) << "the other group's allreduce";
  EXPECT_EQ(value(d_sum), (std::vector<int>{3, 1, 2})) << "the other group's allreduce";

  // The barrier is still waiting for b: nothing above got past it by ending it early.
  const auto early = manta::wait(std::vector{in_a, in_b}, 1, 0ms);
  EXPECT_TRUE(early.ready.empty()) << "the barrier ended before its second member came";

  ASSERT_TRUE(value(manta::task(release).on_rank(b_rank).remote(token_b)));
  EXPECT_EQ(value(in_a), "ok");
  EXPECT_EQ(value(in_b), "ok");
  coll::destroy_group(waiting);
  coll::destroy_group(other);
  for (auto& h : {a, b, c, d, bystander}) h.kill();
}

// ---- failures --------------------------------------------------------------------------------

// Members 0 and 1 of a three-member group wait in a barrier; `end_member_2` ends member 2 (which
// never comes). Both must fail with ActorDiedError naming it, well within the timeout.
void expect_waiters_see_death(const std::vector<manta::ActorHandle<Member>>& members,
                              const std::string& group, const std::vector<int>& ranks,
                              const std::function<void()>& end_member_2) {
  std::vector<manta::ObjectRef<std::string>> waits;
  std::vector<int> tokens;
  for (int i = 0; i < 2; ++i) {
    tokens.push_back(g_next_token++);
    waits.push_back(members[i].task(&Member::marked_barrier).remote(group, tokens[i]));
  }
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(has_entered(ranks[i], tokens[i])) << member_label(i) << " never reached it";
  std::this_thread::sleep_for(200ms);  // from the mark into the barrier itself
  const auto t0 = Clock::now();
  end_member_2();
  for (int i = 0; i < 2; ++i) {
    const std::string o = value(waits[i]);
    EXPECT_TRUE(starts_with(o, "ActorDiedError: ")) << member_label(i) << ": " << o;
    EXPECT_TRUE(names_actor(o, members[2].id()))
        << member_label(i) << ": does not name " << members[2].id().to_string() << ": " << o;
  }
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, kDeathNoticed) << "the survivors waited "
                                 << std::chrono::duration_cast<std::chrono::seconds>(took).count()
                                 << " s to learn of the death";
}

std::vector<int> ranks_mod_world(int n) {
  std::vector<int> r;
  for (int i = 0; i < n; ++i) r.push_back(i % manta::world_size());
  return r;
}

const manta::CollectiveGroupSummary* find_group(const manta::MemorySummary& s,
                                                const std::string& name) {
  for (const auto& g : s.collective_groups)
    if (g.name == name) return &g;
  return nullptr;
}

TEST(CollectiveFailure, KilledMemberFailsTheOthersAndTheGroupIsMadeAgain) {
  const auto ranks = ranks_mod_world(3);
  std::vector<manta::ActorHandle<Member>> members;
  for (int i = 0; i < 3; ++i)
    members.push_back(manta::actor(Member::create).on_rank(ranks[i]).remote(i));
  const std::string group = fresh_group_name("killed");
  coll::create_group(group, members);
  {
    std::vector<manta::ObjectRef<std::vector<int>>> sums;
    for (auto& m : members) sums.push_back(m.task(&Member::rank_sum).remote(group));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(value(sums[i]), (std::vector<int>{6, i, 3}));
  }

  ASSERT_NO_FATAL_FAILURE(
      expect_waiters_see_death(members, group, ranks, [&] { members[2].kill(); }));

  // The summary shows the group as broken until it is destroyed.
  const auto summary = manta::memory_summary();
  const auto* listed = find_group(summary, group);
  ASSERT_NE(listed, nullptr) << "a broken group vanished from the summary before destroy_group";
  EXPECT_TRUE(starts_with(listed->state, "broken")) << listed->state;

  coll::destroy_group(group);
  EXPECT_FALSE(coll::group_exists(group));
  members[2] = manta::actor(Member::create).on_rank(ranks[2]).remote(2);
  coll::create_group(group, members);
  std::vector<manta::ObjectRef<std::vector<int>>> sums;
  for (auto& m : members) sums.push_back(m.task(&Member::rank_sum).remote(group));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(value(sums[i]), (std::vector<int>{6, i, 3})) << member_label(i) << " after remaking";
  }
  coll::destroy_group(group);
  for (auto& m : members) m.kill();
}

TEST(CollectiveFailure, RestartedMemberFailsTheOthersAndJoinsTheGroupMadeAgain) {
  const auto ranks = ranks_mod_world(3);
  std::vector<manta::ActorHandle<Member>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(manta::actor(Member::create).max_restarts(1).on_rank(ranks[i]).remote(i));
  }
  const std::string group = fresh_group_name("restarted");
  coll::create_group(group, members);
  {
    std::vector<manta::ObjectRef<std::vector<int>>> sums;
    for (auto& m : members) sums.push_back(m.task(&Member::rank_sum).remote(group));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(value(sums[i]), (std::vector<int>{6, i, 3}));
  }

  ASSERT_NO_FATAL_FAILURE(expect_waiters_see_death(members, group, ranks,
                                                   [&] { members[2].kill(/*no_restart=*/false); }));
  ASSERT_TRUE(eventually([&] { return value(members[2].task(&Member::restarted).remote()); }))
      << "member 2 was not rebuilt";

  coll::destroy_group(group);
  coll::create_group(group, members);  // the same handles, member 2 restarted
  std::vector<manta::ObjectRef<std::vector<int>>> sums;
  for (auto& m : members) sums.push_back(m.task(&Member::rank_sum).remote(group));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(value(sums[i]), (std::vector<int>{6, i, 3})) << member_label(i) << " after remaking";
  }
  EXPECT_EQ(value(members[2].task(&Member::placement).remote(group)),
            (std::vector<int>{2, 3, ranks[2]}));
  coll::destroy_group(group);
  for (auto& m : members) m.kill();
}

// A member that never calls: the one that does fails with CollectiveError once
// --manta-collective-timeout (20 s in this job) has passed, not before and not much later; the
// group, broken by it, can be made again.
TEST(CollectiveFailure, CallWithoutItsPeerTimesOut) {
  auto caller = manta::actor(Member::create).on_rank(last_rank()).remote(0);
  auto absent = manta::actor(Member::create).on_rank(0).remote(1);
  const std::string group = fresh_group_name("lonely");
  coll::create_group(group, std::vector{caller, absent});
  const auto t0 = Clock::now();
  const std::string o = value(caller.task(&Member::barrier_on).remote(group));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  EXPECT_TRUE(starts_with(o, "CollectiveError: ")) << o;
  EXPECT_NE(o.find(group), std::string::npos) << "the error does not name the group: " << o;
  EXPECT_GE(took, 19s) << "gave up before the timeout: " << o;
  EXPECT_LT(took, 35s) << "waited far past the timeout: " << o;

  coll::destroy_group(group);
  coll::create_group(group, std::vector{caller, absent});
  auto s0 = caller.task(&Member::rank_sum).remote(group);
  auto s1 = absent.task(&Member::rank_sum).remote(group);
  EXPECT_EQ(value(s0), (std::vector<int>{3, 0, 2}));
  EXPECT_EQ(value(s1), (std::vector<int>{3, 1, 2}));
  coll::destroy_group(group);
  caller.kill();
  absent.kill();
}

// ---- two groups over the same actors ---------------------------------------------------------

TEST(CollectiveGroups, TwoGroupsOverTheSameActorsUsedAlternately) {
  const auto ranks = ranks_mod_world(3);
  std::vector<manta::ActorHandle<Member>> actors;
  for (int i = 0; i < 3; ++i)
    actors.push_back(manta::actor(Member::create).on_rank(ranks[i]).remote(i));
  const std::string g1 = fresh_group_name("forward");
  const std::string g2 = fresh_group_name("rotated");
  // In g2 the order is {actor 2, actor 0, actor 1}: each actor has another rank there.
  const std::vector<int> order2 = {2, 0, 1};
  coll::create_group(g1, actors);
  coll::create_group(g2, std::vector{actors[2], actors[0], actors[1]});
  constexpr int kRounds = 6;
  std::vector<manta::ObjectRef<std::vector<std::vector<int>>>> refs;
  for (auto& a : actors) refs.push_back(a.task(&Member::alternate).remote(g1, g2, kRounds));
  for (int i = 0; i < 3; ++i) {
    const auto got = value(refs[i]);
    ASSERT_EQ(got.size(), 3u * kRounds) << "actor " << i;
    const int rank2 = static_cast<int>(std::find(order2.begin(), order2.end(), i) - order2.begin());
    for (int r = 0; r < kRounds; ++r) {
      EXPECT_EQ(got[3 * r], folded<int>(ReduceOp::sum, r, 3, 33))
          << "actor " << i << ", round " << r << ": allreduce in the first group";
      EXPECT_EQ(got[3 * r + 1], inputs<int>(ReduceOp::sum, 50 + r, r % 3, 33))
          << "actor " << i << ", round " << r << ": broadcast in the second group";
      EXPECT_EQ(got[3 * r + 2], (std::vector<int>{i, rank2})) << "actor " << i << ": its ranks";
    }
  }
  coll::destroy_group(g1);
  coll::destroy_group(g2);
  for (auto& a : actors) a.kill();
}

// ---- misuse ----------------------------------------------------------------------------------

TEST(CollectiveMisuse, BadGroupsAreRefused) {
  std::vector<manta::ActorHandle<Member>> actors;
  for (int i = 0; i < 3; ++i)
    actors.push_back(manta::actor(Member::create).on_rank(i % manta::world_size()).remote(i));
  const std::string group = fresh_group_name("taken");
  coll::create_group(group, std::vector{actors[0], actors[1]});
  EXPECT_TRUE(coll::group_exists(group));

  try {
    coll::create_group(group, std::vector{actors[2]});
    ADD_FAILURE() << "a second group took the name " << group;
  } catch (const manta::CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find(group), std::string::npos) << e.what();
  }
  // The first group is untouched.
  auto s0 = actors[0].task(&Member::rank_sum).remote(group);
  auto s1 = actors[1].task(&Member::rank_sum).remote(group);
  EXPECT_EQ(value(s0), (std::vector<int>{3, 0, 2}));
  EXPECT_EQ(value(s1), (std::vector<int>{3, 1, 2}));

  const std::string empty = fresh_group_name("empty");
  EXPECT_THROW(coll::create_group(empty, std::vector<manta::ActorHandle<Member>>{}),
               manta::CollectiveError);
  EXPECT_FALSE(coll::group_exists(empty));

  const std::string twice = fresh_group_name("twice");
  EXPECT_THROW(coll::create_group(twice, std::vector{actors[0], actors[1], actors[0]}),
               manta::CollectiveError);
  EXPECT_FALSE(coll::group_exists(twice));

  auto dead = manta::actor(Member::create).on_rank(last_rank()).remote(7);
  EXPECT_EQ(value(dead.task(&Member::where).remote()), last_rank());
  dead.kill();
  EXPECT_THROW(manta::get(dead.task(&Member::where).remote(), kLimit), manta::ActorDiedError);
  ASSERT_TRUE(eventually([&] {
    return value(manta::task(is_dead).on_rank(last_rank()).remote(dead));
  })) << "the killed actor still answers calls from rank "
      << last_rank();
  const std::string with_dead = fresh_group_name("with-dead");
  try {
    coll::create_group(with_dead, std::vector{actors[2], dead});
    ADD_FAILURE() << "a group was made with a dead member";
  } catch (const manta::ActorDiedError& e) {
    EXPECT_TRUE(names_actor(e.what(), dead.id())) << e.what();
  }
  EXPECT_FALSE(coll::group_exists(with_dead));

  coll::destroy_group(group);
  for (auto& a : actors) a.kill();
}

TEST(CollectiveMisuse, CallsFromOutsideTheGroupFail) {
  auto a = manta::actor(Member::create).on_rank(0).remote(0);
  auto b = manta::actor(Member::create).on_rank(last_rank()).remote(1);
  auto outsider = manta::actor(Member::create).on_rank(last_rank()).remote(2);
  const std::string group = fresh_group_name("closed");
  coll::create_group(group, std::vector{a, b});

  // The driver is no actor.
  EXPECT_THROW(coll::barrier(group), manta::CollectiveError);
  std::vector<int> v(4, 1);
  EXPECT_THROW(coll::allreduce(group, v), manta::CollectiveError);
  // Nor is a plain task.
  const std::string from_task =
      value(manta::task(barrier_from_task).on_rank(last_rank()).remote(group));
  EXPECT_TRUE(starts_with(from_task, "CollectiveError: ")) << from_task;
  // An actor that is not a member.
  const std::string from_outsider = value(outsider.task(&Member::barrier_on).remote(group));
  EXPECT_TRUE(starts_with(from_outsider, "CollectiveError: ")) << from_outsider;
  // A member, on a group that does not exist.
  const std::string no_group =
      value(a.task(&Member::barrier_on).remote(std::string("no-such-group")));
  EXPECT_TRUE(starts_with(no_group, "CollectiveError: ")) << no_group;
  // None of that disturbed the group.
  auto sa = a.task(&Member::rank_sum).remote(group);
  auto sb = b.task(&Member::rank_sum).remote(group);
  EXPECT_EQ(value(sa), (std::vector<int>{3, 0, 2}));
  EXPECT_EQ(value(sb), (std::vector<int>{3, 1, 2}));

  // Destroyed: gone for every rank, and its members' calls fail.
  EXPECT_TRUE(value(manta::task(exists_here).on_rank(last_rank()).remote(group)));
  coll::destroy_group(group);
  EXPECT_FALSE(coll::group_exists(group));
  EXPECT_TRUE(eventually([&] {
    return !value(manta::task(exists_here).on_rank(last_rank()).remote(group));
  })) << "rank "
      << last_rank() << " still sees the destroyed group";
  const std::string after = value(a.task(&Member::barrier_on).remote(group));
  EXPECT_TRUE(starts_with(after, "CollectiveError: ")) << after;
  for (auto& h : {a, b, outsider}) h.kill();
}

// ---- visibility ------------------------------------------------------------------------------

TEST(CollectiveSummary, MemorySummaryListsLiveGroups) {
  const Layout& layout = kLayouts[5];  // ranks {last, 0, last}
  std::string name;
  std::vector<std::string> ids;
  std::vector<int> ranks;
  {
    MemberGroup g(layout, "listed");
    name = g.name;
    for (int i = 0; i < g.size(); ++i) {
      ids.push_back(g.handles[i].id().to_string());
      ranks.push_back(g.rank_of(i));
    }
    const auto summary = manta::memory_summary();
    const auto* listed = find_group(summary, g.name);
    ASSERT_NE(listed, nullptr) << "group " << g.name << " is not in the summary";
    EXPECT_EQ(listed->members, ids);
    EXPECT_EQ(listed->ranks, ranks);
    EXPECT_EQ(listed->state, "ready");
  }
  const auto after = manta::memory_summary();
  EXPECT_EQ(find_group(after, name), nullptr) << "destroyed group " << name << " is still listed";
}

}  // namespace
