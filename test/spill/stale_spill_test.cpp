// Spill directories left by jobs that ended: removed only when every owner process ran on this
// host and has ended (a reused pid counts as ended); a running job's, another host's and one
// without owner records are kept, each with the reason.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "spill/process_owner.h"
#include "spill/spill_directory.h"
#include "spill/stale_spill.h"
#include "spill_test_support.h"

namespace {

using namespace manta::spill;
using spill_test::TempDir;

/// The pid of a process that has ended (a child, reaped).
long ended_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

void write_owner(const std::string& dir, const ProcessOwner& o) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/owner-" + o.host + "-" + std::to_string(o.pid)) << format_owner(o);
  std::ofstream(dir + "/rank-0.h5") << std::string(1000, 'x');
}

const StaleSpill* find(const std::vector<StaleSpill>& all, const std::string& path) {
  for (const auto& s : all) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

TEST(ProcessOwner, RoundTripsAndRefusesOtherText) {
  const ProcessOwner me = current_process();
  EXPECT_GT(me.start_ticks, 0u);
  const auto back = parse_owner(format_owner(me));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->host, me.host);
  EXPECT_EQ(back->pid, me.pid);
  EXPECT_EQ(back->start_ticks, me.start_ticks);
  EXPECT_FALSE(parse_owner("hello"));
  EXPECT_FALSE(parse_owner("host= pid=3"));
  EXPECT_FALSE(parse_owner("host=h pid=x"));
}

TEST(ProcessOwner, LivenessOfThisProcessAnEndedOneAReusedPidAndAnotherHost) {
  ProcessOwner me = current_process();
  EXPECT_EQ(liveness(me), Liveness::alive);
  EXPECT_EQ(liveness({me.host, ended_pid(), 0}), Liveness::ended);
  ProcessOwner reused = me;  // this pid, but a process that started at another time
  reused.start_ticks = me.start_ticks + 12345;
  EXPECT_EQ(liveness(reused), Liveness::ended);
  EXPECT_EQ(liveness({"some-other-node", me.pid, 0}), Liveness::unknown);
}

TEST(StaleSpill, RemovesOnlyDirectoriesWhoseOwnersAllEnded) {
  TempDir tmp;
  const std::string host = this_host();
  const long dead = ended_pid();
  write_owner(tmp.file("manta-dead"), {host, dead, 0});
  write_owner(tmp.file("manta-mixed"), {host, dead, 0});
  write_owner(tmp.file("manta-mixed"), current_process());
  write_owner(tmp.file("manta-elsewhere"), {"some-other-node", 1, 0});
  std::filesystem::create_directories(tmp.file("manta-legacy"));
  write_owner(tmp.file("not-manta"), {host, dead, 0});  // not a spill directory: not looked at
  const SpillDirectory mine(tmp.path(), "mine");        // this process's own job

  const auto listed = find_stale_spill_directories(tmp.path(), /*remove=*/false);
  EXPECT_EQ(listed.size(), 5u);
  ASSERT_TRUE(find(listed, tmp.file("manta-dead")));
  EXPECT_FALSE(find(listed, tmp.file("manta-dead"))->removed);  // only listed
  EXPECT_TRUE(std::filesystem::exists(tmp.file("manta-dead")));

  const auto done = find_stale_spill_directories(tmp.path(), /*remove=*/true);
  const StaleSpill* dead_dir = find(done, tmp.file("manta-dead"));
  ASSERT_TRUE(dead_dir);
  EXPECT_TRUE(dead_dir->removed);
  EXPECT_GE(dead_dir->bytes, 1000u);
  EXPECT_NE(dead_dir->why.find("have ended"), std::string::npos) << dead_dir->why;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("manta-dead")));
  for (const char* kept : {"manta-mixed", "manta-elsewhere", "manta-legacy", "manta-mine"}) {
    const StaleSpill* s = find(done, tmp.file(kept));
    ASSERT_TRUE(s) << kept;
    EXPECT_FALSE(s->removed) << kept;
    EXPECT_TRUE(std::filesystem::exists(tmp.file(kept))) << kept;
  }
  EXPECT_NE(find(done, tmp.file("manta-mixed"))->why.find("running"), std::string::npos);
  EXPECT_NE(find(done, tmp.file("manta-elsewhere"))->why.find("some-other-node"),
            std::string::npos);
  EXPECT_NE(find(done, tmp.file("manta-legacy"))->why.find("no owner record"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(tmp.file("not-manta")));
}

TEST(StaleSpill, MissingRootListsNothing) {
  EXPECT_TRUE(find_stale_spill_directories("/nonexistent/manta-root", true).empty());
}

}  // namespace
