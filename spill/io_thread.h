// A thread that runs file work in order (spill writes, restores, reads of other ranks' files),
// so that slow disks never stall the progress thread or workers. The HDF5 work of its jobs holds
// the process's HDF5 lock (spill/hdf5_lock.h) inside the spill classes' methods, not for a whole
// job: a job may wait for other ranks or threads, and the lock's holders must not.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace manta::spill {

class IoThread {
 public:
  IoThread();
  /// Runs the jobs already posted, then joins.
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  /// Queues `job`; jobs run one at a time in the order posted. A job that throws is a bug:
  /// jobs catch their own errors and report them through their callbacks.
  void post(std::function<void()> job);
  /// Jobs posted and not yet finished.
  [[nodiscard]] std::size_t pending() const;
  /// Runs the jobs already posted, then stops the thread; later posts run inline.
  void stop();

 private:
  void loop();
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  bool exited_ = false;  // the thread has drained the queue after stop() and returned
  std::thread thread_;
};

}  // namespace manta::spill
