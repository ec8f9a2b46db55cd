// The start-up handshake, collective at init: every rank learns the rank table (host,
// resources), and the job stops at once if ranks registered different functions.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/resources.h"

namespace manta::engine {

struct RankInfo {
  int rank = 0;
  std::string host;
  ResourceSet total;
};

/// Collective. Every rank gets the whole table.
std::vector<RankInfo> exchange_rank_table(MPI_Comm comm, const RankInfo& mine);

/// Collective. Returns an empty string when every rank registered the same functions, else the
/// same explanation on every rank: which ranks differ and which functions they lack or add.
std::string check_function_tables(MPI_Comm comm, const std::string& my_listing);

/// What two listings (one "name signature" per line) disagree on, in words.
std::string describe_listing_difference(const std::string& reference, int reference_rank,
                                        const std::string& other, int other_rank);

}  // namespace manta::engine
