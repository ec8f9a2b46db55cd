#include "engine/actor_host.h"

#include <sched.h>

#include <fmt/format.h>

#include <manta/actor.h>

#include "engine/function_table.h"
#include "engine/log.h"

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
  int running = 0;

  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::thread> threads;
};

namespace {
thread_local int t_restarts_done = 0;  // of the actor whose method this thread runs

void views_of(const TaskSpec& t, std::vector<detail::ArgView>& views) {
  views.clear();
  for (const TaskArg& a : t.args)
    views.push_back({a.buffer ? a.buffer->data() + a.offset : nullptr, a.size, a.tag,
                     a.buffer ? &a.buffer : nullptr});
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

void ActorHost::create(TaskPtr creation, ActorSettings settings) {
  auto a = std::make_shared<Actor>();
  const ActorId id = creation->actor;
  a->creation = std::move(creation);
  a->settings = std::move(settings);
  a->restarts_left = a->settings.max_restarts;
  std::vector<TaskPtr> early;
  bool killed = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    actors_[id] = a;
    if (auto it = before_creation_.find(id); it != before_creation_.end()) {
      early = std::move(it->second);
      before_creation_.erase(it);
    }
    killed = killed_before_creation_.erase(id) > 0;
  }
  hooks_.reserve(a->settings.resources);
  if (killed) {
    std::unique_lock lock(a->mutex);
    for (auto& call : early) enqueue_in_order(*a, std::move(call));
    die(*a,
        std::make_shared<const ErrorInfo>(hooks_.make_error(
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
    const int n = std::max(1, a->settings.max_concurrency);
    for (int i = 0; i < n; ++i) a->threads.emplace_back([this, a, i] { run_executor(a, i); });
  }
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
  a.cv.notify_all();
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
    detail::CallResult r;
    f->invoke(f->key, nullptr, views.data(), views.size(), r);
    std::memcpy(&instance, r.bytes.data(), sizeof instance);
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
  a.cv.notify_all();
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
  a.cv.notify_all();
  if (!joining_) {
    // Its executors return as soon as they see it dead: let them go, so their stacks are freed.
    for (auto& t : a.threads) {
      if (t.joinable()) t.detach();
    }
  }
  lock.unlock();
  if (instance && a.destroy) a.destroy(instance);
  for (auto& c : failed) fail_call(c, cause);
  hooks_.release(a.settings.resources);
  hooks_.died(a.creation->actor, cause);
  lock.lock();
}

void ActorHost::run_executor(const std::shared_ptr<Actor>& a, int index) {
  std::unique_lock lock(a->mutex);
  if (index == 0) {
    if (!construct(*a, lock)) return;
  } else {
    a->cv.wait(lock, [&] { return a->state != Actor::State::creating; });
  }
  std::vector<detail::ArgView> views;
  for (;;) {
    if (a->ready.empty() && hooks_.idle_spin.count() > 0 && a->state == Actor::State::alive) {
      const auto until = std::chrono::steady_clock::now() + hooks_.idle_spin;
      while (a->ready.empty() && !a->stop_requested && !a->restart_requested &&
             a->state == Actor::State::alive && std::chrono::steady_clock::now() < until) {
        lock.unlock();
        if (!hooks_.idle_poll || !hooks_.idle_poll()) sched_yield();
        lock.lock();
      }
    }
    a->cv.wait(lock, [&] {
      if (a->state == Actor::State::dead) return true;
      if (a->restart_requested || a->stop_requested) return a->running == 0;
      return a->state == Actor::State::alive && !a->ready.empty();  // not while it is rebuilt
    });
    if (a->state == Actor::State::dead) return;
    if (a->stop_requested) {
      a->stop_requested = false;
      die(*a, a->stop_cause, lock);
      return;
    }
    if (a->restart_requested) {
      // No call runs now: rebuild the instance from the original factory call.
      a->restart_requested = false;
      a->state = Actor::State::restarting;
      void* old = std::exchange(a->instance, nullptr);
      lock.unlock();
      if (old && a->destroy) a->destroy(old);
      lock.lock();
      ++a->restarts_done;
      log().info("restarting {} ({} restarts left)", a->creation->actor.to_string(),
                 a->restarts_left);
      if (!construct(*a, lock)) return;
      continue;
    }
    TaskPtr call = std::move(a->ready.front());
    a->ready.pop_front();
    if (call->function == kRestartMarker) {
      // Everything the caller sent before has started: rebuild once it has returned.
      if (a->restarts_left > 0) {
        --a->restarts_left;
        a->restart_requested = true;
      } else {
        a->stop_requested = true;
        a->stop_cause = std::make_shared<const ErrorInfo>(hooks_.make_error(
            ErrorKind::actor_died, nullptr,
            fmt::format("{} was killed and has no restarts left (max_restarts {})",
                        a->creation->actor.to_string(), a->settings.max_restarts)));
      }
      continue;
    }
    ++a->running;
    void* instance = a->instance;
    const int restarts = a->restarts_done;
    lock.unlock();

    detail::CallResult result;
    std::shared_ptr<const ErrorInfo> error = call->input_error();
    bool exited = false;
    if (!error) {
      const detail::FunctionEntry* f = FunctionTable::instance().at(call->function);
      views_of(*call, views);
      t_restarts_done = restarts;
      const auto start = std::chrono::system_clock::now();
      try {
        f->invoke(f->key, instance, views.data(), views.size(), result);
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
          return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch())
              .count();
        };
        hooks_.ran(call, us(start), us(std::chrono::system_clock::now()));
      }
    }
    hooks_.finish(call, std::move(result), error);
    lock.lock();
    --a->running;
    if (exited && a->state != Actor::State::dead) {
      a->stop_requested = true;
      a->stop_cause = error;
    }
    a->cv.notify_all();
  }
}

void ActorHost::kill(const ActorId& id, bool /*no_restart*/) {
  // Only kill(true) comes here; kill(false) travels as a marker in call order (kRestartMarker).
  std::shared_ptr<Actor> a;
  {
    std::lock_guard lock(mutex_);
    auto it = actors_.find(id);
    if (it == actors_.end()) {
      killed_before_creation_[id] = true;  // its creation is still queued here
      return;
    }
    a = it->second;
  }
  std::unique_lock lock(a->mutex);
  if (a->state == Actor::State::dead) return;
  auto cause = std::make_shared<const ErrorInfo>(
      hooks_.make_error(ErrorKind::actor_died, nullptr, id.to_string() + " was killed"));
  if (a->running == 0 && a->state == Actor::State::alive) {
    die(*a, cause, lock);  // nothing runs: fail the queue now
  } else {
    // A call runs (or the instance is being built): it finishes, everything queued fails now.
    a->stop_requested = true;
    a->stop_cause = cause;
    std::vector<TaskPtr> failed(a->ready.begin(), a->ready.end());
    a->ready.clear();
    lock.unlock();
    for (auto& c : failed) fail_call(c, cause);
    lock.lock();
  }
  a->cv.notify_all();
}

void ActorHost::stop() {
  std::unordered_map<ActorId, std::shared_ptr<Actor>> actors;
  joining_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    actors.swap(actors_);
    before_creation_.clear();
  }
  auto cause = std::make_shared<const ErrorInfo>(
      hooks_.make_error(ErrorKind::actor_died, nullptr, "the runtime is shutting down"));
  for (auto& [id, a] : actors) {
    {
      std::lock_guard lock(a->mutex);
      if (a->state != Actor::State::dead) {
        a->stop_requested = true;
        a->stop_cause = cause;
      }
      a->cv.notify_all();
    }
    for (auto& t : a->threads) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else if (t.joinable()) {
        t.join();
      }
    }
  }
}

}  // namespace manta::engine

namespace manta {

void exit_actor() { throw engine::ActorExit{}; }

bool was_actor_restarted() noexcept { return engine::t_restarts_done > 0; }

}  // namespace manta
