// For multi-rank GoogleTest mains: ranks other than 0 print only their failures, each marked with
// the rank, so a problem seen there is not lost in (or missing from) rank 0's report.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>

namespace manta::testing {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.message());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

}  // namespace manta::testing
