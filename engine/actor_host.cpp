#include "engine/actor_host.h"

#include <sched.h>

#include <fmt/format.h>

#include <manta/actor.h>

#include "engine/checkpoint_records.h"
#include "engine/crash_report.h"
#include "engine/function_table.h"
#include "engine/gpu_grant.h"
#include "engine/log.h"
#include "engine/task_env.h"

namespace manta::engine {

struct ActorHost::Actor {
  enum class State { creating, alive, restarting, dead };

  TaskPtr creation;
  ActorSettings settings;
  int restarts_left = 0;
  int restarts_done = 0;
  State state = State::creating;
  void* instance = nullptr;
  detail::Destroyer destroy = nullptr;
  std::shared_ptr<const ErrorInfo> death;
  bool restart_requested = false;
  bool stop_requested = false;  // die once running calls return
  std::shared_ptr<const ErrorInfo> stop_cause;

  std::unordered_map<int, std::uint64_t> next_seq;         // per calling rank
  std::map<std::pair<int, std::uint64_t>, TaskPtr> early;  // arrived before their turn
  std::deque<TaskPtr> ready;
  int running = 0;  // calls running now
  int workers = 0;  // pool threads serving it, or asked to (at most max_concurrency)

  std::mutex mutex;
};

namespace {
thread_local int t_restarts_done = 0;  // of the actor whose method this thread runs

constexpr int kTurn = 64;  // calls one actor runs before others waiting for a thread get theirs
constexpr auto kIdleThreadLife = std::chrono::seconds(5);  // an idle pool thread then ends
constexpr std::size_t kKeptThreads = 4;                    // ... unless this few are left

void views_of(const TaskSpec& t, std::vector<detail::ArgView>& views) {
  views.clear();
  for (const TaskArg& a : t.args)
    views.push_back({a.buffer ? a.buffer->data() + a.offset : nullptr, a.size, a.tag,
                     a.buffer ? &a.buffer : nullptr});
}

/// `this` for a call of `f` on an instance of the actor's class: the instance itself, or, for
/// a method of a base class, the instance converted to that base.
void* method_self(const detail::FunctionEntry& f, void* instance, std::uint64_t actor_class) {
  if (!f.is_method || f.class_tag == actor_class) return instance;
  if (detail::Upcast cast = detail::find_upcast(actor_class, f.class_tag)) return cast(instance);
  throw std::logic_error(fmt::format(
      "{} is a method of {}, and the actor is a {}, not derived "
      "from it",
      f.name, detail::type_name_of_tag(f.class_tag), detail::type_name_of_tag(actor_class)));
}

/// "actor 'name' (actor:0:5)", or the id alone for an unnamed actor: for checkpoint messages.
std::string describe_actor(const TaskSpec& creation) {
  if (creation.actor_name.empty()) return creation.actor.to_string();
  return fmt::format("actor '{}' ({})", creation.actor_name, creation.actor.to_string());
}

}  // namespace

ActorHost::~ActorHost() { stop(); }

std::size_t ActorHost::alive() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [id, a] : actors_) {
    std::lock_guard l(a->mutex);
    n += a->state != Actor::State::dead;
  }
  return n;
}

bool ActorHost::is_dead(const ActorId& actor) const {
  std::lock_guard lock(mutex_);
  if (killed_before_creation_.count(actor)) return true;
  auto it = actors_.find(actor);
  if (it == actors_.end()) return false;
  std::lock_guard l(it->second->mutex);
  return it->second->state == Actor::State::dead;
}

void ActorHost::create(TaskPtr creation, ActorSettings settings) {
  auto a = std::make_shared<Actor>();
  const ActorId id = creation->actor;
  a->creation = std::move(creation);
  a->settings = std::move(settings);
  a->restarts_left = a->settings.max_restarts;
  std::vector<TaskPtr> early;
  std::optional<std::shared_ptr<const ErrorInfo>> killed;  // a kill that came first, its cause
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    actors_[id] = a;
    if (auto it = before_creation_.find(id); it != before_creation_.end()) {
      early = std::move(it->second);
      before_creation_.erase(it);
    }
    if (auto it = killed_before_creation_.find(id); it != killed_before_creation_.end()) {
      killed = it->second;
      killed_before_creation_.erase(it);
    }
  }
  hooks_.reserve(a->settings.resources, a->settings.gpu_ids);
  if (killed) {
    std::unique_lock lock(a->mutex);
    for (auto& call : early) enqueue_in_order(*a, std::move(call));
    die(*a,
        *killed ? *killed
                : std::make_shared<const ErrorInfo>(hooks_.make_error(
                      ErrorKind::actor_died, a->creation.get(), id.to_string() + " was killed")),
        lock);
    return;
  }
  if (auto e = a->creation->input_error()) {
    ErrorInfo cause = *e;
    cause.kind = ErrorKind::actor_died;
    cause.message = "its creation lost an argument: " + cause.message;
    std::unique_lock lock(a->mutex);
    for (auto& call : early) enqueue_in_order(*a, std::move(call));
    die(*a, std::make_shared<const ErrorInfo>(std::move(cause)), lock);
    return;
  }
  {
    std::lock_guard lock(a->mutex);
    for (auto& call : early) enqueue_in_order(*a, std::move(call));
    ++a->workers;  // one thread builds the instance; more join once calls wait
  }
  schedule(a);
}

void ActorHost::deliver(TaskPtr call) {
  std::shared_ptr<Actor> a;
  {
    std::lock_guard lock(mutex_);
    auto it = actors_.find(call->actor);
    if (it == actors_.end()) {
      if (stopping_) {
        fail_call(call, std::make_shared<const ErrorInfo>(hooks_.make_error(
                            ErrorKind::actor_died, call.get(), "the runtime is shutting down")));
      } else {
        before_creation_[call->actor].push_back(std::move(call));  // its creation is on the way
      }
      return;
    }
    a = it->second;
  }
  std::unique_lock lock(a->mutex);
  enqueue_in_order(*a, std::move(call));
  add_workers(a);
}

void ActorHost::add_workers(const std::shared_ptr<Actor>& a) {
  if (a->state != Actor::State::alive) return;  // the thread building it serves it next
  if (held_.load()) return;                     // a checkpoint holds it; resume_calls adds them
  const auto wanted = std::min(static_cast<std::size_t>(std::max(1, a->settings.max_concurrency)),
                               static_cast<std::size_t>(a->running) + a->ready.size());
  while (static_cast<std::size_t>(a->workers) < wanted) {
    ++a->workers;
    schedule(a);
  }
}

void ActorHost::enqueue_in_order(Actor& a, TaskPtr call) {
  if (a.state == Actor::State::dead) {
    // Order means nothing to a dead actor, and the turn may never come: the calls held for it
    // failed when the actor died, and a caller whose kill() ended it fails its unsent calls
    // itself, so their numbers never arrive.
    fail_call(call, a.death);
    return;
  }
  const int caller = call->caller;
  std::uint64_t& next = a.next_seq[caller];
  if (call->actor_seq != next) {
    a.early.emplace(std::make_pair(caller, call->actor_seq), std::move(call));
    return;
  }
  auto admit = [&](TaskPtr c) {
    ++next;
    a.ready.push_back(std::move(c));
  };
  admit(std::move(call));
  for (auto it = a.early.find({caller, next}); it != a.early.end();
       it = a.early.find({caller, next})) {
    TaskPtr c = std::move(it->second);
    a.early.erase(it);
    admit(std::move(c));
  }
}

void ActorHost::fail_call(const TaskPtr& call, std::shared_ptr<const ErrorInfo> cause) {
  if (call->function == kRestartMarker) return;  // nobody waits for a marker
  hooks_.finish(call, {}, std::move(cause));
}

bool ActorHost::construct(Actor& a, std::unique_lock<std::mutex>& lock) {
  const detail::FunctionEntry* f = FunctionTable::instance().at(a.creation->function);
  std::shared_ptr<const ErrorInfo> error;
  void* instance = nullptr;
  lock.unlock();
  t_restarts_done = a.restarts_done;
  std::vector<detail::ArgView> views;
  views_of(*a.creation, views);
  try {
    const RunningCallScope running(RunningCallScope::Kind::actor_creation, f->name,
                                   a.creation->name, a.creation->id, a.creation->actor);
    const GpuGrantScope gpus(a.settings.gpu_ids);
    const EnvScope env(a.creation->env.get());
    if (const auto source = restore_source(*a.creation)) {
      instance = load_from_checkpoint(*f, *source);  // rebuilt from a checkpoint, not the factory
    } else {
      detail::CallResult r;
      f->invoke(f->key, nullptr, views.data(), views.size(), r);
      std::memcpy(&instance, r.bytes.data(), sizeof instance);
    }
    if (!instance) throw std::runtime_error("the factory returned a null pointer");
  } catch (const Error& e) {
    error = std::make_shared<const ErrorInfo>(e.info());
  } catch (const std::exception& e) {
    ErrorInfo info = hooks_.make_error(
        ErrorKind::actor_died, a.creation.get(),
        fmt::format("the factory threw {}: {}", detail::demangle(typeid(e).name()), e.what()));
    error = std::make_shared<const ErrorInfo>(std::move(info));
  } catch (...) {
    error = std::make_shared<const ErrorInfo>(hooks_.make_error(
        ErrorKind::actor_died, a.creation.get(), "the factory threw an unknown exception"));
  }
  lock.lock();
  if (error) {
    ErrorInfo cause = *error;
    cause.kind = ErrorKind::actor_died;
    if (cause.message.rfind("the factory", 0) != 0)
      cause.message = "the factory failed: " + cause.message;
    die(a, std::make_shared<const ErrorInfo>(std::move(cause)), lock);
    return false;
  }
  a.instance = instance;
  a.destroy = f->destroy;
  a.state = Actor::State::alive;
  return true;
}

void ActorHost::die(Actor& a, std::shared_ptr<const ErrorInfo> cause,
                    std::unique_lock<std::mutex>& lock) {
  if (a.state == Actor::State::dead) return;
  a.state = Actor::State::dead;
  a.death = cause;
  std::vector<TaskPtr> failed(a.ready.begin(), a.ready.end());
  a.ready.clear();
  for (auto& [key, c] : a.early) failed.push_back(std::move(c));
  a.early.clear();
  void* instance = std::exchange(a.instance, nullptr);
  lock.unlock();
  if (instance && a.destroy) a.destroy(instance);
  for (auto& c : failed) fail_call(c, cause);
  hooks_.release(a.settings.resources, a.settings.gpu_ids);
  hooks_.died(a.creation->actor, cause);
  lock.lock();
}

bool ActorHost::stop_or_restart(Actor& a, std::unique_lock<std::mutex>& lock) {
  // Only once no call runs; the thread of the last running call comes back here.
  if (a.running > 0) return false;
  if (a.stop_requested) {
    a.stop_requested = false;
    die(a, a.stop_cause, lock);
    return false;
  }
  // No call runs now: rebuild the instance from the original factory call.
  a.restart_requested = false;
  a.state = Actor::State::restarting;
  void* old = std::exchange(a.instance, nullptr);
  lock.unlock();
  if (old && a.destroy) a.destroy(old);
  lock.lock();
  ++a.restarts_done;
  log().info("restarting {} ({} restarts left)", a.creation->actor.to_string(), a.restarts_left);
  if (hooks_.restarting) {
    lock.unlock();
    hooks_.restarting(a.creation->actor);
    lock.lock();
  }
  return construct(a, lock);
}

void ActorHost::spin_for_next_call(Actor& a, std::unique_lock<std::mutex>& lock) {
  // The next call usually follows closely: poll briefly before letting the thread go.
  const auto until = std::chrono::steady_clock::now() + hooks_.idle_spin;
  while (a.ready.empty() && !a.stop_requested && !a.restart_requested &&
         a.state == Actor::State::alive && std::chrono::steady_clock::now() < until) {
    lock.unlock();
    if (!hooks_.idle_poll || !hooks_.idle_poll()) sched_yield();
    lock.lock();
  }
}

void ActorHost::restart_marker(Actor& a) {
  // Everything the caller sent before has started: rebuild once it has returned.
  if (a.restarts_left > 0) {
    --a.restarts_left;
    a.restart_requested = true;
    return;
  }
  a.stop_requested = true;
  a.stop_cause = std::make_shared<const ErrorInfo>(
      hooks_.make_error(ErrorKind::actor_died, nullptr,
                        fmt::format("{} was killed and has no restarts left (max_restarts {})",
                                    a.creation->actor.to_string(), a.settings.max_restarts)));
}

std::optional<std::vector<int>> ActorHost::take_call_resources(
    Actor& a, const TaskSpec& call, std::shared_ptr<const ErrorInfo>& error) {
  const ResourceSet& request = *call.resources;
  auto fail = [&](ErrorKind kind, std::string why) {
    error = std::make_shared<const ErrorInfo>(hooks_.make_error(kind, &call, std::move(why)));
    return std::nullopt;
  };
  const std::string never =
      hooks_.fit ? hooks_.fit(request, a.settings.resources) : "this rank takes no call resources";
  if (!never.empty()) {
    return fail(ErrorKind::unschedulable,
                fmt::format("the call asks for {} on the rank of {}, which can never offer it "
                            "({}); ask for less, or start ranks with more (--manta-num-cpus, "
                            "--manta-resources)",
                            request.to_string(), a.creation->actor.to_string(), never));
  }
  // The actor may be killed or rebuilt while its call waits: the call then gives up.
  auto granted = hooks_.acquire(request, [&a] {
    std::lock_guard lock(a.mutex);
    return a.stop_requested || a.restart_requested || a.state == Actor::State::dead;
  });
  if (!granted) {
    return fail(ErrorKind::actor_died,
                fmt::format("{} was stopped while the call waited for {} on its rank",
                            a.creation->actor.to_string(), request.to_string()));
  }
  return granted;
}

void ActorHost::run_call(Actor& a, const TaskPtr& call, std::vector<detail::ArgView>& views,
                         std::unique_lock<std::mutex>& lock) {
  ++a.running;
  void* instance = a.instance;
  const std::uint64_t actor_class = a.creation->class_tag;
  const int restarts = a.restarts_done;
  lock.unlock();

  detail::CallResult result;
  std::shared_ptr<const ErrorInfo> error = call->input_error();
  bool exited = false;
  // Resources of this call alone, beside the actor's own: held while it runs.
  std::optional<std::vector<int>> granted;
  if (!error && call->resources && !call->resources->items().empty()) {
    granted = take_call_resources(a, *call, error);
  }
  if (!error) {
    const detail::FunctionEntry* f = FunctionTable::instance().at(call->function);
    views_of(*call, views);
    t_restarts_done = restarts;
    const auto start = std::chrono::system_clock::now();
    const RunningCallScope running(RunningCallScope::Kind::actor_call, f->name, call->name,
                                   call->id, call->actor);
    std::vector<int> call_gpus = a.settings.gpu_ids;  // the actor's, fixed for its life
    if (granted) call_gpus.insert(call_gpus.end(), granted->begin(), granted->end());
    const GpuGrantScope gpus(call_gpus);
    const EnvScope env(a.creation->env.get());  // so are its variables
    try {
      f->invoke(f->key, method_self(*f, instance, actor_class), views.data(), views.size(), result);
    } catch (const ActorExit&) {
      exited = true;
      error = std::make_shared<const ErrorInfo>(hooks_.make_error(
          ErrorKind::actor_died, call.get(), "the actor ended itself with manta::exit_actor()"));
    } catch (const Error& e) {
      error = std::make_shared<const ErrorInfo>(e.info());
    } catch (const std::exception& e) {
      ErrorInfo info = hooks_.make_error(ErrorKind::task, call.get(), e.what());
      info.exception_type = detail::demangle(typeid(e).name());
      error = std::make_shared<const ErrorInfo>(std::move(info));
    } catch (...) {
      ErrorInfo info = hooks_.make_error(ErrorKind::task, call.get(),
                                         "an exception not derived from std::exception");
      info.exception_type = "unknown";
      error = std::make_shared<const ErrorInfo>(std::move(info));
    }
    if (hooks_.ran) {
      auto us = [](auto t) {
        return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
      };
      hooks_.ran(call, us(start), us(std::chrono::system_clock::now()));
    }
  }
  if (granted) hooks_.give_back(*call->resources, *granted);
  hooks_.finish(call, std::move(result), error);
  lock.lock();
  --a.running;
  if (exited && a.state != Actor::State::dead) {
    a.stop_requested = true;
    a.stop_cause = error;
  }
}

void ActorHost::serve(const std::shared_ptr<Actor>& a) {
  std::unique_lock lock(a->mutex);
  if (a->state == Actor::State::creating) {
    if (!construct(*a, lock)) {
      --a->workers;
      return;
    }
    add_workers(a);  // calls that came meanwhile may use more threads (max_concurrency)
  }
  std::vector<detail::ArgView> views;
  for (int turn = 0;; ++turn) {
    if (a->state == Actor::State::dead) break;
    if (a->stop_requested || a->restart_requested) {
      if (!stop_or_restart(*a, lock)) break;
      add_workers(a);
      continue;
    }
    if (a->ready.empty() && hooks_.idle_spin.count() > 0 && a->state == Actor::State::alive) {
      spin_for_next_call(*a, lock);
    }
    // Being rebuilt by another thread, which serves it next.
    if (a->state != Actor::State::alive) break;
    if (a->stop_requested || a->restart_requested) continue;
    if (a->ready.empty()) break;  // idle: it holds no thread until its next call
    if (held_.load()) break;      // a checkpoint: its calls wait, without a thread, for resume
    if (turn >= kTurn) {
      // Others wait for a thread: this actor queues again behind them, keeping its worker.
      bool others_wait = false;
      {
        std::lock_guard pool(pool_mutex_);
        others_wait = !runnable_.empty();
      }
      if (others_wait) {
        lock.unlock();
        schedule(a);
        return;
      }
      turn = 0;
    }
    TaskPtr call = std::move(a->ready.front());
    a->ready.pop_front();
    if (call->function == kRestartMarker) {
      restart_marker(*a);
      continue;
    }
    run_call(*a, call, views, lock);
  }
  --a->workers;
}

void ActorHost::schedule(std::shared_ptr<Actor> a) {
  std::lock_guard lock(pool_mutex_);
  runnable_.push_back(std::move(a));
  if (idle_ > 0) {
    pool_cv_.notify_one();
  } else if (threads_.size() < hooks_.max_threads) {
    spawn_locked();
  }  // else every thread is busy: the next to finish takes it, or keep_moving adds one
}

void ActorHost::spawn_locked() {
  const std::uint64_t serial = next_serial_++;
  threads_.emplace(serial, std::thread([this, serial] { pool_loop(serial); }));
}

void ActorHost::pool_loop(std::uint64_t serial) {
  std::unique_lock lock(pool_mutex_);
  for (;;) {
    if (runnable_.empty() && !pool_stopping_ && hooks_.idle_spin.count() > 0) {
      // Poll briefly: an actor's next call often comes within microseconds of its last.
      const auto until = std::chrono::steady_clock::now() + hooks_.idle_spin;
      while (runnable_.empty() && !pool_stopping_ && std::chrono::steady_clock::now() < until) {
        lock.unlock();
        if (!hooks_.idle_poll || !hooks_.idle_poll()) sched_yield();
        lock.lock();
      }
    }
    if (runnable_.empty()) {
      if (pool_stopping_) break;
      ++idle_;
      const bool woken = pool_cv_.wait_for(lock, kIdleThreadLife,
                                           [&] { return !runnable_.empty() || pool_stopping_; });
      --idle_;
      if (!woken && threads_.size() > kKeptThreads) break;  // idle long enough: end
      continue;
    }
    std::shared_ptr<Actor> a = std::move(runnable_.front());
    runnable_.pop_front();
    ++dispatched_;
    lock.unlock();
    serve(a);
    a.reset();
    lock.lock();
  }
  // Ending: whoever starts or stops threads next joins this one.
  auto self = threads_.find(serial);
  if (self != threads_.end()) {
    exited_.push_back(std::move(self->second));
    threads_.erase(self);
  }
}

void ActorHost::join_exited() {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(pool_mutex_);
    done.swap(exited_);
  }
  for (auto& t : done) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else if (t.joinable()) {
      t.join();
    }
  }
}

void ActorHost::keep_moving() {
  {
    std::lock_guard lock(pool_mutex_);
    if (runnable_.empty() || idle_ > 0 || pool_stopping_) {
      seen_dispatched_ = ~0ull;
    } else if (dispatched_ != seen_dispatched_) {
      seen_dispatched_ = dispatched_;  // moving
    } else {
      // Nothing was taken for a whole tick: every thread is held by a call that waits (for
      // another actor's call, perhaps one of those queued). One more thread breaks the wait.
      if (threads_.size() >= hooks_.max_threads && !warned_past_cap_) {
        log().warn(
            "actor executor threads past {}: every one is held by a call that waits, and {} "
            "actors with calls wait for a thread; starting more",
            hooks_.max_threads, runnable_.size());
        warned_past_cap_ = true;
      }
      // Each tick without progress adds threads, more the more actors wait.
      const std::size_t more = std::min<std::size_t>(16, runnable_.size());
      for (std::size_t i = 0; i < more; ++i) spawn_locked();
    }
  }
  join_exited();
}

std::size_t ActorHost::executor_threads() const {
  std::lock_guard lock(pool_mutex_);
  return threads_.size();
}

void ActorHost::kill(const ActorId& id, bool /*no_restart*/) {
  // Only kill(true) comes here; kill(false) travels as a marker in call order (kRestartMarker).
  kill(id, nullptr);
}

void ActorHost::kill(const ActorId& id, std::shared_ptr<const ErrorInfo> cause) {
  std::shared_ptr<Actor> a;
  {
    std::lock_guard lock(mutex_);
    auto it = actors_.find(id);
    if (it == actors_.end()) {
      killed_before_creation_[id] = cause;  // its creation is still queued here
      return;
    }
    a = it->second;
  }
  std::unique_lock lock(a->mutex);
  if (a->state == Actor::State::dead) return;
  if (!cause) {
    cause = std::make_shared<const ErrorInfo>(
        hooks_.make_error(ErrorKind::actor_died, nullptr, id.to_string() + " was killed"));
  }
  if (a->running == 0 && a->state == Actor::State::alive) {
    die(*a, cause, lock);  // nothing runs: fail the queue now (a polling worker sees it dead)
  } else {
    // A call runs (or the instance is being built): it finishes, everything queued fails now,
    // and the thread that ran it ends the actor.
    a->stop_requested = true;
    a->stop_cause = cause;
    std::vector<TaskPtr> failed(a->ready.begin(), a->ready.end());
    a->ready.clear();
    lock.unlock();
    for (auto& c : failed) fail_call(c, cause);
    lock.lock();
  }
}

std::vector<ActorHost::SavedActor> ActorHost::hold_and_save(std::chrono::milliseconds timeout) {
  held_.store(true);
  std::vector<std::shared_ptr<Actor>> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, a] : actors_) all.push_back(a);
  }
  // A call that started before the hold returns by itself; new ones wait for resume_calls.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<std::string> busy;
    for (const auto& a : all) {
      std::lock_guard l(a->mutex);
      const bool settled =
          a->state == Actor::State::dead || (a->state == Actor::State::alive && a->running == 0);
      if (!settled) busy.push_back(describe_actor(*a->creation));
    }
    if (busy.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error(fmt::format(
          "{} still running a call after {:.3g} s (--manta-checkpoint-timeout); a checkpoint is "
          "taken between calls: make long calls return, or raise the timeout",
          fmt::join(busy, ", "), std::chrono::duration<double>(timeout).count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<SavedActor> saved;
  for (const auto& a : all) {
    std::unique_lock lock(a->mutex);
    if (a->state != Actor::State::alive) continue;
    SavedActor out{a->creation->actor, a->creation, {}, {}};
    const detail::FunctionEntry* f = FunctionTable::instance().at(a->creation->function);
    if (!f->save_state) {
      out.skipped = fmt::format(
          "{}: class {} has no save/load or serialize with a default "
          "constructor",
          describe_actor(*a->creation), f->class_name);
    } else if (a->creation->actor_name.empty()) {
      out.skipped = fmt::format("{}: unnamed (a restored actor is found by its name)",
                                describe_actor(*a->creation));
    }
    if (!out.skipped.empty()) {
      saved.push_back(std::move(out));
      continue;
    }
    ++a->running;  // a kill meanwhile waits for the save, as for a call
    void* instance = a->instance;
    lock.unlock();
    std::string failure;
    try {
      const GpuGrantScope gpus(a->settings.gpu_ids);
      f->save_state(instance, out.state);
    } catch (const std::exception& e) {
      failure = fmt::format("saving {} threw {}: {}", describe_actor(*a->creation),
                            detail::demangle(typeid(e).name()), e.what());
    }
    lock.lock();
    if (--a->running == 0 && a->stop_requested) {
      a->stop_requested = false;
      die(*a, a->stop_cause, lock);
    }
    if (!failure.empty()) throw std::runtime_error(failure);
    saved.push_back(std::move(out));
  }
  return saved;
}

void ActorHost::resume_calls() {
  held_.store(false);
  std::vector<std::shared_ptr<Actor>> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, a] : actors_) all.push_back(a);
  }
  // A kill during the hold needs no thread here: an idle actor died at once, one being saved
  // died after its save, and a call that ran through the hold ends it on its own thread.
  for (const auto& a : all) {
    std::lock_guard l(a->mutex);
    add_workers(a);
  }
}

std::vector<ActorId> ActorHost::in_group(const PlacementGroupId& group) const {
  std::vector<ActorId> ids;
  std::lock_guard lock(mutex_);
  for (const auto& [id, a] : actors_) {
    if (a->creation->placement_group == group) ids.push_back(id);
  }
  return ids;
}

void ActorHost::stop() {
  std::unordered_map<ActorId, std::shared_ptr<Actor>> actors;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    actors.swap(actors_);
    before_creation_.clear();
  }
  auto cause = std::make_shared<const ErrorInfo>(
      hooks_.make_error(ErrorKind::actor_died, nullptr, "the runtime is shutting down"));
  for (auto& [id, a] : actors) {
    std::unique_lock lock(a->mutex);
    if (a->state == Actor::State::dead) continue;
    if (a->workers == 0) {
      die(*a, cause, lock);  // idle: no thread will look at it again
    } else {
      a->stop_requested = true;  // a thread serves it: it ends it once its calls returned
      a->stop_cause = cause;
    }
  }
  // Threads finish what they serve (running calls return), then end.
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(pool_mutex_);
    pool_stopping_ = true;
  }
  pool_cv_.notify_all();
  for (;;) {
    {
      std::lock_guard lock(pool_mutex_);
      for (auto& [serial, t] : threads_) {
        if (t.get_id() == std::this_thread::get_id()) t.detach();  // stop() called by a call
      }
      std::erase_if(threads_, [](const auto& e) { return !e.second.joinable(); });
      if (threads_.empty()) break;
    }
    join_exited();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  join_exited();
}

}  // namespace manta::engine

namespace manta {

void exit_actor() { throw engine::ActorExit{}; }

bool was_actor_restarted() noexcept { return engine::t_restarts_done > 0; }

}  // namespace manta
