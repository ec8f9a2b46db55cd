// Raw MPI baselines shared by peer_bench.cpp and scaling_bench.cpp: the message pattern of
// asynchronous tasks, with nothing but MPI. Run before manta::init, on MPI_COMM_WORLD.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <thread>
#include <vector>

namespace manta::bench {

/// A barrier that sleeps instead of spinning, so ranks that only wait leave the cores to the
/// ranks being measured, as idle Manta ranks do.
inline void quiet_barrier() {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

/// Rank 0 keeps `window` 16-byte requests in flight, dealt round-robin to ranks 1..servers, and
/// each is answered by a 16-byte reply: one message each way per task, no batching. Requests
/// per second. Every rank calls it; ranks past `servers` only wait.
inline double mpi_request_reply_rate(int n, int window, int servers) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  quiet_barrier();
  const auto t0 = std::chrono::steady_clock::now();
  if (rank == 0) {
    const auto w_max = static_cast<std::size_t>(window);
    std::vector<std::uint64_t> out(2 * w_max), in(2 * w_max);
    std::vector<MPI_Request> reqs(2 * w_max);
    for (int done = 0; done < n; done += window) {
      const int w = std::min(window, n - done);
      for (int i = 0; i < w; ++i)
        MPI_Irecv(&in[2 * i], 2, MPI_UINT64_T, 1 + (done + i) % servers, 4, MPI_COMM_WORLD,
                  &reqs[2 * i]);
      for (int i = 0; i < w; ++i) {
        out[2 * i] = static_cast<std::uint64_t>(done + i);
        MPI_Isend(&out[2 * i], 2, MPI_UINT64_T, 1 + (done + i) % servers, 3, MPI_COMM_WORLD,
                  &reqs[2 * i + 1]);
      }
      MPI_Waitall(2 * w, reqs.data(), MPI_STATUSES_IGNORE);
      if (in[0] != static_cast<std::uint64_t>(done)) {
        std::fprintf(stderr, "MPI request/reply: wrong reply\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
  } else if (rank <= servers) {
    // Rank r serves requests r-1, r-1+servers, ...
    const int mine = n / servers + ((rank - 1) < n % servers ? 1 : 0);
    std::uint64_t msg[2] = {};
    for (int i = 0; i < mine; ++i) {
      MPI_Recv(msg, 2, MPI_UINT64_T, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(msg, 2, MPI_UINT64_T, 0, 4, MPI_COMM_WORLD);
    }
  }
  const double rate =
      n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  quiet_barrier();
  return rate;
}

/// The best of mpi_request_reply_rate over a few windows: the rate falls off on both sides (too
/// few in flight leaves the ranks waiting, thousands fill the unexpected-message queues), and
/// the strictest baseline is the best MPI can do.
inline double best_mpi_request_reply_rate(int n, int servers) {
  double best = 0;
  for (int window : {16, 64, 256}) {
    mpi_request_reply_rate(std::min(n, 10 * window), window, servers);  // warm up
    best = std::max(best, mpi_request_reply_rate(n, window, servers));
  }
  return best;
}

}  // namespace manta::bench
