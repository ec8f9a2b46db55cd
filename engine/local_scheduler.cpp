#include "engine/local_scheduler.h"

#include <sched.h>

#include <algorithm>

#include "engine/log.h"

namespace manta::engine {
namespace {

constexpr std::size_t kScanLimit = 64;  // tasks looked at to find one that fits
constexpr int kMaxInlineDepth = 256;    // nested inline runs on one thread's stack

struct WorkerContext {
  LocalScheduler* scheduler = nullptr;
  const ResourceSet* held = nullptr;  // resources of the task this thread runs
  int blocked_depth = 0;
  int inline_depth = 0;
  std::uint64_t waits = 0;  // blocked or ran another task inline: see waits_here()
};
thread_local WorkerContext t_worker;

}  // namespace

LocalScheduler::LocalScheduler(ResourceSet total, int threads, int max_threads, Runner run,
                               std::chrono::microseconds idle_spin, std::function<bool()> idle_poll)
    : total_(std::move(total)),
      total_cpus_(total_.get("CPU")),
      run_(std::move(run)),
      initial_threads_(threads),
      idle_spin_(idle_spin),
      idle_poll_(std::move(idle_poll)),
      max_threads_(static_cast<std::size_t>(std::max(threads, max_threads))),
      available_(total_) {}

LocalScheduler::~LocalScheduler() { stop(); }

LocalScheduler* LocalScheduler::current() noexcept { return t_worker.scheduler; }

std::uint64_t LocalScheduler::waits_here() noexcept { return t_worker.waits; }

void LocalScheduler::set_gpus(std::vector<int> ordinals) {
  std::lock_guard lock(mutex_);
  gpus_ = GpuPool(std::move(ordinals));
}

std::vector<double> LocalScheduler::gpus_used() const {
  std::lock_guard lock(mutex_);
  return gpus_.used();
}

bool LocalScheduler::fits(const TaskSpec& task, const ResourceSet& within) const {
  if (!task.resources->fits_in(within)) return false;
  return gpus_.empty() || gpus_.can_grant(GpuPool::amount(*task.resources));
}

void LocalScheduler::claim(const TaskPtr& task) {
  subtract_counted(*task->resources);
  if (!gpus_.empty()) task->gpu_ids = gpus_.grant(GpuPool::amount(*task->resources));
}

void LocalScheduler::unclaim(const TaskPtr& task) {
  add_counted(*task->resources);
  if (!task->gpu_ids.empty()) {
    gpus_.give_back(task->gpu_ids, GpuPool::amount(*task->resources));
    task->gpu_ids.clear();
  }
}

ResourceSet LocalScheduler::lendable(const ResourceSet& held) const {
  if (gpus_.empty() || GpuPool::amount(held) == 0) return held;
  ResourceSet lent;
  for (const auto& [name, value] : held.items()) {
    if (!GpuPool::is_gpu(name)) lent.set(name, value);
  }
  return lent;
}

void LocalScheduler::set_thread_start(std::function<void(std::size_t index)> hook) {
  std::lock_guard lock(mutex_);
  thread_start_ = std::move(hook);
}

void LocalScheduler::start() {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < initial_threads_; ++i) spawn_thread();
}

void LocalScheduler::spawn_thread() {
  if (threads_.size() >= max_threads_) {
    if (!warned_thread_cap_) {
      log().info(
          "{} worker threads started (--manta-max-workers); blocked workers now run queued "
          "tasks themselves",
          threads_.size());
      warned_thread_cap_ = true;
    }
    return;
  }
  threads_.emplace_back([this, index = threads_.size()] { worker_loop(index); });
}

void LocalScheduler::spawn_past_cap() {
  if (!warned_past_cap_) {
    log().warn(
        "worker threads past --manta-max-workers={}: the blocked workers' stacks are {} helped "
        "tasks deep, so queued tasks get a new thread (raise --manta-max-workers for nested "
        "gets this deep)",
        max_threads_, kMaxInlineDepth);
    warned_past_cap_ = true;
  }
  threads_.emplace_back([this, index = threads_.size()] { worker_loop(index); });
}

void LocalScheduler::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    waiters_cv_.notify_all();  // actor calls waiting in acquire give up
    queue_.clear();
    queued_by_id_.clear();
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // stop() called from a task: that thread ends when its task returns
    } else {
      t.join();
    }
  }
}

void LocalScheduler::enqueue(TaskPtr task) {
  Kick kick;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    if (!retired_.empty() && asks_retired(*task->resources)) {
      lock.unlock();  // its placement group was removed here
      if (rejected_) rejected_(task);
      return;
    }
    const bool starts = fits(*task, available_);
    queued_by_id_.emplace(task->id, task);
    queue_.push_back(std::move(task));
    if (starts) kick = kick_locked();
  }
  kick();
}

LocalScheduler::Kick LocalScheduler::kick_locked() {
  Kick kick;
  if (stopping_) return kick;
  if (idle_ > 0) {
    kick.cv = &cv_;  // even with one spinning: two tasks may run at once
  } else if (spinning_ > 0) {
    // a spinning worker looks at the queue itself
  } else if (threads_.size() < max_threads_) {
    spawn_thread();  // the threads lent their CPUs while blocked in get
  } else if (!blocked_.empty()) {
    // Under the lock: the blocked worker's waiter lives until worker_unblocked, which takes it.
    blocked_[helper_turn_++ % blocked_.size()].second();
  }  // else every thread runs a task and takes the next when it is done
  return kick;
}

void LocalScheduler::Kick::operator()() const {
  if (cv) cv->notify_one();
}

std::uint64_t LocalScheduler::load() const {
  std::lock_guard lock(mutex_);
  return queued_by_id_.size() + running_;
}

std::uint64_t LocalScheduler::queued() const {
  std::lock_guard lock(mutex_);
  return queued_by_id_.size();
}

void LocalScheduler::note_run_time(std::chrono::nanoseconds d) noexcept {
  // Workers race on the update; a lost sample only slows the mean down, which is harmless.
  // One long task takes the mean up at once (a backlog behind it is worth moving); a run of
  // short ones brings it down within a few dozen.
  const std::int64_t m = mean_run_ns_.load(std::memory_order_relaxed);
  mean_run_ns_.store(m < 0 ? d.count() : m + (d.count() - m) / 16, std::memory_order_relaxed);
}

std::chrono::nanoseconds LocalScheduler::drain_time(std::uint64_t queued) const noexcept {
  // CPUs that actors hold (outside the pool) do not work through the queue: with none left,
  // the queue never drains here.
  const double cpus = total_cpus_ - reserved_cpus_.load(std::memory_order_relaxed);
  const std::int64_t mean = mean_run_ns_.load(std::memory_order_relaxed);
  if (queued > 0 && (cpus < 0.5 || mean < 0)) return std::chrono::nanoseconds::max();
  const double ns = static_cast<double>(queued) *
                    static_cast<double>(std::max<std::int64_t>(0, mean)) / std::max(1.0, cpus);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(ns, 1e18)));
}

LocalScheduler::Admission LocalScheduler::admission(const ResourceSet& request) const {
  std::lock_guard lock(mutex_);
  Admission a;
  a.queued = queued_by_id_.size();
  // O(1) in the common cases (idle; busy; a long queue), so bulk submission stays fast.
  if (!request.fits_in(available_) || queue_.size() > kScanLimit) return a;
  if (queue_.empty()) {
    a.starts_now = true;
    return a;
  }
  ResourceSet free_now = available_;
  for (const TaskPtr& t : queue_) {
    if (t->resources->fits_in(free_now)) free_now.subtract(*t->resources);
  }
  a.starts_now = request.fits_in(free_now);
  return a;
}

std::vector<TaskPtr> LocalScheduler::take_waiting(
    std::size_t max, const std::function<bool(const TaskSpec&)>& movable) {
  std::vector<TaskPtr> taken;
  if (max == 0) return taken;
  std::lock_guard lock(mutex_);
  // The tasks the free resources reach start here soon; the rest wait.
  ResourceSet free_now = available_;
  std::vector<bool> starts(queue_.size(), false);
  for (std::size_t i = 0; i < queue_.size() && i < kScanLimit; ++i) {
    if (queue_[i]->resources->fits_in(free_now)) {
      free_now.subtract(*queue_[i]->resources);
      starts[i] = true;
    }
  }
  std::size_t looked = 0;  // a long queue of tasks that must stay is not scanned every time
  for (std::size_t i = queue_.size();
       i-- > 0 && taken.size() < max && looked++ < 16 * kScanLimit;) {
    if (starts[i] || !movable(*queue_[i])) continue;
    queued_by_id_.erase(queue_[i]->id);
    taken.push_back(std::move(queue_[i]));
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return taken;
}

ResourceSet LocalScheduler::available() const {
  std::lock_guard lock(mutex_);
  return available_;
}

void LocalScheduler::reserve(const ResourceSet& r, const std::vector<int>& gpu_ids) {
  std::lock_guard lock(mutex_);
  subtract_counted(r);
  gpus_.hold(gpu_ids, GpuPool::amount(r));
  reserved_cpus_.store(reserved_cpus_.load(std::memory_order_relaxed) + r.get("CPU"),
                       std::memory_order_relaxed);
}

void LocalScheduler::release(const ResourceSet& r, const std::vector<int>& gpu_ids) {
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    add_counted(r);
    gpus_.give_back(gpu_ids, GpuPool::amount(r));
    reserved_cpus_.store(reserved_cpus_.load(std::memory_order_relaxed) - r.get("CPU"),
                         std::memory_order_relaxed);
    if (has_runnable()) kick = kick_locked();
  }
  cv_.notify_all();  // a queued task may fit now
  kick();
}

void LocalScheduler::add_offer(const ResourceSet& offer) {
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    available_.add(offer);
    offered_.add(offer);
    if (!waiters_.empty()) serve_waiters();
    if (has_runnable()) kick = kick_locked();
  }
  kick();
}

std::vector<TaskPtr> LocalScheduler::retire_offer(const std::map<std::string, std::string>& bases) {
  std::vector<TaskPtr> taken;
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    ResourceSet back;
    for (const auto& [name, base] : bases) {
      // Free now (below zero while a holder lent it back in get: it takes it again as base).
      if (!base.empty()) back.set(base, back.get(base) + available_.get(name));
      available_.set(name, 0);
      retired_[name] = base;
    }
    available_.add(back);
    if (!waiters_.empty()) serve_waiters();
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (asks_retired(*(*it)->resources)) {
        queued_by_id_.erase((*it)->id);
        taken.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (has_runnable()) kick = kick_locked();
  }
  cv_.notify_all();
  kick();
  return taken;
}

ResourceSet LocalScheduler::counted(const ResourceSet& r) const {
  if (retired_.empty() || !asks_retired(r)) return r;
  ResourceSet out;
  for (const auto& [name, amount] : r.items()) {
    auto it = retired_.find(name);
    if (it == retired_.end()) {
      out.set(name, out.get(name) + amount);
    } else if (!it->second.empty()) {
      out.set(it->second, out.get(it->second) + amount);
    }
  }
  return out;
}

void LocalScheduler::add_counted(const ResourceSet& r) {
  if (retired_.empty() || !asks_retired(r)) {
    available_.add(r);  // the common case copies nothing
  } else {
    available_.add(counted(r));
  }
  if (!waiters_.empty()) serve_waiters();
}

const ResourceSet& LocalScheduler::room_for_tasks() const {
  if (waiters_.empty()) return available_;
  room_ = available_;
  room_.subtract(counted(*waiters_.front()->request));
  return room_;
}

void LocalScheduler::serve_waiters() {
  bool granted = false;
  while (!waiters_.empty()) {
    Waiter& w = *waiters_.front();
    const double gpus = GpuPool::amount(*w.request);
    if (!counted(*w.request).fits_in(available_) ||
        (!gpus_.empty() && gpus > 0 && !gpus_.can_grant(gpus))) {
      break;
    }
    subtract_counted(*w.request);
    w.granted = (gpus_.empty() || gpus == 0) ? std::vector<int>{} : gpus_.grant(gpus);
    waiters_.pop_front();
    granted = true;
  }
  if (granted) waiters_cv_.notify_all();
}

std::optional<std::vector<int>> LocalScheduler::acquire(const ResourceSet& r,
                                                        const std::function<bool()>& cancelled) {
  Waiter me{&r, std::nullopt};
  std::unique_lock lock(mutex_);
  if (stopping_) return std::nullopt;
  waiters_.push_back(&me);
  serve_waiters();
  // Polled as well as woken: a cancellation (the actor killed) has no notification here.
  while (!me.granted && !stopping_) {
    waiters_cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (me.granted || stopping_) break;
    lock.unlock();
    const bool stop = cancelled && cancelled();
    lock.lock();
    if (stop) break;
  }
  if (me.granted) return std::move(me.granted);
  std::erase(waiters_, &me);
  // The next waiter may fit now, and queued tasks the room this one kept.
  serve_waiters();
  Kick kick;
  if (has_runnable()) kick = kick_locked();
  lock.unlock();
  kick();
  return std::nullopt;
}

void LocalScheduler::give_back(const ResourceSet& r, const std::vector<int>& gpu_ids) {
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    // Devices first: add_counted serves the waiters, and the GPUs may be what the first lacked.
    if (!gpu_ids.empty()) gpus_.give_back(gpu_ids, GpuPool::amount(r));
    add_counted(r);
    if (has_runnable()) kick = kick_locked();
  }
  cv_.notify_all();
  kick();
}

std::string LocalScheduler::could_fit(const ResourceSet& r, const ResourceSet& kept) const {
  std::lock_guard lock(mutex_);
  const ResourceSet asked = counted(r);
  const ResourceSet held = counted(kept);
  for (const auto& [name, amount] : asked.items()) {
    // A base resource: the rank's total. A bundle's: what its group offers here. Either way
    // less what the asking actor holds for its whole life.
    const double offered = total_.get(name) > 0 ? total_.get(name) : offered_.get(name);
    const double can = offered - held.get(name);
    if (amount > can + 1e-9) {
      return fmt::format("{} {} asked but this rank offers {}{}", amount, name, offered,
                         can < offered
                             ? fmt::format(" of which the actor itself holds {}", offered - can)
                             : std::string());
    }
  }
  return {};
}

void LocalScheduler::subtract_counted(const ResourceSet& r) {
  if (retired_.empty() || !asks_retired(r)) {
    available_.subtract(r);
  } else {
    available_.subtract(counted(r));
  }
}

bool LocalScheduler::asks_retired(const ResourceSet& r) const {
  return std::any_of(r.items().begin(), r.items().end(),
                     [&](const auto& item) { return retired_.contains(item.first); });
}

std::size_t LocalScheduler::thread_count() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

TaskPtr LocalScheduler::pop_runnable(const ResourceSet& within, bool newest) {
  auto take = [&](auto it) {
    TaskPtr t = std::move(*it);
    queue_.erase(it);
    queued_by_id_.erase(t->id);
    return t;
  };
  std::size_t scanned = 0;
  if (newest) {
    for (auto it = queue_.rbegin(); it != queue_.rend() && scanned < kScanLimit; ++it, ++scanned) {
      if (fits(**it, within)) return take(std::next(it).base());
    }
    return nullptr;
  }
  for (auto it = queue_.begin(); it != queue_.end() && scanned < kScanLimit; ++it, ++scanned) {
    if (fits(**it, within)) return take(it);
  }
  return nullptr;
}

bool LocalScheduler::has_runnable() const {
  std::size_t scanned = 0;
  const ResourceSet& room = room_for_tasks();
  for (auto it = queue_.begin(); it != queue_.end() && scanned < kScanLimit; ++it, ++scanned) {
    if (fits(**it, room)) return true;
  }
  return false;
}

void LocalScheduler::worker_loop(std::size_t index) {
  if (thread_start_) thread_start_(index);  // set before start(), never changed after
  t_worker.scheduler = this;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    TaskPtr task = pop_runnable(room_for_tasks());
    if (!task) {
      // Poll briefly first: the next task usually comes within microseconds of the last.
      const auto until = std::chrono::steady_clock::now() + idle_spin_;
      bool more = false;
      ++spinning_;
      while (!more && !stopping_ && std::chrono::steady_clock::now() < until) {
        lock.unlock();
        if (!idle_poll_ || !idle_poll_()) sched_yield();
        lock.lock();
        more = has_runnable();  // a queued task that cannot run yet is no reason to spin
      }
      --spinning_;
      if (more || stopping_) continue;
      ++idle_;
      cv_.wait(lock);
      --idle_;
      continue;
    }
    claim(task);
    ++running_;
    lock.unlock();
    t_worker.held = task->resources.get();
    run_(task);
    t_worker.held = nullptr;
    lock.lock();
    unclaim(task);
    task.reset();
    if (idle_ > 0 && !queue_.empty()) cv_.notify_one();  // a larger task may fit now
    --running_;
  }
}

void LocalScheduler::worker_blocked(const void* key, std::function<void()> wake) {
  if (t_worker.scheduler != this || !t_worker.held) return;
  ++t_worker.waits;
  if (t_worker.blocked_depth++ > 0) return;
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    add_counted(lendable(*t_worker.held));
    if (has_runnable()) {
      if (idle_ > 0 || spinning_ > 0 || threads_.size() < max_threads_) {
        kick = kick_locked();
      } else {
        spawn_thread();  // at the cap: only logs so, once; the caller helps next
      }
    }
    blocked_.emplace_back(key, std::move(wake));
  }
  kick();
}

void LocalScheduler::worker_unblocked(const void* key) {
  if (t_worker.scheduler != this || !t_worker.held) return;
  if (--t_worker.blocked_depth > 0) return;
  std::lock_guard lock(mutex_);
  std::erase_if(blocked_, [key](const auto& b) { return b.first == key; });
  // May go below zero for a moment: the lent resources come back before others finish.
  subtract_counted(lendable(*t_worker.held));
}

bool LocalScheduler::help(const void* key) {
  if (t_worker.scheduler != this || !t_worker.held) return false;
  TaskPtr task;
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    if (threads_.size() < max_threads_ || idle_ > 0 || spinning_ > 0) {
      // Another worker takes the queued work; make sure one is awake to see it.
      if (idle_ > 0 && spinning_ == 0 && has_runnable()) cv_.notify_one();
      return false;
    }
    if (t_worker.inline_depth >= kMaxInlineDepth) {
      // This stack is full of helped tasks, each waiting for work that may sit in the queue.
      // Helping is bounded and the pool is full: a thread past the cap keeps the queue moving.
      if (has_runnable()) spawn_past_cap();
      return false;
    }
    task = pop_runnable(room_for_tasks(), /*newest=*/true);
    if (!task) return false;
    claim(task);
    // Busy helping: not a candidate to be woken for more work until it returns.
    auto it = std::find_if(blocked_.begin(), blocked_.end(),
                           [key](const auto& b) { return b.first == key; });
    if (it != blocked_.end()) {
      wake = std::move(it->second);
      blocked_.erase(it);
    }
  }
  run_claimed(task);
  Kick kick;
  {
    std::lock_guard lock(mutex_);
    unclaim(task);
    if (wake) blocked_.emplace_back(key, std::move(wake));
    // The caller may go back to waiting (or return to its own task): another thread must see
    // the queued work the freed resources now fit. Without this the work waits forever.
    if (has_runnable()) kick = kick_locked();
  }
  kick();
  return true;
}

void LocalScheduler::run_claimed(const TaskPtr& task) {
  {
    std::lock_guard lock(mutex_);
    ++running_;
  }
  // The inline task runs under this thread's grant; it is not blocked while it runs.
  const ResourceSet* held = t_worker.held;
  const int blocked = t_worker.blocked_depth;
  t_worker.held = task->resources.get();
  t_worker.blocked_depth = 0;
  ++t_worker.inline_depth;
  ++t_worker.waits;
  run_(task);
  --t_worker.inline_depth;
  t_worker.blocked_depth = blocked;
  t_worker.held = held;
  std::lock_guard lock(mutex_);
  --running_;
}

bool LocalScheduler::run_inline(const TaskId& id) {
  // A worker that lent its resources (blocked) no longer holds them: help() runs tasks then.
  if (t_worker.scheduler != this || !t_worker.held || t_worker.blocked_depth > 0 ||
      t_worker.inline_depth >= kMaxInlineDepth) {
    return false;
  }
  TaskPtr task;
  {
    std::lock_guard lock(mutex_);
    auto it = queued_by_id_.find(id);
    if (it == queued_by_id_.end() || !it->second->resources->fits_in(*t_worker.held)) return false;
    // A task with GPUs of its own waits for a grant of devices; it does not borrow the caller's.
    if (!gpus_.empty() && GpuPool::amount(*it->second->resources) > 0) return false;
    // The awaited task is usually the newest (a call waited for at once) or the oldest (a get
    // over a wave, in order, while the workers take from the front): look from both ends, so a
    // wave of n tasks costs n steps, not n * n / 2.
    std::size_t pos = queue_.size();
    for (std::size_t lo = 0, hi = queue_.size(); lo < hi; ++lo) {
      if (queue_[lo] == it->second) {
        pos = lo;
        break;
      }
      if (queue_[--hi] == it->second) {
        pos = hi;
        break;
      }
    }
    if (pos == queue_.size()) return false;
    task = std::move(it->second);
    queued_by_id_.erase(it);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  run_claimed(task);
  return true;
}

}  // namespace manta::engine
