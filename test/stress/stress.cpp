// Stress test: for a set time, the driver mixes checked work over every rank: tasks with
// 1 KiB-8 MiB results, puts (here and on other ranks), gets across ranks, tasks that chain and
// check blocks, stateful actors whose answers a model predicts, actor kills and restarts (calls
// to a dead actor must fail with ActorDiedError, other actors must not notice), waits with
// duplicate refs and timeouts, on stores small enough to spill. Then every rank's store must be
// empty again. Every choice comes from one seed, printed at the start: --seed=N replays the same
// sequence of operations. --duration=SECONDS sets how long the mixed work runs.
//
//   mpirun -n 4 --oversubscribe stress_test --manta-object-store-memory=64M --manta-spill-dir=DIR
//
// Ends with one line of operations per second by kind and each rank's peak resident set.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

#include "work.h"

namespace {

using Clock = std::chrono::steady_clock;
using stress::Words;
using namespace std::chrono_literals;

// Every get and wait is bounded: a hang turns into a failure that says what it waited for.
constexpr auto kLimit = std::chrono::seconds(120);
// How long the stores may take to free everything after the last reference is dropped.
constexpr auto kSettleLimit = std::chrono::seconds(60);

// Bounds on what is alive at once: enough to overflow 64 MiB stores, little enough for 2 cores.
constexpr std::size_t kMaxBlocks = 96;
constexpr std::uint64_t kMaxBlockBytes = 384ull << 20;
constexpr std::size_t kMaxPendingChecks = 48;
constexpr std::size_t kMaxPendingCalls = 48;
constexpr std::size_t kMaxPendingPuts = 8;
constexpr std::size_t kMachines = 6;
constexpr std::size_t kMaxDeadMachines = 4;

/// A check that failed: what was expected and what came instead.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A byte count for people: "6144 B", "12.0 KiB", "3.4 MiB".
std::string size_text(std::uint64_t bytes) {
  char s[32];
  if (bytes < 1024) {
    std::snprintf(s, sizeof s, "%" PRIu64 " B", bytes);
  } else if (bytes < (1 << 20)) {
    std::snprintf(s, sizeof s, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(s, sizeof s, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return s;
}

/// A block the driver holds a reference to and knows the contents of.
struct Block {
  manta::ObjectRef<Words> ref;
  std::uint64_t seed = 0;
  std::uint64_t words = 0;
  std::string made;          // how it was made, for messages
  bool known_ready = false;  // the driver has seen it finished (its own put, or a get)
};

/// A task whose result must equal `expect`, or, for a planned failure, a TaskError naming it.
struct Check {
  manta::ObjectRef<std::uint64_t> ref;
  std::uint64_t expect = 0;
  std::string what;
  bool must_fail = false;
};

/// The driver's copy of one Machine actor.
struct MachineModel {
  manta::ActorHandle<stress::Machine> handle;
  int id = 0;
  std::uint64_t start = 0;
  std::uint64_t state = 0;
  int restarts_left = 0;
  bool dead = false;
  bool seen_death = false;  // a call made before the kill already failed: later ones must too
  std::string where;        // placement, for messages
};

/// An actor call and what it must return: a state (step, absorb) or a block (emit).
struct ActorCall {
  enum class Fate { must_answer, may_die, must_die };
  std::size_t machine = 0;
  manta::ObjectRef<std::uint64_t> value;
  manta::ObjectRef<std::vector<std::uint64_t>> block;
  std::uint64_t expect = 0;  // the state, or the seed of the emitted block
  std::uint64_t words = 0;
  Fate fate = Fate::must_answer;
  std::string what;
};

enum Kind { kTask, kPut, kGet, kWait, kActorCall, kActorCreate, kActorKill, kKinds };
constexpr const char* kKindNames[kKinds] = {
    "tasks", "puts", "gets", "waits", "actor_calls", "actor_creations", "actor_kills"};

class Stress {
 public:
  Stress(std::uint64_t seed, double seconds) : seed_(seed), seconds_(seconds), rng_(seed) {}

  void run() {
    world_ = manta::world_size();
    const auto capacity = manta::memory_summary(0).ranks.at(0).capacity_bytes;
    std::printf("stress: seed %" PRIu64 " (replay with --seed=%" PRIu64
                "), %.0f s of mixed work on %d ranks, stores of %s\n",
                seed_, seed_, seconds_, world_, size_text(capacity).c_str());
    std::fflush(stdout);
    tally_ = manta::actor(stress::Tally::create).on_rank(world_ - 1).remote();
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds_);
    auto next_report = start + 10s;
    while (Clock::now() < end) {
      one_operation();
      if (Clock::now() >= next_report) {
        progress(start);
        next_report += 10s;
      }
    }
    work_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
    drain();
    finish();
  }

  /// Where a failure happened: the operation, its number and the seed that replays it.
  [[nodiscard]] std::string context() const {
    return "op #" + std::to_string(op_) + " (" + doing_ + "), seed " + std::to_string(seed_) +
           " (replay with --seed=" + std::to_string(seed_) + ")";
  }

 private:
  // ---- choices ------------------------------------------------------------------------------

  std::uint64_t below(std::uint64_t n) { return n ? rng_() % n : 0; }
  bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
  int any_rank() { return static_cast<int>(below(static_cast<std::uint64_t>(world_))); }
  // 1 KiB to 8 MiB, spread evenly over the powers of two in between.
  std::uint64_t block_words() {
    const std::uint64_t low = 1024ull << below(13);
    return (low + below(low)) / sizeof(std::uint64_t);
  }
  std::uint64_t fresh_seed() { return rng_(); }

  template <class B>
  B placed(B builder, std::string& where) {
    if (chance(75)) {
      const int r = any_rank();
      where = "rank " + std::to_string(r);
      builder.on_rank(r);
    } else {
      where = "any rank";
    }
    return builder;
  }

  // ---- the mix ------------------------------------------------------------------------------

  void one_operation() {
    ++op_;
    keep_within_bounds();
    if (live_machines() < kMachines) return create_machine();
    const auto pick = below(100);
    if (pick < 16) return make_task();
    if (pick < 24) return put_here();
    if (pick < 28) return put_there();
    if (pick < 30) return planned_failure();
    if (blocks_.empty()) return make_task();
    if (pick < 42) return get_blocks();
    if (pick < 50) return check_task();
    if (pick < 54) return check_ref_task();
    if (pick < 60) return chain_task();
    if (pick < 72) return machine_call();
    if (pick < 75) return tally_add();
    if (pick < 85) return chance(70) ? wait_on_blocks() : wait_on_checks();
    if (pick < 87) return kill_machine();
    if (pick < 88) return call_dead_machine();
    if (pick < 89) return store_bounds();
    return drop_block();
  }

  void keep_within_bounds() {
    while (blocks_.size() > kMaxBlocks || block_bytes_ > kMaxBlockBytes) drop_block();
    while (checks_.size() > kMaxPendingChecks) resolve_check();
    while (calls_.size() > kMaxPendingCalls) resolve_call();
    while (puts_there_.size() > kMaxPendingPuts) resolve_put_there();
  }

  void add_block(Block b) {
    block_bytes_ += b.words * sizeof(std::uint64_t);
    blocks_.push_back(std::move(b));
  }

  void drop_block() {
    if (blocks_.empty()) return;
    const auto i = below(blocks_.size());
    block_bytes_ -= blocks_[i].words * sizeof(std::uint64_t);
    blocks_[i] = std::move(blocks_.back());
    blocks_.pop_back();
  }

  Block& some_block() { return blocks_[below(blocks_.size())]; }

  // ---- tasks and puts -----------------------------------------------------------------------

  void make_task() {
    doing_ = "task make_block";
    Block b{{}, fresh_seed(), block_words(), "", false};
    std::string where;
    b.ref = placed(manta::task(stress::make_block), where).remote(b.seed, b.words);
    b.made = "make_block on " + where;
    add_block(std::move(b));
    ++count_[kTask];
  }

  void put_here() {
    doing_ = "put";
    Block b{{}, fresh_seed(), block_words(), "put on rank 0", true};
    b.ref = manta::put(stress::make_words(b.seed, b.words));
    add_block(std::move(b));
    ++count_[kPut];
  }

  void put_there() {
    doing_ = "task put_block";
    PendingPut p{{}, fresh_seed(), block_words(), ""};
    std::string where;
    p.outer = placed(manta::task(stress::put_block), where).remote(p.seed, p.words);
    p.made = "put_block on " + where;
    puts_there_.push_back(std::move(p));
    ++count_[kTask];
    ++count_[kPut];
  }

  void planned_failure() {
    doing_ = "task fail_on_purpose";
    Check c;
    const std::uint64_t code = below(1000000);
    std::string where;
    c.ref = placed(manta::task(stress::fail_on_purpose), where).remote(code);
    c.what = "fail_on_purpose(" + std::to_string(code) + ") on " + where;
    c.expect = code;
    c.must_fail = true;
    checks_.push_back(std::move(c));
    ++count_[kTask];
  }

  void check_task() {
    doing_ = "task check_block";
    const Block& b = some_block();
    std::string where;
    Check c;
    c.ref = placed(manta::task(stress::check_block), where).remote(b.ref, b.seed, b.words);
    c.what = "check_block on " + where + " of a block from " + b.made;
    checks_.push_back(std::move(c));
    ++count_[kTask];
  }

  void check_ref_task() {
    // Only finished blocks: a task that blocks in get on work queued behind it on its own rank
    // is a scheduling question this test leaves to its own tests.
    doing_ = "task check_ref";
    std::vector<const Block*> ready;
    for (const auto& b : blocks_)
      if (b.known_ready) ready.push_back(&b);
    if (ready.empty()) return get_blocks();
    const Block& b = *ready[below(ready.size())];
    std::string where;
    Check c;
    c.ref = placed(manta::task(stress::check_ref), where).remote(b.ref, b.seed, b.words);
    c.what = "check_ref on " + where + " of a block from " + b.made;
    checks_.push_back(std::move(c));
    ++count_[kTask];
  }

  void chain_task() {
    doing_ = "task chain_block";
    const Block& in = some_block();
    Block b{{}, fresh_seed(), block_words(), "", false};
    std::string where;
    b.ref = placed(manta::task(stress::chain_block), where)
                .remote(in.ref, in.seed, in.words, b.seed, b.words);
    b.made = "chain_block on " + where + " from a block from " + in.made;
    add_block(std::move(b));
    ++count_[kTask];
  }

  // ---- gets ---------------------------------------------------------------------------------

  void verify(Block& b, const Words& w) {
    const auto bad = stress::count_bad(w, b.seed, b.words);
    if (bad != 0) {
      throw Failure("block of " + size_text(b.words * 8) + " from " + b.made + " has " +
                    std::to_string(bad) + " wrong words of " + std::to_string(b.words) + " (size " +
                    std::to_string(w.size()) + ")");
    }
    b.known_ready = true;
    bytes_verified_ += b.words * sizeof(std::uint64_t);
  }

  void get_blocks() {
    if (chance(70)) {
      doing_ = "get";
      Block& b = some_block();
      doing_ = "get of a block from " + b.made;
      verify(b, *manta::get(b.ref, kLimit));
      ++count_[kGet];
      return;
    }
    // Several at once, duplicates included, under one time limit.
    doing_ = "get of several blocks";
    std::vector<std::size_t> picked;
    std::vector<manta::ObjectRef<Words>> refs;
    for (std::uint64_t n = 1 + below(4); n-- > 0;) {
      picked.push_back(below(blocks_.size()));
      refs.push_back(blocks_[picked.back()].ref);
    }
    if (chance(50)) {
      picked.push_back(picked.front());
      refs.push_back(refs.front());
    }
    const auto values = manta::get(refs, kLimit);
    for (std::size_t i = 0; i < picked.size(); ++i) verify(blocks_[picked[i]], *values[i]);
    count_[kGet] += picked.size();
  }

  void resolve_put_there() {
    PendingPut p = std::move(puts_there_.front());
    puts_there_.pop_front();
    doing_ = "get of the reference from " + p.made;
    // The owner is the rank that put it; the driver now borrows it.
    Block b{*manta::get(p.outer, kLimit), p.seed, p.words, p.made, false};
    if (!b.ref.valid()) throw Failure(p.made + " returned an empty reference");
    add_block(std::move(b));
  }

  void resolve_check() {
    Check c = std::move(checks_.front());
    checks_.pop_front();
    doing_ = "result of " + c.what;
    if (c.must_fail) {
      try {
        const auto v = *manta::get(c.ref, kLimit);
        throw Failure(c.what + " returned " + std::to_string(v) + " instead of failing");
      } catch (const manta::TaskError& e) {
        const std::string want = "planned failure " + std::to_string(c.expect);
        if (e.cause().find(want) == std::string::npos) {
          throw Failure(c.what + " failed with the wrong cause: " + e.what());
        }
      }
      return;
    }
    const auto v = *manta::get(c.ref, kLimit);
    if (v != c.expect) {
      throw Failure(c.what + " returned " + std::to_string(v) + ", expected " +
                    std::to_string(c.expect));
    }
  }

  // ---- waits --------------------------------------------------------------------------------

  template <class T>
  void check_wait(const std::vector<manta::ObjectRef<T>>& refs, std::size_t num_returns,
                  std::chrono::milliseconds timeout, std::size_t known_ready) {
    const auto t0 = Clock::now();
    auto result = manta::wait(refs, num_returns, timeout);
    const auto took = Clock::now() - t0;
    ++count_[kWait];
    const std::size_t n = refs.size();
    const std::size_t want = std::min(num_returns, n);
    std::ostringstream what;
    what << "wait(" << n << " refs, " << num_returns << ", " << timeout.count() << " ms)";
    if (result.ready.size() + result.unready.size() != n) {
      throw Failure(what.str() + " returned " + std::to_string(result.ready.size()) + " + " +
                    std::to_string(result.unready.size()) + " refs");
    }
    if (result.ready.size() > want) {
      throw Failure(what.str() + " returned " + std::to_string(result.ready.size()) + " ready");
    }
    // Returned before the time was up: enough were ready.
    if (took < timeout && result.ready.size() < want) {
      throw Failure(
          what.str() + " returned after " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
          " ms with only " + std::to_string(result.ready.size()) + " ready");
    }
    if (timeout >= kLimit && result.ready.size() < want) {
      throw Failure(what.str() + " timed out: only " + std::to_string(result.ready.size()) +
                    " of " + std::to_string(want) + " ready after " +
                    std::to_string(kLimit.count()) + " s");
    }
    // What the driver already saw finished counts as ready at once.
    if (result.ready.size() < std::min(want, known_ready)) {
      throw Failure(what.str() + " found " + std::to_string(result.ready.size()) + " ready, but " +
                    std::to_string(known_ready) + " were known to be finished");
    }
    // Both lists keep the order of `refs`, and together they are `refs` (duplicates included).
    auto is_subsequence = [&](const std::vector<manta::ObjectRef<T>>& part) {
      std::size_t j = 0;
      for (std::size_t i = 0; i < n && j < part.size(); ++i) j += refs[i] == part[j];
      return j == part.size();
    };
    if (!is_subsequence(result.ready) || !is_subsequence(result.unready)) {
      throw Failure(what.str() + ": ready and unready do not keep the order of the refs");
    }
    std::map<manta::ObjectId, int> count;
    for (const auto& r : refs) ++count[r.id()];
    for (const auto& r : result.ready) --count[r.id()];
    for (const auto& r : result.unready) --count[r.id()];
    for (const auto& [id, c] : count) {
      if (c != 0) throw Failure(what.str() + ": ready + unready are not the refs given");
    }
  }

  std::chrono::milliseconds wait_time() {
    switch (below(5)) {
      case 0:
        return 0ms;
      case 1:
        return 1ms;
      case 2:
        return 10ms;
      case 3:
        return 100ms;
      default:
        return std::chrono::duration_cast<std::chrono::milliseconds>(kLimit);
    }
  }

  void wait_on_blocks() {
    doing_ = "wait on blocks";
    std::vector<std::size_t> picked;
    for (std::uint64_t n = 1 + below(6); n-- > 0;) picked.push_back(below(blocks_.size()));
    if (chance(50)) picked.push_back(picked[below(picked.size())]);  // a ref twice
    std::vector<manta::ObjectRef<Words>> refs;
    std::size_t known = 0;
    for (auto i : picked) {
      refs.push_back(blocks_[i].ref);
      known += blocks_[i].known_ready;
    }
    const auto timeout = wait_time();
    // Waits without a deadline worth the name ask for all; short ones ask for any number.
    const std::size_t num = timeout >= kLimit ? refs.size() : below(refs.size() + 1);
    check_wait(refs, num, timeout, known);
  }

  void wait_on_checks() {
    doing_ = "wait on task results";
    if (checks_.empty()) return make_task();
    std::vector<manta::ObjectRef<std::uint64_t>> refs;
    for (std::uint64_t n = 1 + below(6); n-- > 0;)
      refs.push_back(checks_[below(checks_.size())].ref);
    if (chance(50)) refs.push_back(refs[below(refs.size())]);
    const auto timeout = wait_time();
    const std::size_t num = timeout >= kLimit ? refs.size() : below(refs.size() + 1);
    check_wait(refs, num, timeout, 0);
  }

  // ---- actors -------------------------------------------------------------------------------

  std::size_t live_machines() const {
    std::size_t n = 0;
    for (const auto& m : machines_) n += !m.dead;
    return n;
  }

  void create_machine() {
    doing_ = "create a Machine";
    MachineModel m;
    m.id = next_machine_++;
    m.start = fresh_seed();
    m.state = m.start;
    m.restarts_left = static_cast<int>(below(2));
    auto builder = manta::actor(stress::Machine::create).max_restarts(m.restarts_left);
    const bool named = chance(25);
    const std::string name = "machine-" + std::to_string(m.id);
    if (named) builder.name(name);
    m.handle = placed(builder, m.where).remote(m.start);
    m.where = "Machine " + std::to_string(m.id) + " on " + m.where;
    if (named) {
      doing_ = "get_actor(" + name + ")";
      const auto found = manta::get_actor<stress::Machine>(name);
      if (!found || !(*found == m.handle)) {
        throw Failure("get_actor(\"" + name + "\") did not find the actor just created");
      }
    }
    machines_.push_back(std::move(m));
    ++count_[kActorCreate];
  }

  std::size_t some_live_machine() {
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < machines_.size(); ++i)
      if (!machines_[i].dead) live.push_back(i);
    return live[below(live.size())];
  }

  void machine_call() {
    const std::size_t i = some_live_machine();
    MachineModel& m = machines_[i];
    ActorCall call;
    call.machine = i;
    const auto kind = below(10);
    if (kind < 6) {
      const std::uint64_t x = rng_();
      doing_ = "call step on " + m.where;
      call.value = m.handle.task(&stress::Machine::step).remote(x);
      m.state = stress::mix(m.state ^ x);
      call.what = "step";
    } else if (kind < 8) {
      const Block& b = some_block();
      doing_ = "call absorb on " + m.where;
      call.value = m.handle.task(&stress::Machine::absorb).remote(b.ref);
      m.state = stress::mix(m.state + stress::sum_of_block(b.seed, b.words));
      call.what = "absorb of a block from " + b.made;
    } else {
      // Up to 1 MiB: small answers travel inline, larger ones are pulled.
      call.words = (1024ull << below(11)) / sizeof(std::uint64_t);
      doing_ = "call emit on " + m.where;
      call.block = m.handle.task(&stress::Machine::emit).remote(call.words);
      m.state = stress::mix(m.state + call.words);
      call.what = "emit(" + std::to_string(call.words) + ")";
    }
    call.expect = m.state;
    call.what += " on " + m.where;
    calls_.push_back(std::move(call));
    ++count_[kActorCall];
  }

  void call_dead_machine() {
    std::vector<std::size_t> dead;
    for (std::size_t i = 0; i < machines_.size(); ++i)
      if (machines_[i].dead) dead.push_back(i);
    if (dead.empty()) return machine_call();
    ActorCall call;
    call.machine = dead[below(dead.size())];
    const MachineModel& m = machines_[call.machine];
    doing_ = "call step on the killed " + m.where;
    call.value = m.handle.task(&stress::Machine::step).remote(std::uint64_t{1});
    call.fate = ActorCall::Fate::must_die;
    call.what = "step on the killed " + m.where;
    calls_.push_back(std::move(call));
    ++count_[kActorCall];
  }

  void kill_machine() {
    const std::size_t i = some_live_machine();
    MachineModel& m = machines_[i];
    const bool restart = m.restarts_left > 0 && chance(50);
    doing_ = (restart ? "kill(false) of " : "kill of ") + m.where;
    m.handle.kill(/*no_restart=*/!restart);
    ++count_[kActorKill];
    if (restart) {
      // Rebuilt from its factory after the calls made before the kill: those answer from the
      // old state, later ones from the start.
      --m.restarts_left;
      m.state = m.start;
      m.where += " (restarted)";
      return;
    }
    m.dead = true;
    for (auto& c : calls_) {
      if (c.machine == i && c.fate == ActorCall::Fate::must_answer)
        c.fate = ActorCall::Fate::may_die;
    }
    forget_dead_machines();
  }

  // Keeps a few dead actors to call; older ones are forgotten once no call to them is pending.
  void forget_dead_machines() {
    std::size_t dead = 0;
    for (const auto& m : machines_) dead += m.dead;
    for (std::size_t i = 0; i < machines_.size() && dead > kMaxDeadMachines; ++i) {
      if (!machines_[i].dead) continue;
      const bool pending = std::any_of(calls_.begin(), calls_.end(),
                                       [&](const ActorCall& c) { return c.machine == i; });
      if (pending) continue;
      machines_.erase(machines_.begin() + static_cast<std::ptrdiff_t>(i));
      for (auto& c : calls_)
        if (c.machine > i) --c.machine;
      --dead;
      --i;
    }
  }

  void resolve_call() {
    ActorCall c = std::move(calls_.front());
    calls_.pop_front();
    MachineModel& m = machines_[c.machine];
    doing_ = "result of " + c.what;
    std::optional<std::string> died;
    std::uint64_t got = 0;
    bool right = true;
    try {
      if (c.block.valid()) {
        const auto v = manta::get(c.block, kLimit);
        right = stress::count_bad(v->data(), v->size(), c.expect, c.words) == 0;
      } else {
        got = *manta::get(c.value, kLimit);
        right = got == c.expect;
      }
    } catch (const manta::ActorDiedError& e) {
      died = e.what();
    }
    switch (c.fate) {
      case ActorCall::Fate::must_answer:
        if (died) throw Failure(c.what + " failed with ActorDiedError: " + *died);
        break;
      case ActorCall::Fate::may_die:
        // A call queued when the kill came fails, and so does every call after it.
        if (died) {
          m.seen_death = true;
          return;
        }
        if (m.seen_death) {
          throw Failure(c.what + " answered although an earlier call failed with the kill");
        }
        break;
      case ActorCall::Fate::must_die:
        if (!died) throw Failure(c.what + " answered after the kill");
        return;
    }
    if (!right) {
      throw Failure(c.what + (c.block.valid()
                                  ? " returned a wrong block"
                                  : " returned " + std::to_string(got) + ", the model says " +
                                        std::to_string(c.expect)));
    }
  }

  void tally_add() {
    doing_ = "task add_from_here";
    const std::uint64_t x = below(1000);
    std::string where;
    Check c;
    c.ref = placed(manta::task(stress::add_from_here).max_retries(0), where).remote(tally_, x);
    c.expect = x;
    c.what = "add_from_here(" + std::to_string(x) + ") on " + where;
    tally_expected_ += x;
    checks_.push_back(std::move(c));
    ++count_[kTask];
    ++count_[kActorCall];
  }

  // ---- stores -------------------------------------------------------------------------------

  void store_bounds() {
    doing_ = "memory_summary";
    const auto s = manta::memory_summary(0);
    for (const auto& r : s.ranks) {
      if (r.bytes > r.capacity_bytes) {
        throw Failure("rank " + std::to_string(r.rank) + " holds " + size_text(r.bytes) +
                      " in a store of " + size_text(r.capacity_bytes) + "\n" + s.to_string());
      }
    }
  }

  void progress(Clock::time_point start) {
    const auto t = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("stress: %.0f s, %" PRIu64
                " operations, %zu blocks (%s), %zu checks and %zu actor "
                "calls pending, %s verified\n",
                t, op_, blocks_.size(), size_text(block_bytes_).c_str(), checks_.size(),
                calls_.size(), size_text(bytes_verified_).c_str());
    std::fflush(stdout);
  }

  // ---- the end ------------------------------------------------------------------------------

  void drain() {
    while (!puts_there_.empty()) resolve_put_there();
    while (!checks_.empty()) resolve_check();
    while (!calls_.empty()) resolve_call();
    for (auto& b : blocks_) {
      doing_ = "final get of a block from " + b.made;
      verify(b, *manta::get(b.ref, kLimit));
    }
    doing_ = "the tally's total";
    const auto total = *manta::get(tally_.task(&stress::Tally::get).remote(), kLimit);
    if (total != tally_expected_) {
      throw Failure("the tally holds " + std::to_string(total) + ", its adders gave " +
                    std::to_string(tally_expected_));
    }
    // Every actor ends; a call after the kill must fail, whatever the actor's restarts.
    for (auto& m : machines_) {
      if (m.dead) continue;
      doing_ = "final kill of " + m.where;
      m.handle.kill();
      m.dead = true;
      ActorCall call;
      call.machine = static_cast<std::size_t>(&m - machines_.data());
      call.value = m.handle.task(&stress::Machine::step).remote(std::uint64_t{2});
      call.fate = ActorCall::Fate::must_die;
      call.what = "step after the final kill of " + m.where;
      calls_.push_back(std::move(call));
    }
    while (!calls_.empty()) resolve_call();
    tally_.kill();
  }

  void finish() {
    // Peak memory of every rank, asked of each rank by a task pinned there.
    doing_ = "peak memory of every rank";
    std::vector<manta::ObjectRef<std::uint64_t>> peaks;
    for (int r = 0; r < world_; ++r)
      peaks.push_back(manta::task(stress::peak_rss_kib).on_rank(r).remote());
    std::vector<std::uint64_t> peak_kib;
    for (const auto& p : manta::get(peaks, kLimit)) peak_kib.push_back(*p);
    peaks.clear();
    // Drop every reference; the stores must empty themselves.
    blocks_.clear();
    machines_.clear();
    block_bytes_ = 0;
    doing_ = "stores emptying after every reference was dropped";
    const auto t0 = Clock::now();
    manta::MemorySummary s;
    std::string left;
    for (;;) {
      s = manta::memory_summary(50);
      left = what_remains(s);
      if (left.empty() || Clock::now() - t0 > kSettleLimit) break;
      std::this_thread::sleep_for(100ms);
    }
    const double settle = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!left.empty()) {
      throw Failure("the stores still hold objects " + std::to_string(kSettleLimit.count()) +
                    " s after every reference was dropped: " + left + "\n" + s.to_string());
    }
    const auto total = s.total();
    if (seconds_ >= 10 && total.bytes_spilled == 0) {
      throw Failure("nothing spilled: run with a small store (--manta-object-store-memory=64M)");
    }
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(1);
    std::uint64_t ops = 0;
    for (auto c : count_) ops += c;
    line << "stress: ok, seed " << seed_ << ", " << ops << " operations in " << work_seconds_
         << " s:";
    for (int k = 0; k < kKinds; ++k) {
      line << " " << kKindNames[k] << " " << static_cast<double>(count_[k]) / work_seconds_ << "/s"
           << (k + 1 < kKinds ? "," : ";");
    }
    line << " verified " << static_cast<double>(bytes_verified_) / (1 << 20) / work_seconds_
         << " MiB/s; spilled " << size_text(total.bytes_spilled) << ", restored "
         << size_text(total.bytes_restored + total.bytes_read_from_files) << "; stores empty after "
         << settle << " s; peak RSS";
    for (int r = 0; r < world_; ++r) {
      line << " rank" << r << " "
           << static_cast<double>(peak_kib[static_cast<std::size_t>(r)]) / 1024 << " MiB"
           << (r + 1 < world_ ? "," : "");
    }
    std::printf("%s\n", line.str().c_str());
    std::fflush(stdout);
  }

  // What a rank's store still holds, in words ("" when every store is empty).
  static std::string what_remains(const manta::MemorySummary& s) {
    std::ostringstream out;
    for (const auto& r : s.ranks) {
      if (r.objects == 0 && r.bytes == 0 && r.in_use_bytes == 0 && r.pinned_bytes == 0 &&
          r.spilled_objects == 0 && r.spilled_bytes == 0) {
        continue;
      }
      out << "rank " << r.rank << ": " << r.objects << " objects, " << size_text(r.bytes)
          << " in memory, " << size_text(r.in_use_bytes) << " in use, " << size_text(r.pinned_bytes)
          << " pinned, " << r.spilled_objects << " spilled (" << size_text(r.spilled_bytes)
          << "); ";
    }
    for (const auto& o : s.objects) {
      out << "[" << o.id.owner << ":" << o.id.index << ":" << o.id.seq << " on rank " << o.rank
          << ", " << o.role << ", " << o.state << ", " << o.size << " bytes"
          << (o.referenced ? ", referenced" : "") << (o.pinned ? ", pinned" : "")
          << (o.spilled ? ", spilled" : "") << "] ";
    }
    return out.str();
  }

  struct PendingPut {
    manta::ObjectRef<manta::ObjectRef<Words>> outer;
    std::uint64_t seed = 0;
    std::uint64_t words = 0;
    std::string made;
  };

  const std::uint64_t seed_;
  const double seconds_;
  std::mt19937_64 rng_;
  int world_ = 1;
  std::uint64_t op_ = 0;
  std::string doing_ = "start";
  double work_seconds_ = 0;
  std::uint64_t count_[kKinds] = {};
  std::uint64_t bytes_verified_ = 0;

  std::vector<Block> blocks_;
  std::uint64_t block_bytes_ = 0;
  std::deque<Check> checks_;
  std::deque<ActorCall> calls_;
  std::deque<PendingPut> puts_there_;
  std::vector<MachineModel> machines_;
  int next_machine_ = 0;
  manta::ActorHandle<stress::Tally> tally_;
  std::uint64_t tally_expected_ = 0;
};

// --seed=N and --duration=SECONDS (also as two words); anything else is refused.
struct Args {
  std::uint64_t seed = std::random_device{}();
  double seconds = 45;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    try {
      if (arg == "--seed") {
        a.seed = std::stoull(value);
      } else if (arg == "--duration") {
        a.seconds = std::stod(value);
        if (!(a.seconds > 0)) throw std::invalid_argument("not positive");
      } else {
        throw std::invalid_argument("unknown argument " + arg +
                                    " (expected --seed=N or --duration=SECONDS)");
      }
    } catch (const std::logic_error& e) {
      throw std::invalid_argument(arg + "=" + value + ": " + e.what());
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const Args args = parse(argc, argv);
  Stress stress(args.seed, args.seconds);
  try {
    stress.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stress: FAILED at %s: %s\n", stress.context().c_str(), e.what());
    std::fflush(stderr);
    // The stores at the time of the failure (memory_summary gives up by itself on a stuck rank).
    try {
      std::fprintf(stderr, "stress: the stores now:\n%s\n",
                   manta::memory_summary(30).to_string().c_str());
    } catch (const std::exception& summary_error) {
      std::fprintf(stderr, "stress: no memory summary: %s\n", summary_error.what());
    }
    std::fflush(stderr);
    throw;
  }
  manta::shutdown();
  return 0;
}
