// SpillDirectory: a private per-job directory made with its parents, by several ranks at once;
// a clear error where it cannot be made or written; free space; removal.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "spill/spill_directory.h"
#include "spill_test_support.h"

namespace {

using manta::spill::SpillDirectory;
using manta::spill::SpillError;
using spill_test::TempDir;

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(SpillDirectory, MakesAPrivateJobDirectoryAndItsParents) {
  TempDir tmp;
  const std::string root = tmp.file("a/b");
  SpillDirectory d(root, "job42");
  EXPECT_EQ(d.path(), root + "/manta-job42");
  EXPECT_TRUE(std::filesystem::is_directory(d.path()));
  EXPECT_EQ(mode_of(d.path()), 0700u);
  EXPECT_EQ(mode_of(tmp.file("a")), 0700u);
  EXPECT_EQ(mode_of(root), 0700u);
  // The probe file is gone; what stays is this process's owner record.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(d.path()))
    names.push_back(e.path().filename().string());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind("owner-", 0), 0u) << names[0];
  EXPECT_EQ(mode_of(d.path() + "/" + names[0]), 0600u);
  EXPECT_EQ(d.file_for_rank(3), d.path() + "/rank-3.h5");
  // Made again (another rank, a restart): fine.
  SpillDirectory again(root + "/", "job42");
  EXPECT_EQ(again.path(), d.path());
}

TEST(SpillDirectory, ManyRanksMakeItAtOnce) {
  TempDir tmp;
  const std::string root = tmp.file("shared/spill");
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        SpillDirectory d(root, "job");
      } catch (const SpillError&) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(std::filesystem::is_directory(root + "/manta-job"));
}

TEST(SpillDirectory, UnusablePathSaysWhyAndHowToFixIt) {
  TempDir tmp;
  // Tests may run as root, who may write anywhere: make the path impossible instead.
  const std::string file = tmp.file("plain-file");
  std::ofstream(file) << "not a directory";
  const std::string root = file + "/sub";
  try {
    SpillDirectory d(root, "job");
    FAIL() << "made a directory under a regular file";
  } catch (const SpillError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find(root), std::string::npos) << what;
    EXPECT_NE(what.find(file + " is not a directory"), std::string::npos) << what;
    EXPECT_NE(what.find("--manta-spill-dir"), std::string::npos) << what;
  }
  EXPECT_THROW(SpillDirectory("/proc/manta-spill-test", "job"), SpillError);
  EXPECT_THROW(SpillDirectory(tmp.path(), ""), SpillError);
  EXPECT_THROW(SpillDirectory(tmp.path(), "a/b"), SpillError);
}

TEST(SpillDirectory, ReportsFreeSpace) {
  TempDir tmp;
  SpillDirectory d(tmp.path(), "job");
  EXPECT_GT(d.free_bytes(), 0u);
}

TEST(SpillDirectory, RemoveDeletesTheJobDirectoryOnly) {
  TempDir tmp;
  SpillDirectory d(tmp.path(), "job");
  std::ofstream(d.file_for_rank(0)) << "spilled bytes";
  std::filesystem::create_directory(d.path() + "/nested");
  std::ofstream(d.path() + "/nested/x") << "x";
  d.remove();
  EXPECT_FALSE(std::filesystem::exists(d.path()));
  EXPECT_TRUE(std::filesystem::is_directory(tmp.path()));
  d.remove();  // already gone: still no exception
}

}  // namespace
