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
//   ./manta_control_plane_sim [--quick] [--json out.json]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/lease_granter.h"
#include "engine/lease_set.h"
#include "engine/messages.h"
#include "engine/object_store.h"
#include "engine/outbox.h"
#include "engine/rank_context.h"

namespace {

using manta::engine::Lease;
using manta::engine::LeaseClock;
using manta::engine::LeaseSet;
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
  double heavy = 0.1;        // fraction of ranks that submit
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
  double mean_queue = 0;  // tasks waiting per rank, sampled each report interval
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
  std::uint64_t placed_by_rank0 = 0, reported_queue = ~0ull, reported_running = ~0ull;
  std::uint64_t to_submit = 0;  // burst tasks not submitted yet
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
  int rank;                                       // where it happens
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
        global_(totals_, 10000, {}),
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
    submitters_ = std::max(1, static_cast<int>(s.heavy * (s.ranks - 1)));
  }

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
    push(s_.report_s, Kind::tick, 0);
    std::uint64_t queue_samples = 0;
    double queue_sum = 0;
    // A guard against a model that never drains: a minute of simulated time at most.
    while (!events_.empty() && now_ < 60.0) {
      Event e = events_.top();
      events_.pop();
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
          for (const Rank& r : ranks_) queue_sum += static_cast<double>(r.queue.size());
          queue_samples += ranks_.size();
          tick();
          if (busy()) push(now_ + s_.report_s, Kind::tick, 0);
          break;
        }
      }
    }
    r_.mean_queue = queue_samples ? queue_sum / static_cast<double>(queue_samples) : 0;
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
  [[nodiscard]] bool busy() const { return pending_tasks_ > 0 || !events_.empty(); }

  void push(double t, Kind k, int rank, Task task = {},
            std::shared_ptr<std::vector<std::byte>> bytes = nullptr) {
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

  void tick() {
    const LeaseClock::time_point now = clock_at(now_);
    const auto idle = std::chrono::duration_cast<LeaseClock::duration>(
        std::chrono::duration<double>(10 * s_.report_s));
    for (int k = 1; k < s_.ranks; ++k) {
      Rank& r = at(k);
      // Load reports, only when something changed (as Runtime::report_load).
      if (r.queue.size() != r.reported_queue ||
          static_cast<std::uint64_t>(r.running) != r.reported_running) {
        r.reported_queue = r.queue.size();
        r.reported_running = static_cast<std::uint64_t>(r.running);
        const std::uint64_t waiting = r.queue.size();
        const ResourceSet free = ResourceSet::cpus(std::max(0, s_.cpus - r.running));
        const std::uint64_t placed = r.placed_by_rank0;
        send_to_rank0(k, [&](WireWriter& w) {
          w.put(MessageType::load_report).put(waiting).put(placed);
          manta::engine::write_resources(w, free);
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
    if (s_.leases) run_rank0(-1, {}, [&] { granter_.tick(); });
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
        at(*target).placed_by_rank0++;
        push(rank0_free_ + s_.latency_s, Kind::leased_task, *target, Task{owner, 0});
      }
      return;
    }
    run_rank0(from, bytes, [&] { dispatcher_.dispatch(from, bytes); });
  }

  // Runs rank 0's work for a message that arrived now: it starts when rank 0 is free, takes the
  // handler's measured time, and what it sends leaves when it ends.
  template <class Work>
  void run_rank0(int from, std::span<const std::byte>, Work&& work) {
    const double begin = std::max(now_, rank0_free_);
    if (from >= 0) {
      wait_sum_ += begin - now_;
      r_.max_wait_s = std::max(r_.max_wait_s, begin - now_);
      ++waits_;
    }
    out_.sent.clear();
    const auto t0 = std::chrono::steady_clock::now();
    work();
    const double cost =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r_.rank0_busy_s += cost;
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
  std::uint64_t seq_ = 0, threshold_ = 0, pending_tasks_ = 0, waits_ = 0;
  int submitters_ = 1;
  double now_ = 0, rank0_free_ = 0, wait_sum_ = 0, last_finish_ = 0;
  Result r_;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  nlohmann::json rows = nlohmann::json::array();
  std::printf("%-8s %-7s %-22s %10s %12s %12s %9s %11s %11s %10s %9s\n", "ranks", "leases", "load",
              "tasks", "to rank 0/s", "decisions/s", "rank 0 %", "wait max", "queue/rank",
              "per task", "saturates");
  auto report = [&](const Settings& s, const std::string& load, const Result& r) {
    const double span = std::max(r.sim_seconds, 1e-9);
    const double util = r.rank0_busy_s / span;
    // Rank 0 runs out of time where its busy share reaches 1: the load scaled by 1/util.
    const double saturates = s.load > 0 && util > 0 ? s.load / util : 0;
    std::printf("%-8d %-7s %-22s %10llu %12.0f %12.0f %8.1f%% %9.2fms %11.1f %10.4f %9s\n", s.ranks,
                s.leases ? "on" : "off", load.c_str(), static_cast<unsigned long long>(r.tasks),
                static_cast<double>(r.to_rank0) / span, static_cast<double>(r.decisions) / span,
                100 * util, 1e3 * r.max_wait_s, r.mean_queue,
                r.tasks ? static_cast<double>(r.to_rank0) / static_cast<double>(r.tasks) : 0,
                saturates > 0 ? fmt::format("{:.2g}/s", saturates).c_str() : "-");
    rows.push_back({{"ranks", s.ranks},
                    {"leases", s.leases},
                    {"load", load},
                    {"tasks", r.tasks},
                    {"simulated_s", r.sim_seconds},
                    {"messages_to_rank0_per_s", static_cast<double>(r.to_rank0) / span},
                    {"messages_to_rank0_per_task",
                     r.tasks ? static_cast<double>(r.to_rank0) / static_cast<double>(r.tasks) : 0},
                    {"decisions_per_s", static_cast<double>(r.decisions) / span},
                    {"rank0_busy_fraction", util},
                    {"rank0_wait_max_s", r.max_wait_s},
                    {"rank0_wait_mean_s", r.mean_wait_s},
                    {"queue_per_rank", r.mean_queue},
                    {"leased", r.leased},
                    {"refused", r.refused},
                    {"forwarded", r.forwarded},
                    {"burst_placed_s", r.placed_s},
                    {"saturating_load_tasks_per_s", saturates}});
  };
  std::vector<int> sizes = {1000, 10000};
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--ranks")) sizes = {std::atoi(argv[i + 1])};
  }
  for (int ranks : sizes) {
    for (bool leases : {true, false}) {
      Settings s;
      s.ranks = ranks;
      s.leases = leases;
      s.load = 1e6;
      s.duration_s = quick ? 0.2 : 1.0;
      report(s, "steady 1M tasks/s", Sim(s).run());
      std::fflush(stdout);
      Settings b = s;
      b.load = 0;
      b.burst = quick ? 200000 : 1000000;
      const Result r = Sim(b).run();
      report(b, fmt::format("burst {} (placed {:.2f}s)", b.burst, r.placed_s), r);
    }
  }
  if (!json_path.empty()) {
    std::ofstream(json_path)
        << nlohmann::json{{"benchmark", "control plane simulator"}, {"rows", rows}}.dump(2) << "\n";
  }
  std::printf(
      "%s\n",
      nlohmann::json{{"benchmark", "control plane simulator"}, {"rows", rows}}.dump().c_str());
  return 0;
}
