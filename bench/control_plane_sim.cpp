// The control plane at 1,000 and 10,000 ranks, in one process: rank 0's real global scheduler
// and lease granter, fed through a Dispatcher and answering through an Outbox, against
// simulated ranks that submit, queue, run and report as Manta's ranks do (local queue up to the
// forwarding threshold, then leases, or with --leases off one forwarded message per task).
//
// Time is simulated; rank 0's work is not: every message into rank 0 runs the engine's real
// handler, its measured CPU time occupies rank 0 (a single server: later messages queue behind
// it), and what rank 0 sends leaves when the handler is done. So the figures are rank 0's
// message rate and decision rate, how busy it is, how long messages wait for it, and where it
// saturates, for a steady load and for a burst.
//
// The simulated ranks report their load with the runtime's LoadReportPolicy (spaced so that all
// ranks together stay within --budget reports a second, sent on significant changes), each
// rank on its own phase of the report interval as independent processes would be.
// The submitters are few enough that each is offered well past what it runs itself (2.5 times
// by default), so their queues pass the forwarding threshold and the leases (or, with leases
// off, rank 0's placements) are really used; --heavy F makes a fraction F of the ranks submit.
//   ./manta_control_plane_sim [--quick] [--ranks N] [--leases on|off] [--heavy F] [--budget N]
//                             [--old-reports] [--sweep] [--json out.json]
// --old-reports: every rank reports each interval its load changed (before LoadReportPolicy).
// --sweep: also raise (or lower) the steady load by factors of 2 to find where rank 0 saturates.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <time.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control_plane_sim_options.h"
#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/lease_granter.h"
#include "engine/lease_set.h"
#include "engine/load_report_policy.h"
#include "engine/messages.h"
#include "engine/object_store.h"
#include "engine/outbox.h"
#include "engine/rank_context.h"

namespace {

using manta::engine::Lease;
using manta::engine::LeaseClock;
using manta::engine::LeaseSet;
using manta::engine::LoadReportPolicy;
using manta::engine::LoadSnapshot;
using manta::engine::MessageType;
using manta::engine::ResourceSet;
using manta::transport::WireReader;
using manta::transport::WireWriter;

struct Settings {
  int ranks = 1000;
  int cpus = 4;              // per rank
  double task_s = 1e-3;      // each task runs this long
  double latency_s = 10e-6;  // one message, rank to rank
  double report_s = 20e-3;   // load reports and lease ticks
  int submitters = 100;      // ranks 1..submitters submit all the work
  double budget = 50000;     // --manta-report-budget
  bool old_reports = false;  // report every change each interval (no LoadReportPolicy)
  bool leases = true;
  double load = 1e6;        // tasks/s in all, steady; 0: a burst
  std::uint64_t burst = 0;  // tasks submitted at time 0 (split over the submitters)
  double duration_s = 1.0;  // how long a steady load runs
  int depth = 16;           // --manta-lease-depth
  double term_s = 2.0;      // --manta-lease-term-ms
};

struct Result {
  double sim_seconds = 0;  // simulated time until the last task was placed (or the run end)
  std::uint64_t tasks = 0;
  std::uint64_t to_rank0 = 0;   // messages into rank 0
  std::uint64_t decisions = 0;  // leases granted, renewed, given back; tasks placed by rank 0
  double rank0_busy_s = 0;      // CPU time of rank 0's handlers
  double max_wait_s = 0;        // longest a message waited for rank 0
  double mean_wait_s = 0;
  double mean_queue = 0;        // tasks waiting per rank, sampled each report interval
  std::uint64_t max_queue = 0;  // the longest any rank's task queue got
  double rank0_queue_mean = 0;  // messages waiting for rank 0, as each new one arrives
  std::uint64_t rank0_queue_max = 0;
  std::uint64_t reports = 0;  // load reports among the messages into rank 0
  // Per message type: how many rank 0 handled and its CPU time on them.
  std::map<std::string, std::pair<std::uint64_t, double>> by_type;
  bool fell_behind = false;  // stopped early: rank 0 was kBehindS behind its messages
  double wall_s = 0;         // how long the simulation itself took
  std::uint64_t leased = 0, refused = 0, forwarded = 0;
  double placed_s = 0;  // burst: when the last task was placed (started, queued or sent on)
};

// Rank 0's sends, captured while one of its handlers runs.
class CaptureOutbox final : public manta::engine::Outbox {
 public:
  void post(int dest, std::span<const std::byte> message) override {
    sent.emplace_back(dest, std::vector<std::byte>(message.begin(), message.end()));
  }
  std::vector<std::pair<int, std::vector<std::byte>>> sent;
};

struct Task {
  int owner = 0;
  std::uint64_t lease = 0;  // 0: the owner's own queue
};

struct Rank {
  int running = 0;
  std::deque<Task> queue;
  std::unique_ptr<LeaseSet> leases;
  std::unique_ptr<LoadReportPolicy> reports;
  LoadSnapshot reported;  // --old-reports: the last load sent
  bool ever_reported = false;
  std::uint64_t placed_by_rank0 = 0;  // rank 0's placements received
  std::uint64_t to_submit = 0;        // burst tasks not submitted yet
};

enum class Kind : std::uint8_t {
  arrive,
  finish,
  leased_task,
  result,
  refused,
  to_rank0,
  from_rank0,
  tick
};

struct Event {
  double t;
  std::uint64_t seq;
  Kind kind;
  int rank;                                       // where it happens (tick: the phase group)
  Task task;                                      // arrive, leased_task, result, refused
  std::shared_ptr<std::vector<std::byte>> bytes;  // to_rank0, from_rank0
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

class Sim {
 public:
  explicit Sim(Settings s)
      : s_(s),
        config_(make_config(s)),
        store_(0),
        ctx_(0, s.ranks, config_, store_, out_),
        totals_(static_cast<std::size_t>(s.ranks), cpus_with_slots(s.cpus)),
        // Rank 0's own queue and free CPUs, as the runtime's callback gives them: without them
        // rank 0 would look idle forever and take every task it places.
        global_(totals_, 10000,
                [this](manta::engine::RankLoad& l) {
                  l.queued = ranks_[0].queue.size();
                  l.available = ResourceSet::cpus(std::max(0, s_.cpus - ranks_[0].running));
                }),
        granter_(ctx_, totals_, lease_settings(s), global_) {
    global_.register_handlers(dispatcher_);
    granter_.register_handlers(dispatcher_);
    granter_.set_clock([this] { return clock_at(now_); });
    ranks_.resize(static_cast<std::size_t>(s.ranks));
    for (auto& r : ranks_) {
      r.leases = std::make_unique<LeaseSet>(std::chrono::duration_cast<LeaseClock::duration>(
          std::chrono::duration<double>(s.term_s)));
    }
    threshold_ = 4ull * static_cast<std::uint64_t>(s.cpus);
    manta::engine::LoadReportSettings rs;
    rs.ranks = s.ranks;
    rs.tick = std::chrono::duration_cast<manta::engine::ReportClock::duration>(
        std::chrono::duration<double>(s.report_s));
    rs.budget = s.budget;
    rs.forward_threshold = threshold_;
    rs.cpus = s.cpus;
    rs.total = ResourceSet::cpus(s.cpus);
    for (auto& r : ranks_) r.reports = std::make_unique<LoadReportPolicy>(rs);
    spacing_s_ = std::chrono::duration<double>(ranks_[0].reports->spacing()).count();
    submitters_ = std::clamp(s.submitters, 1, s.ranks - 1);
  }

  [[nodiscard]] double report_spacing_s() const { return spacing_s_; }

  Result run() {
    std::mt19937_64 rng(7);
    if (s_.burst > 0) {
      for (int i = 0; i < submitters_; ++i) {
        ranks_[static_cast<std::size_t>(1 + i)].to_submit =
            s_.burst / submitters_ +
            (static_cast<std::uint64_t>(i) < s_.burst % submitters_ ? 1 : 0);
        push(0, Kind::arrive, 1 + i);
      }
    } else {
      // Each submitter gets its share of the load as a Poisson stream.
      const double rate = s_.load / submitters_;
      std::exponential_distribution<double> gap(rate);
      for (int i = 0; i < submitters_; ++i) {
        for (double t = gap(rng); t < s_.duration_s; t += gap(rng)) push(t, Kind::arrive, 1 + i);
      }
    }
    // Ranks tick on their own phases (as separate processes do), in kPhases groups.
    for (int g = 0; g < kPhases; ++g)
      push(s_.report_s * (1.0 + g / double(kPhases)), Kind::tick, g);
    std::uint64_t queue_samples = 0;
    double queue_sum = 0;
    const auto wall0 = std::chrono::steady_clock::now();
    // A guard against a model that never drains: a minute of simulated time at most.
    // And one against a saturated rank 0, whose handlers would otherwise run for every message
    // however far behind it is: the run stops once rank 0 is kBehindS behind.
    while (!events_.empty() && now_ < 60.0) {
      if (rank0_free_ - now_ > kBehindS) {
        r_.fell_behind = true;
        last_finish_ = std::max(last_finish_, now_);
        break;
      }
      Event e = events_.top();
      events_.pop();
      if (e.kind != Kind::tick) --other_events_;
      now_ = e.t;
      switch (e.kind) {
        case Kind::arrive:
          arrive(e.rank);
          break;
        case Kind::finish:
          finish(e.rank, e.task);
          break;
        case Kind::leased_task:
          leased_task(e.rank, e.task);
          break;
        case Kind::result:
          result(e.rank, e.task);
          break;
        case Kind::refused:
          refused(e.rank, e.task);
          break;
        case Kind::to_rank0:
          rank0(e.rank, *e.bytes);
          break;
        case Kind::from_rank0:
          from_rank0(e.rank, *e.bytes);
          break;
        case Kind::tick: {
          for (int k = 1 + e.rank; k < s_.ranks; k += kPhases) {
            const std::size_t q = at(k).queue.size();
            queue_sum += static_cast<double>(q);
            r_.max_queue = std::max<std::uint64_t>(r_.max_queue, q);
            ++queue_samples;
          }
          tick(e.rank);
          if (busy()) push(now_ + s_.report_s, Kind::tick, e.rank);
          break;
        }
      }
    }
    r_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    r_.mean_queue = queue_samples ? queue_sum / static_cast<double>(queue_samples) : 0;
    r_.rank0_queue_mean = waits_ ? rank0_queue_sum_ / static_cast<double>(waits_) : 0;
    r_.mean_wait_s = waits_ ? wait_sum_ / static_cast<double>(waits_) : 0;
    r_.sim_seconds = last_finish_;
    r_.decisions += granter_.stats().granted + granter_.stats().renewed + granter_.stats().returned;
    return r_;
  }

 private:
  static manta::engine::Config make_config(const Settings& s) {
    manta::engine::Config c;
    c.lease_depth = s.depth;
    c.lease_term_ms = static_cast<int>(s.term_s * 1000);
    return c;
  }
  static ResourceSet cpus_with_slots(int cpus) { return ResourceSet::cpus(cpus); }
  static manta::engine::LeaseSettings lease_settings(const Settings& s) {
    manta::engine::LeaseSettings l;
    l.oversubscribe = s.depth;
    l.term =
        std::chrono::duration_cast<LeaseClock::duration>(std::chrono::duration<double>(s.term_s));
    return l;
  }
  static LeaseClock::time_point clock_at(double t) {
    return LeaseClock::time_point{} + std::chrono::hours(1) +
           std::chrono::duration_cast<LeaseClock::duration>(std::chrono::duration<double>(t));
  }
  [[nodiscard]] bool busy() const { return pending_tasks_ > 0 || other_events_ > 0; }

  void push(double t, Kind k, int rank, Task task = {},
            std::shared_ptr<std::vector<std::byte>> bytes = nullptr) {
    if (k != Kind::tick) ++other_events_;
    events_.push(Event{t, seq_++, k, rank, task, std::move(bytes)});
  }
  Rank& at(int r) { return ranks_[static_cast<std::size_t>(r)]; }

  // ---- a rank's own side ------------------------------------------------------------------

  void arrive(int k) {
    Rank& r = at(k);
    ++pending_tasks_;
    ++r_.tasks;
    if (r.to_submit > 0 && --r.to_submit > 0) push(now_, Kind::arrive, k);  // the burst goes on
    const Task own{k, 0};
    if (r.running < s_.cpus) {
      start(k, own);
    } else if (r.queue.size() < threshold_) {
      r.queue.push_back(own);
      placed();
    } else if (s_.leases) {
      if (!send_on_lease(k)) {
        r.queue.push_back(own);  // waits here for a slot
        want(k);
      }
    } else {
      ++r_.forwarded;
      send_to_rank0(k, [&](WireWriter& w) { w.put(MessageType::forward_task).put(k); });
    }
  }

  bool send_on_lease(int k) {
    auto use = at(k).leases->take(ResourceSet::cpus(1), clock_at(now_));
    if (!use) return false;
    ++r_.leased;
    push(now_ + s_.latency_s, Kind::leased_task, use->rank, Task{k, use->lease});
    return true;
  }

  void want(int k) {
    Rank& r = at(k);
    const std::uint32_t ask =
        r.leases->to_ask(ResourceSet::cpus(1), r.queue.size(), clock_at(now_), 4096);
    if (ask == 0) return;
    r.leases->asked(ResourceSet::cpus(1));
    send_to_rank0(k, [&](WireWriter& w) {
      w.put(MessageType::lease_request);
      manta::engine::write_resources(w, ResourceSet::cpus(1));
      w.put(ask);
    });
  }

  void start(int k, const Task& t) {
    ++at(k).running;
    if (t.owner == k && t.lease == 0) placed();
    push(now_ + s_.task_s, Kind::finish, k, t);
  }

  void placed() {
    if (s_.burst > 0) r_.placed_s = now_;
  }

  void finish(int k, const Task& t) {
    Rank& r = at(k);
    --r.running;
    --pending_tasks_;
    last_finish_ = now_;
    if (t.owner != k) push(now_ + s_.latency_s, Kind::result, t.owner, t);
    if (!r.queue.empty()) {
      const Task next = r.queue.front();
      r.queue.pop_front();
      start(k, next);
    }
  }

  void leased_task(int j, const Task& t) {
    Rank& r = at(j);
    // Only leased work may be handed back; rank 0's own placements stay.
    if (t.lease != 0 && r.queue.size() >= static_cast<std::size_t>(s_.depth * s_.cpus)) {
      ++r_.refused;
      push(now_ + s_.latency_s, Kind::refused, t.owner, t);
      return;
    }
    if (t.lease == 0) ++r.placed_by_rank0;
    placed();
    if (r.running < s_.cpus) {
      ++r.running;
      push(now_ + s_.task_s, Kind::finish, j, t);
    } else {
      r.queue.push_back(t);
    }
  }

  void pull_onto_leases(int k) {
    Rank& r = at(k);
    // Own tasks waiting past the threshold go out on free slots, newest first.
    while (r.queue.size() > threshold_ && r.queue.back().owner == k && r.queue.back().lease == 0) {
      if (!send_on_lease(k)) return;
      r.queue.pop_back();
    }
  }

  void result(int k, const Task& t) {
    if (t.lease == 0) return;
    at(k).leases->done(t.lease, clock_at(now_));
    pull_onto_leases(k);
  }

  void refused(int k, const Task& t) {
    Rank& r = at(k);
    r.leases->refused(t.lease, clock_at(now_));
    if (!send_on_lease(k)) r.queue.push_back(Task{k, 0});
  }

  // One phase group of ranks reaches its report interval.
  void tick(int group) {
    const LeaseClock::time_point now = clock_at(now_);
    const auto idle = std::chrono::duration_cast<LeaseClock::duration>(
        std::chrono::duration<double>(10 * s_.report_s));
    for (int k = 1 + group; k < s_.ranks; k += kPhases) {
      Rank& r = at(k);
      // Load reports as Runtime::report_load sends them.
      LoadSnapshot load;
      load.queued = r.queue.size();
      load.placed = r.placed_by_rank0;
      load.available = ResourceSet::cpus(std::max(0, s_.cpus - r.running));
      const bool send =
          s_.old_reports ? !r.ever_reported || !(load == r.reported) : r.reports->report(load, now);
      if (send) {
        r.reported = load;
        r.ever_reported = true;
        ++r_.reports;
        send_to_rank0(k, [&](WireWriter& w) {
          w.put(MessageType::load_report).put(load.queued).put(load.placed);
          manta::engine::write_resources(w, load.available);
        });
      }
      if (!s_.leases || r.leases->held() == 0) {
        if (s_.leases && r.queue.size() > threshold_) want(k);
        continue;
      }
      const auto renew = r.leases->to_renew(now);
      const auto back = r.leases->to_return(now, idle);
      auto ids = [&](MessageType type, const std::vector<std::uint64_t>& list) {
        if (list.empty()) return;
        send_to_rank0(k, [&](WireWriter& w) {
          w.put(type).put(static_cast<std::uint32_t>(list.size()));
          for (auto id : list) w.put(id);
        });
      };
      ids(MessageType::lease_renew, renew);
      ids(MessageType::lease_return, back);
      if (r.queue.size() > threshold_) want(k);
      pull_onto_leases(k);
    }
    if (s_.leases && group == 0) run_rank0(-1, {}, [&] { granter_.tick(); });
  }

  // ---- rank 0 -------------------------------------------------------------------------------

  template <class Fill>
  void send_to_rank0(int from, Fill&& fill) {
    auto bytes = std::make_shared<std::vector<std::byte>>();
    manta::Buffer b;
    WireWriter w(b);
    fill(w);
    bytes->assign(b.data(), b.data() + b.size());
    ++r_.to_rank0;
    push(now_ + s_.latency_s, Kind::to_rank0, from, {}, std::move(bytes));
  }

  void rank0(int from, const std::vector<std::byte>& bytes) {
    if (static_cast<MessageType>(bytes[0]) == MessageType::forward_task) {
      // --leases off: rank 0 places each task with its load view (the engine's decision).
      WireReader r(std::span<const std::byte>(bytes).subspan(1));
      const int owner = r.get<int>();
      std::optional<int> target;
      run_rank0(from, bytes, [&] { target = global_.place_task(ResourceSet::cpus(1), {}); });
      ++r_.decisions;
      if (target) {
        push(rank0_free_ + s_.latency_s, Kind::leased_task, *target, Task{owner, 0});
      }
      return;
    }
    run_rank0(from, bytes, [&] { dispatcher_.dispatch(from, bytes); });
  }

  // Runs rank 0's work for a message that arrived now: it starts when rank 0 is free, takes the
  // handler's measured time, and what it sends leaves when it ends.
  static const char* type_name(std::span<const std::byte> bytes) {
    if (bytes.empty()) return "tick";
    switch (static_cast<MessageType>(bytes[0])) {
      case MessageType::load_report:
        return "load_report";
      case MessageType::lease_request:
        return "lease_request";
      case MessageType::lease_renew:
        return "lease_renew";
      case MessageType::lease_return:
        return "lease_return";
      case MessageType::forward_task:
        return "forward_task";
      default:
        return "other";
    }
  }

  template <class Work>
  void run_rank0(int from, std::span<const std::byte> bytes, Work&& work) {
    const double begin = std::max(now_, rank0_free_);
    if (from >= 0) {
      wait_sum_ += begin - now_;
      r_.max_wait_s = std::max(r_.max_wait_s, begin - now_);
      ++waits_;
      // Messages that came before this one and have not started yet: rank 0's queue.
      while (!rank0_starts_.empty() && rank0_starts_.front() <= now_) rank0_starts_.pop_front();
      rank0_queue_sum_ += static_cast<double>(rank0_starts_.size());
      r_.rank0_queue_max = std::max<std::uint64_t>(r_.rank0_queue_max, rank0_starts_.size());
      if (begin > now_) rank0_starts_.push_back(begin);
    }
    out_.sent.clear();
    // This thread's CPU time, not the wall clock: other processes on the machine that runs the
    // simulation must not count as rank 0's work.
    const double t0 = thread_cpu_s();
    work();
    const double cost = thread_cpu_s() - t0;
    r_.rank0_busy_s += cost;
    auto& [count, spent] = r_.by_type[type_name(bytes)];
    ++count;
    spent += cost;
    rank0_free_ = begin + cost;
    for (auto& [dest, msg] : out_.sent) {
      push(rank0_free_ + s_.latency_s, Kind::from_rank0, dest, {},
           std::make_shared<std::vector<std::byte>>(std::move(msg)));
    }
    out_.sent.clear();
  }

  void from_rank0(int k, const std::vector<std::byte>& bytes) {
    WireReader r(std::span<const std::byte>(bytes).subspan(1));
    Rank& rank = at(k);
    const LeaseClock::time_point now = clock_at(now_);
    if (static_cast<MessageType>(bytes[0]) == MessageType::lease_grant) {
      const ResourceSet shape = manta::engine::read_resources(r);
      const bool answer = r.get<std::uint8_t>() != 0;
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        Lease l;
        l.id = r.get<std::uint64_t>();
        l.holder = k;
        l.rank = r.get<std::int32_t>();
        l.slots = r.get<std::uint32_t>();
        l.expires = now + std::chrono::microseconds(r.get<std::int64_t>());
        l.shape = shape;
        rank.leases->add(l);
      }
      if (n > 0 || !answer) rank.leases->answered(shape);
      pull_onto_leases(k);
    } else if (static_cast<MessageType>(bytes[0]) == MessageType::lease_renewed) {
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        const auto id = r.get<std::uint64_t>();
        rank.leases->renewed(id, now + std::chrono::microseconds(r.get<std::int64_t>()));
      }
    }
  }

  static double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }

  static constexpr int kPhases = 20;
  static constexpr double kBehindS = 5.0;
  Settings s_;
  manta::engine::Config config_;
  manta::engine::ObjectStore store_;
  CaptureOutbox out_;
  manta::engine::RankContext ctx_;
  std::vector<ResourceSet> totals_;
  manta::engine::GlobalScheduler global_;
  manta::engine::LeaseGranter granter_;
  manta::engine::Dispatcher dispatcher_;
  std::vector<Rank> ranks_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t seq_ = 0, threshold_ = 0, pending_tasks_ = 0, waits_ = 0, other_events_ = 0;
  int submitters_ = 1;
  double now_ = 0, rank0_free_ = 0, wait_sum_ = 0, last_finish_ = 0, spacing_s_ = 0;
  std::deque<double> rank0_starts_;  // when the messages waiting for rank 0 start
  double rank0_queue_sum_ = 0;
  Result r_;
};

// Rank 0's busy share; a run stopped with rank 0 behind counts the time rank 0 needs for what
// arrived.
double busy_share(const Result& r) {
  return r.rank0_busy_s / std::max({r.sim_seconds, r.fell_behind ? r.rank0_busy_s : 0, 1e-9});
}

// Rank 0 is saturated when its handlers take 90 % of the time or more: its queue then grows.
bool saturated(const Result& r) {
  return r.fell_behind || (r.sim_seconds > 0 && r.rank0_busy_s / r.sim_seconds >= 0.9);
}

}  // namespace

int main(int argc, char** argv) {
  const manta::bench::SimOptions o = manta::bench::parse_sim_options(argc, argv);
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json sweeps = nlohmann::json::array();
  std::printf("%-6s %-6s %-5s %-24s %9s %11s %10s %11s %8s %9s %15s %15s %8s %9s %7s\n", "ranks",
              "leases", "subm", "load", "tasks", "to rank 0/s", "reports/s", "decisions/s",
              "rank 0 %", "wait max", "r0 queue mean/max", "task queue mean/max", "per task",
              "saturates", "wall s");
  auto report = [&](const Settings& s, double spacing_s, const std::string& load, const Result& r) {
    // A run stopped with rank 0 behind counts the time rank 0 needs for what arrived.
    const double span = std::max({r.sim_seconds, r.fell_behind ? r.rank0_busy_s : 0, 1e-9});
    const double util = r.rank0_busy_s / span;
    // Extrapolated: rank 0 runs out of time where its busy share reaches 1.
    const double saturates = s.load > 0 && util > 0 ? s.load / util : 0;
    nlohmann::json by_type = nlohmann::json::object();
    double handled = 0;
    for (const auto& [type, cs] : r.by_type) {
      by_type[type] = {{"count", cs.first},
                       {"per_s", static_cast<double>(cs.first) / span},
                       {"cpu_s", cs.second},
                       {"cpu_per_message_us", cs.first ? 1e6 * cs.second / cs.first : 0}};
      if (type != "tick") handled += static_cast<double>(cs.first);
    }
    const double per_task =
        r.tasks ? static_cast<double>(r.to_rank0) / static_cast<double>(r.tasks) : 0;
    std::printf(
        "%-6d %-6s %-5d %-24s %9llu %11.0f %10.0f %11.0f %7.1f%% %7.1fms %7.1f/%-7llu %7.2f/%-7llu "
        "%8.4f %9s %7.1f\n",
        s.ranks, s.leases ? "on" : "off", s.submitters, load.c_str(),
        static_cast<unsigned long long>(r.tasks), static_cast<double>(r.to_rank0) / span,
        static_cast<double>(r.reports) / span, static_cast<double>(r.decisions) / span, 100 * util,
        1e3 * r.max_wait_s, r.rank0_queue_mean, static_cast<unsigned long long>(r.rank0_queue_max),
        r.mean_queue, static_cast<unsigned long long>(r.max_queue), per_task,
        saturates > 0 ? fmt::format("{:.2g}/s", saturates).c_str() : "-", r.wall_s);
    if (r.fell_behind) {
      std::printf("       stopped at %.2f s simulated: rank 0 was %.0f s behind its messages\n",
                  r.sim_seconds, 5.0);
    }
    std::fflush(stdout);
    rows.push_back(
        {{"ranks", s.ranks},
         {"leases", s.leases},
         {"load", load},
         {"offered_tasks_per_s", s.load},
         {"burst_tasks", s.burst},
         {"submitters", s.submitters},
         {"per_submitter_tasks_per_s", s.load / s.submitters},
         {"per_rank_capacity_tasks_per_s", s.cpus / s.task_s},
         {"cpus_per_rank", s.cpus},
         {"task_s", s.task_s},
         {"report_policy", s.old_reports ? "every change, each interval" : "LoadReportPolicy"},
         {"report_budget_per_s", s.budget},
         {"report_spacing_s", s.old_reports ? s.report_s : spacing_s},
         {"tasks", r.tasks},
         {"simulated_s", r.sim_seconds},
         {"wall_s", r.wall_s},
         {"messages_to_rank0_per_s", static_cast<double>(r.to_rank0) / span},
         {"load_reports_per_s", static_cast<double>(r.reports) / span},
         // Stopped runs: the rate messages came in at until the stop (what rank 0 was asked for).
         {"messages_arriving_per_s", r.fell_behind && s.load > 0 && r.sim_seconds > 0
                                         ? static_cast<double>(r.to_rank0) / r.sim_seconds
                                         : static_cast<double>(r.to_rank0) / span},
         {"messages_to_rank0_per_task", per_task},
         {"decisions_per_s", static_cast<double>(r.decisions) / span},
         {"rank0_busy_fraction", util},
         {"rank0_wait_max_s", r.max_wait_s},
         {"rank0_wait_mean_s", r.mean_wait_s},
         {"rank0_queue_mean", r.rank0_queue_mean},
         {"rank0_queue_max", r.rank0_queue_max},
         {"task_queue_per_rank_mean", r.mean_queue},
         {"task_queue_per_rank_max", r.max_queue},
         {"leased", r.leased},
         {"refused", r.refused},
         {"forwarded", r.forwarded},
         {"burst_placed_s", r.placed_s},
         {"stopped_rank0_behind", r.fell_behind},
         {"rank0_cpu_per_message_us", handled ? 1e6 * r.rank0_busy_s / handled : 0},
         {"rank0_by_message", by_type},
         {"saturating_load_extrapolated_tasks_per_s", saturates}});
  };
  for (int ranks : o.sizes) {
    for (bool leases : o.leases) {
      Settings s;
      s.ranks = ranks;
      s.leases = leases;
      s.load = 1e6;
      s.budget = o.budget;
      s.old_reports = o.old_reports;
      // Few enough submitters that each is offered 2.5 times what it runs itself: past the
      // forwarding threshold, so leases (or rank 0's placements) carry the rest.
      const double capacity = s.cpus / s.task_s;
      s.submitters = o.heavy > 0 ? static_cast<int>(o.heavy * (ranks - 1))
                                 : static_cast<int>(std::lround(s.load / (2.5 * capacity)));
      s.submitters = std::clamp(s.submitters, 1, ranks - 1);
      s.duration_s = o.quick ? 0.2 : 1.0;
      {
        Sim sim(s);
        const Result r = sim.run();
        report(s, sim.report_spacing_s(), "steady 1M tasks/s", r);
        if (o.sweep) {
          // Doubling (or halving) the steady load until rank 0 saturates (or, going up, until
          // the ranks themselves run out of room).
          nlohmann::json points = nlohmann::json::array();
          auto point = [&](double load, const Result& p) {
            const double util = p.rank0_busy_s / std::max(p.sim_seconds, 1e-9);
            points.push_back({{"offered_tasks_per_s", load},
                              {"rank0_busy_fraction", util},
                              {"messages_to_rank0_per_s",
                               static_cast<double>(p.to_rank0) / std::max(p.sim_seconds, 1e-9)},
                              {"rank0_wait_max_s", p.max_wait_s},
                              {"rank0_queue_max", p.rank0_queue_max},
                              {"simulated_s", p.sim_seconds},
                              {"wall_s", p.wall_s},
                              {"saturated", saturated(p)}});
          };
          point(s.load, r);
          auto try_load = [&](double load) {
            Settings w = s;
            w.load = load;
            w.duration_s = o.quick ? 0.1 : 0.2;
            const Result p = Sim(w).run();
            point(load, p);
            std::printf("  sweep %.3g tasks/s: rank 0 %.1f%%, wait max %.1f ms, %.1f s wall\n",
                        load, 100 * busy_share(p), 1e3 * p.max_wait_s, p.wall_s);
            std::fflush(stdout);
            return p;
          };
          const bool up = !saturated(r);
          const double limit = 0.8 * capacity * (ranks - 1);
          double below = up ? s.load : 0, above = up ? 0 : s.load;
          double below_util = up ? busy_share(r) : 0;
          for (double load = up ? 2 * s.load : s.load / 2;
               up ? load <= limit && load <= 3.2e7 : load >= 15625;
               load = up ? 2 * load : load / 2) {
            const Result p = try_load(load);
            if (saturated(p)) {
              above = load;
            } else {
              below = load;
              below_util = busy_share(p);
            }
            if (saturated(p) == up) break;
          }
          // Narrowed down to an eighth of the bracket's ratio.
          for (int step = 0; step < 3 && below > 0 && above > 0; ++step) {
            const double load = std::sqrt(below * above);
            const Result p = try_load(load);
            if (saturated(p)) {
              above = load;
            } else {
              below = load;
              below_util = busy_share(p);
            }
          }
          // Between the last load it kept up with and the first it did not; the estimate
          // extrapolates the former's busy share to 1.
          const double estimate =
              below > 0 && below_util > 0
                  ? (above > 0 ? std::min(above, below / below_util) : below / below_util)
                  : 0;
          std::printf("  rank 0 saturates: %s\n",
                      above > 0 ? fmt::format("between {:.3g} and {:.3g} tasks/s (about {:.2g})",
                                              below, above, estimate)
                                      .c_str()
                                : fmt::format("not below {:.3g} tasks/s, where the ranks are "
                                              "nearly full (extrapolated {:.2g})",
                                              below, estimate)
                                      .c_str());
          sweeps.push_back({{"ranks", ranks},
                            {"leases", leases},
                            {"submitters", s.submitters},
                            {"points", points},
                            {"kept_up_tasks_per_s", below},
                            {"saturated_tasks_per_s", above},
                            {"saturation_estimate_tasks_per_s", estimate}});
        }
      }
      Settings b = s;
      b.load = 0;
      b.burst = o.quick ? 200000 : 1000000;
      Sim burst(b);
      const Result r = burst.run();
      report(b, burst.report_spacing_s(),
             fmt::format("burst {} (placed {:.2f}s)", b.burst, r.placed_s), r);
    }
  }
  const nlohmann::json doc{
      {"benchmark", "control plane simulator"}, {"rows", rows}, {"saturation_sweeps", sweeps}};
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << doc.dump(2) << "\n";
    if (!out.flush()) {
      std::fprintf(stderr, "--json %s: writing failed (%s)\n", o.json_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  std::printf("%s\n", doc.dump().c_str());
  return 0;
}
