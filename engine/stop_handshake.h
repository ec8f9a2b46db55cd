// Stopping the job: rank 0 tells every rank to stop (shutdown); each stops its work, sends what
// it still owes and acknowledges (shutdown_ack), after which nothing more comes from it.
// Runtime::shutdown and Runtime::serve send both messages; this part receives them and lets
// Runtime wait for them.
//
// Handles: shutdown, shutdown_ack.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace manta::engine {

class Dispatcher;

class StopHandshake {
 public:
  void register_handlers(Dispatcher& d);

  /// Ranks > 0: blocks until rank 0 says stop.
  void wait_for_stop();
  /// Rank 0: waits until `ranks` acknowledgements came, or `timeout` passed. Returns how many
  /// came.
  int wait_for_acks(int ranks, std::chrono::seconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  int acks_ = 0;
};

}  // namespace manta::engine
