// A job whose rank 1 dies in the middle of a task, for the crash-report tests. The first argument
// says how: `segv` (reads through a null pointer), `overflow` (unbounded recursion), `abort`
// (an actor call calls abort()) or `kill` (the task sends itself SIGKILL, which no handler sees).
#include <manta/job.h>
#include <manta/manta.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {
volatile int* volatile g_null = nullptr;  // volatile: the compiler must not drop the read
}

int read_through_null(int x) { return *g_null + x; }

int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  return depth < 0 ? pad[0] : recurse(depth + 1) + pad[0];
}
int overflow_stack(int x) { return recurse(x); }

int kill_self(int x) {
  ::raise(SIGKILL);
  return x;
}

struct Worker {
  static Worker* create() { return new Worker{}; }
  int fail(int x) {
    std::abort();
    return x;
  }
};

MANTA_REMOTE(read_through_null, overflow_stack, kill_self, Worker::create, &Worker::fail);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "segv";
  const int on = manta::world_size() - 1;
  // Under manta run, wait until every rank's first report is in the status file, so that the
  // job directory knows the host and pid of the rank that will die.
  if (const char* dir = std::getenv("MANTA_JOB_DIR")) {
    for (int i = 0; i < 600; ++i) {
      bool all = false;
      try {
        const auto s = manta::read_job_status(dir);
        all = static_cast<int>(s.ranks.size()) == manta::world_size();
        for (const auto& r : s.ranks) all = all && r.reported_ms != 0;
      } catch (const std::exception&) {
        // not written yet
      }
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::printf("driver: rank %d will die (%s)\n", on, mode.c_str());
  std::fflush(stdout);
  int v = 0;
  if (mode == "segv") {
    v = *manta::get(manta::task(read_through_null).on_rank(on).remote(1));
  } else if (mode == "overflow") {
    v = *manta::get(manta::task(overflow_stack).on_rank(on).remote(1));
  } else if (mode == "kill") {
    v = *manta::get(manta::task(kill_self).on_rank(on).remote(1));
  } else if (mode == "abort") {
    auto w = manta::actor(Worker::create).on_rank(on).remote();
    v = *manta::get(w.task(&Worker::fail).remote(1));
  } else {
    std::fprintf(stderr, "unknown mode %s: segv, overflow, kill or abort\n", mode.c_str());
    return 2;
  }
  std::printf("driver: unexpected result %d\n", v);
  return 1;
}
