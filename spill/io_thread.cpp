#include "spill/io_thread.h"

#include <pthread.h>

#include <utility>

namespace manta::spill {

IoThread::IoThread() {
  thread_ = std::thread([this] { loop(); });
  // Named, so that a stuck file system shows up clearly in a debugger or top.
  pthread_setname_np(thread_.native_handle(), "manta-io");
}

IoThread::~IoThread() {
  stop();
  // Only when the last job itself destroyed this object: the thread cannot join itself.
  if (thread_.joinable()) thread_.detach();
}

void IoThread::post(std::function<void()> job) {
  {
    std::unique_lock lock(mutex_);
    // While the thread still drains after stop(), new jobs join the queue, so that jobs never
    // run on two threads at once.
    if (!exited_) {
      jobs_.push_back(std::move(job));
      lock.unlock();
      cv_.notify_one();
      return;
    }
  }
  job();
}

std::size_t IoThread::pending() const {
  std::lock_guard lock(mutex_);
  return jobs_.size() + running_;
}

void IoThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void IoThread::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return !jobs_.empty() || stopping_; });
    if (jobs_.empty()) {
      exited_ = true;
      return;
    }
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    running_ = 1;
    lock.unlock();
    job();
    // What the job captured goes before the next job starts, outside the lock.
    job = nullptr;
    lock.lock();
    running_ = 0;
  }
}

}  // namespace manta::spill
