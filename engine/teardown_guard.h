// Bounds the last steps of a rank's teardown: stopping the data plane and MPI_Finalize wait on
// other ranks and on libraries. A peer that is gone or a library that stalls would otherwise keep
// a job whose work is done in its allocation until the batch system kills it. When a step
// outlives the limit, the rank says which step stalled and ends the process with the job's code.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace manta::engine {

class TeardownGuard {
 public:
  /// Armed from construction to destruction; `exit_code` is what the process ends with if a step
  /// stalls, after `last_words(exit_code)` (e.g. the rank's exit record).
  TeardownGuard(int rank, std::chrono::milliseconds limit, int exit_code,
                std::function<void(int)> last_words = {});
  ~TeardownGuard();
  TeardownGuard(const TeardownGuard&) = delete;
  TeardownGuard& operator=(const TeardownGuard&) = delete;

  /// Names the step that runs now (for the message) and gives it the whole limit.
  void step(std::string name);

 private:
  void watch();

  const int rank_;
  const std::chrono::milliseconds limit_;
  const int exit_code_;
  std::function<void(int)> last_words_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string step_;
  std::chrono::steady_clock::time_point deadline_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace manta::engine
