// GoogleTest main for the transport tests: MPI through transport::start_mpi (no manta::init, no
// engine), the same tests on every rank, output from rank 0 only (other ranks print just their
// failures, prefixed with their rank), and one exit status agreed by all ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>

#include "../rank_failure_printer.h"
#include "harness.h"
#include "transport/mpi_world.h"

namespace manta::transport::testing {
namespace {

MpiWorld g_world;

}  // namespace

MpiWorld& world() { return g_world; }

}  // namespace manta::transport::testing

int main(int argc, char** argv) {
  using manta::transport::testing::g_world;
  g_world = manta::transport::start_mpi(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  // All ranks must run the tests in the same order: share rank 0's shuffle seed.
  if (GTEST_FLAG_GET(shuffle)) {
    int seed = GTEST_FLAG_GET(random_seed);
    if (seed == 0) {
      seed =
          static_cast<int>(std::chrono::steady_clock::now().time_since_epoch().count() % 99999 + 1);
    }
    MPI_Bcast(&seed, 1, MPI_INT, 0, g_world.comm);
    GTEST_FLAG_SET(random_seed, seed);
  }
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (g_world.rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new manta::testing::RankFailurePrinter(g_world.rank));
  }
  const int rc = RUN_ALL_TESTS();
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, g_world.comm);
  manta::transport::finish_mpi(g_world);
  return worst;
}
