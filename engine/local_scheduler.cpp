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
};
thread_local WorkerContext t_worker;

}  // namespace

LocalScheduler::LocalScheduler(ResourceSet total, int threads, int max_threads, Runner run,
                               std::chrono::microseconds idle_spin, std::function<bool()> idle_poll)
    : total_(std::move(total)),
      run_(std::move(run)),
      initial_threads_(threads),
      idle_spin_(idle_spin),
      idle_poll_(std::move(idle_poll)),
      max_threads_(static_cast<std::size_t>(std::max(threads, max_threads))),
      available_(total_) {}

LocalScheduler::~LocalScheduler() { stop(); }

LocalScheduler* LocalScheduler::current() noexcept { return t_worker.scheduler; }

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
  threads_.emplace_back([this] { worker_loop(); });
}

void LocalScheduler::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
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
  bool wake;
  std::function<void()> helper;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    // Free resources but no idle thread means the threads lent their CPUs while blocked in get.
    const bool start_thread = idle_ == 0 && spinning_ == 0 && task->resources->fits_in(available_);
    queued_by_id_.emplace(task->id, task);
    queue_.push_back(std::move(task));
    wake = idle_ > 0;
    if (start_thread) {
      if (threads_.size() < max_threads_) {
        spawn_thread();
      } else if (!blocked_.empty()) {
        helper = blocked_[helper_turn_++ % blocked_.size()].second;
      }
    }
  }
  if (wake) cv_.notify_one();
  if (helper) helper();
}

std::uint64_t LocalScheduler::load() const {
  std::lock_guard lock(mutex_);
  return queued_by_id_.size() + running_;
}

std::uint64_t LocalScheduler::queued() const {
  std::lock_guard lock(mutex_);
  return queued_by_id_.size();
}

ResourceSet LocalScheduler::available() const {
  std::lock_guard lock(mutex_);
  return available_;
}

void LocalScheduler::reserve(const ResourceSet& r) {
  std::lock_guard lock(mutex_);
  available_.subtract(r);
}

void LocalScheduler::release(const ResourceSet& r) {
  {
    std::lock_guard lock(mutex_);
    available_.add(r);
  }
  cv_.notify_all();  // a queued task may fit now
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
      if ((*it)->resources->fits_in(within)) return take(std::next(it).base());
    }
    return nullptr;
  }
  for (auto it = queue_.begin(); it != queue_.end() && scanned < kScanLimit; ++it, ++scanned) {
    if ((*it)->resources->fits_in(within)) return take(it);
  }
  return nullptr;
}

bool LocalScheduler::has_runnable() const {
  std::size_t scanned = 0;
  for (auto it = queue_.begin(); it != queue_.end() && scanned < kScanLimit; ++it, ++scanned) {
    if ((*it)->resources->fits_in(available_)) return true;
  }
  return false;
}

void LocalScheduler::worker_loop() {
  t_worker.scheduler = this;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    TaskPtr task = pop_runnable(available_);
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
    auto resources = task->resources;
    available_.subtract(*resources);
    ++running_;
    lock.unlock();
    t_worker.held = resources.get();
    run_(task);
    task.reset();
    t_worker.held = nullptr;
    lock.lock();
    available_.add(*resources);
    if (idle_ > 0 && !queue_.empty()) cv_.notify_one();  // a larger task may fit now
    --running_;
  }
}

void LocalScheduler::worker_blocked(const void* key, std::function<void()> wake) {
  if (t_worker.scheduler != this || !t_worker.held) return;
  if (t_worker.blocked_depth++ > 0) return;
  bool notify = false;
  {
    std::lock_guard lock(mutex_);
    available_.add(*t_worker.held);
    blocked_.emplace_back(key, std::move(wake));
    if (!queue_.empty()) {
      if (idle_ == 0 && spinning_ == 0 && !stopping_) {
        spawn_thread();
      } else {
        notify = true;
      }
    }
  }
  if (notify) cv_.notify_one();
}

void LocalScheduler::worker_unblocked(const void* key) {
  if (t_worker.scheduler != this || !t_worker.held) return;
  if (--t_worker.blocked_depth > 0) return;
  std::lock_guard lock(mutex_);
  std::erase_if(blocked_, [key](const auto& b) { return b.first == key; });
  // May go below zero for a moment: the lent resources come back before others finish.
  available_.subtract(*t_worker.held);
}

bool LocalScheduler::help(const void* key) {
  if (t_worker.scheduler != this || !t_worker.held || t_worker.inline_depth >= kMaxInlineDepth) {
    return false;
  }
  TaskPtr task;
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || threads_.size() < max_threads_ || idle_ > 0 || spinning_ > 0) return false;
    task = pop_runnable(available_, /*newest=*/true);
    if (!task) return false;
    available_.subtract(*task->resources);
    // Busy helping: not a candidate to be woken for more work until it returns.
    auto it = std::find_if(blocked_.begin(), blocked_.end(),
                           [key](const auto& b) { return b.first == key; });
    if (it != blocked_.end()) {
      wake = std::move(it->second);
      blocked_.erase(it);
    }
  }
  run_claimed(task);
  std::lock_guard lock(mutex_);
  available_.add(*task->resources);
  if (wake) blocked_.emplace_back(key, std::move(wake));
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
  run_(task);
  --t_worker.inline_depth;
  t_worker.blocked_depth = blocked;
  t_worker.held = held;
  std::lock_guard lock(mutex_);
  --running_;
}

bool LocalScheduler::run_inline(const TaskId& id) {
  if (t_worker.scheduler != this || !t_worker.held || t_worker.inline_depth >= kMaxInlineDepth) {
    return false;
  }
  TaskPtr task;
  {
    std::lock_guard lock(mutex_);
    auto it = queued_by_id_.find(id);
    if (it == queued_by_id_.end() || !it->second->resources->fits_in(*t_worker.held)) return false;
    // The awaited task was usually submitted just now: look for it from the back.
    auto pos = std::find(queue_.rbegin(), queue_.rend(), it->second);
    if (pos == queue_.rend()) return false;
    task = std::move(it->second);
    queued_by_id_.erase(it);
    queue_.erase(std::next(pos).base());
  }
  run_claimed(task);
  return true;
}

}  // namespace manta::engine
