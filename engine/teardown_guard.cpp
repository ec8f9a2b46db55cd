#include "engine/teardown_guard.h"

#include <cstdio>
#include <cstdlib>

#include "engine/log.h"

namespace manta::engine {

TeardownGuard::TeardownGuard(int rank, std::chrono::milliseconds limit, int exit_code,
                             std::function<void(int)> last_words)
    : rank_(rank),
      limit_(limit),
      exit_code_(exit_code),
      last_words_(std::move(last_words)),
      deadline_(std::chrono::steady_clock::now() + limit) {
  thread_ = std::thread([this] { watch(); });
}

TeardownGuard::~TeardownGuard() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void TeardownGuard::step(std::string name) {
  std::lock_guard lock(mutex_);
  step_ = std::move(name);
  deadline_ = std::chrono::steady_clock::now() + limit_;
}

void TeardownGuard::watch() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto deadline = deadline_;
    if (cv_.wait_until(lock, deadline, [&] { return done_ || deadline_ != deadline; })) {
      if (done_) return;
      continue;  // a new step: a new deadline
    }
    const long long ms = limit_.count();
    // The job's work and its summary are done: say where the teardown stuck and end.
    log().error("teardown: {} did not finish within {} ms; ending rank {} with exit code {}", step_,
                ms, rank_, exit_code_);
    log().flush();
    std::fprintf(stderr,
                 "manta: rank %d: %s did not finish within %lld ms after the job's work ended; "
                 "ending the process (exit code %d)\n",
                 rank_, step_.c_str(), ms, exit_code_);
    std::fflush(stdout);
    std::fflush(stderr);
    if (last_words_) last_words_(exit_code_);
    std::_Exit(exit_code_);
  }
}

}  // namespace manta::engine
