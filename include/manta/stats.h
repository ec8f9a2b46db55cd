// Counters of the calling rank: what it ran, what it sent, what it stores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace manta {

struct RankStats {
  int rank = 0;
  std::uint64_t tasks_submitted = 0;       // by code on this rank
  std::uint64_t tasks_executed = 0;        // run by this rank's workers
  std::uint64_t tasks_forwarded = 0;       // handed to the global scheduler
  std::uint64_t tasks_handed_on = 0;       // waiting here while another rank was free (spillback)
  std::uint64_t messages_sent = 0;         // control messages
  std::uint64_t batches_sent = 0;          // MPI sends carrying them
  std::uint64_t bytes_transferred = 0;     // large-object payload, in and out
  std::vector<std::uint64_t> messages_to;  // control messages per destination rank
  std::uint64_t results_sent = 0;          // results of tasks run here, to owners elsewhere
  std::uint64_t result_batches = 0;        // control messages that carried them, in batches
  std::uint64_t tasks_leased = 0;          // sent straight to a rank rank 0 lent room on
  std::uint64_t lease_requests = 0;        // requests for such room sent to rank 0
  std::uint64_t tasks_refused = 0;         // leased tasks this busy rank handed back
  std::uint64_t objects = 0;               // entries in this rank's object store
  std::uint64_t object_bytes = 0;          // bytes they hold here
  std::uint64_t worker_threads = 0;
  std::string transport;  // how large objects move: "ucx" or "mpi"
  // UCX endpoints to other ranks, made at start (jobs up to --manta-ucx-eager-endpoints ranks)
  // or by the first read from a rank (larger jobs).
  std::uint64_t endpoints_eager = 0;
  std::uint64_t endpoints_on_first_use = 0;
};

/// This rank's counters (call it inside a task to read another rank's).
RankStats local_stats();

}  // namespace manta
