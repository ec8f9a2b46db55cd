// GoogleTest main for multi-rank tests: every rank calls init; rank 0 runs the tests as the
// driver while the other ranks serve tasks.
#include <gtest/gtest.h>

#include <manta/manta.h>

int main(int argc, char** argv) {
  manta::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  manta::shutdown();
  return rc;
}
