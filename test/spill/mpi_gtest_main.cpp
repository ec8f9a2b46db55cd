// GoogleTest main for spill/'s multi-rank tests: plain MPI (no engine), the same tests on every
// rank in the same order, output from rank 0 only (other ranks print just their failures,
// prefixed with their rank), and one exit status agreed by all ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include "../rank_failure_printer.h"

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  // Every rank must run the tests in one order: no shuffling.
  GTEST_FLAG_SET(shuffle, false);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new manta::testing::RankFailurePrinter(rank));
  }
  const int rc = RUN_ALL_TESTS();
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
