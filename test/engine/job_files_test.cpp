// The job directory's files: statuses written and read back, the status table, the merged
// timeline, and the settings that drive them.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <manta/job.h>
#include <manta/settings.h>

#include "engine/config.h"
#include "engine/job_directory.h"
#include "engine/job_files.h"
#include "engine/timeline.h"

namespace {

namespace fs = std::filesystem;
using manta::JobStatus;
using manta::RankStatus;

class JobFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("manta-job-files-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    manta::engine::JobDirectory::prepare(dir_.string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  static RankStatus rank(int r, std::int64_t reported_ms) {
    RankStatus s;
    s.rank = r;
    s.host = "node" + std::to_string(r);
    s.pid = 100 + r;
    s.cpus = 4;
    s.cpus_free = 3;
    s.queued = 5;
    s.running = 1;
    s.tasks_executed = 1000 + static_cast<std::uint64_t>(r);
    s.tasks_submitted = 7;
    s.objects = 3;
    s.object_bytes = 3u << 20;
    s.capacity_bytes = 1u << 30;
    s.spilled_objects = 1;
    s.spilled_bytes = 2u << 20;
    s.reported_ms = reported_ms;
    return s;
  }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  fs::path dir_;
};

TEST_F(JobFiles, StatusRoundTripsThroughJson) {
  JobStatus s;
  s.job_id = "abc";
  s.program = "./app";
  s.state = "failed";
  s.error = "uncaught std::runtime_error: x";
  s.checkpoint_requested = true;
  s.world_size = 2;
  s.status_interval_s = 0.5;
  s.started_ms = 1000;
  s.updated_ms = 5000;
  s.ranks = {rank(0, 4900), rank(1, 4950)};
  const JobStatus back =
      manta::engine::job_status_from_json(nlohmann::json::parse(manta::engine::to_json(s).dump()));
  EXPECT_EQ(back.job_id, "abc");
  EXPECT_EQ(back.state, "failed");
  EXPECT_EQ(back.error, s.error);
  EXPECT_TRUE(back.checkpoint_requested);
  EXPECT_DOUBLE_EQ(back.status_interval_s, 0.5);
  ASSERT_EQ(back.ranks.size(), 2u);
  EXPECT_EQ(back.ranks[1].host, "node1");
  EXPECT_EQ(back.ranks[1].tasks_executed, 1001u);
  EXPECT_EQ(back.ranks[1].spilled_bytes, 2u << 20);
  EXPECT_EQ(back.ranks[1].reported_ms, 4950);
}

TEST_F(JobFiles, TableShowsEveryRankAndTotals) {
  JobStatus s;
  s.job_id = "j1";
  s.program = "./app";
  s.state = "running";
  s.world_size = 3;
  s.status_interval_s = 2;
  s.started_ms = 0;
  s.updated_ms = 10'000;
  s.ranks = {rank(0, 10'000), rank(1, 9'000), RankStatus{}};
  s.ranks[2].rank = 2;
  const std::string t = manta::format_job_status(s, 10'500);
  EXPECT_NE(t.find("job j1  ./app  running  3 ranks  ran 10.0 s  (updated 0.5 s ago)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("node1"), std::string::npos);
  EXPECT_NE(t.find("   2  (no report yet)"), std::string::npos) << t;
  EXPECT_NE(t.find("1001"), std::string::npos);
  // Totals: 6/8 CPUs free, 10 queued, 2001 tasks run.
  EXPECT_NE(t.find("6/8"), std::string::npos) << t;
  EXPECT_NE(t.find("2001"), std::string::npos) << t;
  EXPECT_NE(t.find("4.0 MiB"), std::string::npos) << t;  // spilled in all
}

TEST_F(JobFiles, ProgressLinesTravelAndShowUnderTheTable) {
  manta::set_progress("b", "dataset: Map(f) 3/10 blocks");
  manta::set_progress("a", "training: step 7");
  manta::set_progress("c", "gone soon");
  manta::set_progress("c", "");
  JobStatus s;
  s.job_id = "j2";
  s.state = "running";
  s.world_size = 1;
  s.ranks = {rank(0, 1000)};
  s.ranks[0].progress = manta::progress_lines();
  ASSERT_EQ(s.ranks[0].progress,
            (std::vector<std::string>{"training: step 7", "dataset: Map(f) 3/10 blocks"}));
  const JobStatus back =
      manta::engine::job_status_from_json(nlohmann::json::parse(manta::engine::to_json(s).dump()));
  EXPECT_EQ(back.ranks[0].progress, s.ranks[0].progress);
  const std::string t = manta::format_job_status(back, 1'000);
  EXPECT_NE(
      t.find("in progress:\n  rank 0: training: step 7\n  rank 0: dataset: Map(f) 3/10 blocks\n"),
      std::string::npos)
      << t;
  manta::set_progress("a", "");
  manta::set_progress("b", "");
  EXPECT_TRUE(manta::progress_lines().empty());
}

TEST_F(JobFiles, TableShowsEachRanksHardware) {
  JobStatus s;
  s.state = "running";
  s.world_size = 2;
  s.updated_ms = 1'000;
  s.ranks = {rank(0, 1'000), rank(1, 1'000)};
  s.ranks[1].cpuset = "12-23";
  s.ranks[1].numa_node = 1;
  s.ranks[1].binding = "bound: 12 workers on PUs 12-23";
  s.ranks[1].gpus = "0 NVIDIA A100 (0000:88:00.0, 80.0 GiB)";
  s.ranks[1].gpus_total = 1;
  s.ranks[1].gpus_free = 0.5;
  const auto back =
      manta::engine::job_status_from_json(nlohmann::json::parse(manta::engine::to_json(s).dump()));
  EXPECT_EQ(back.ranks[1].gpus, s.ranks[1].gpus);
  EXPECT_EQ(back.ranks[1].numa_node, 1);
  const std::string t = manta::format_job_status(back, 1'500);
  EXPECT_NE(t.find("hardware:"), std::string::npos) << t;
  EXPECT_NE(t.find("   1  cpuset 12-23 (NUMA 1), bound: 12 workers on PUs 12-23; GPU free 0.5/1: 0 "
                   "NVIDIA A100 (0000:88:00.0, 80.0 GiB)"),
            std::string::npos)
      << t;
}

TEST_F(JobFiles, TableFlagsAStaleJobAndAJobThatEndedWithoutSummary) {
  JobStatus s;
  s.state = "running";
  s.world_size = 1;
  s.status_interval_s = 2;
  s.updated_ms = 1'000;
  s.ranks = {rank(0, 1'000)};
  const std::string stale = manta::format_job_status(s, 60'000);
  EXPECT_NE(stale.find("no update for 59 s (the job may have died)"), std::string::npos) << stale;
  EXPECT_NE(stale.find("(no report for 59 s)"), std::string::npos) << stale;
  s.launcher_exited = true;
  s.launcher_exit_code = 137;
  s.launch_command = "mpirun -n 1 ./app";
  const std::string ended = manta::format_job_status(s, 60'000);
  EXPECT_NE(ended.find("ended without a summary (launcher exit code 137)"), std::string::npos)
      << ended;
  EXPECT_NE(ended.find("launched: mpirun -n 1 ./app  (exit code 137)"), std::string::npos);
}

TEST_F(JobFiles, ReadPrefersTheSummaryAndAddsTheLaunchRecord) {
  JobStatus running;
  running.state = "running";
  running.world_size = 1;
  manta::engine::write_file_atomically((dir_ / "status.json").string(),
                                       manta::engine::to_json(running).dump());
  EXPECT_EQ(manta::read_job_status(dir_.string()).state, "running");
  JobStatus done = running;
  done.state = "finished";
  done.memory_summary = "objects: none";
  manta::engine::write_file_atomically((dir_ / "summary.json").string(),
                                       manta::engine::to_json(done).dump());
  write("job.json", R"({"command_line": "srun --mpi=pmix ./app", "exit_code": 0})");
  const JobStatus s = manta::read_job_status(dir_.string());
  EXPECT_EQ(s.state, "finished");
  EXPECT_EQ(s.memory_summary, "objects: none");
  EXPECT_EQ(s.launch_command, "srun --mpi=pmix ./app");
  EXPECT_TRUE(s.launcher_exited);
  EXPECT_FALSE(fs::exists(dir_ / "status.json.tmp"));
}

TEST_F(JobFiles, DeathsComeFromTheLaunchRecordOrTheRanksOwnReports) {
  JobStatus running;
  running.state = "running";
  running.world_size = 2;
  running.ranks = {rank(0, 1'000), rank(1, 1'000)};
  manta::engine::write_file_atomically((dir_ / "status.json").string(),
                                       manta::engine::to_json(running).dump());
  // Without job.json (plain mpirun): the crash report in rank-1.exit.
  nlohmann::json crash{{"rank", 1},       {"code", 139},  {"world_size", 2},
                       {"ended_ms", 5},   {"signal", 11}, {"signal_name", "SIGSEGV"},
                       {"host", "node1"}, {"pid", 101},   {"running", "task f (task:0:3)"}};
  write("rank-1.exit", crash.dump());
  write("rank-0.exit", nlohmann::json{{"rank", 0}, {"code", 0}, {"world_size", 2}}.dump());
  JobStatus s = manta::read_job_status(dir_.string());
  ASSERT_EQ(s.deaths.size(), 1u);
  EXPECT_EQ(manta::describe_death(s.deaths[0]),
            "rank 1 on host node1 (pid 101) died: signal SIGSEGV in task f (task:0:3)");
  std::string table = manta::format_job_status(s, 2'000);
  EXPECT_NE(table.find("failed: rank 1 died (signal SIGSEGV in task f (task:0:3))"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("(died: SIGSEGV)"), std::string::npos) << table;
  // manta run's record wins: a rank killed by SIGKILL, named by the launcher.
  nlohmann::json died{{"rank", 1},
                      {"host", "node1"},
                      {"pid", 101},
                      {"signal", 9},
                      {"how", "killed by SIGKILL"},
                      {"source", "mpirun"}};
  write("job.json", nlohmann::json{{"exit_code", 137}, {"ranks_died", {died}}}.dump());
  s = manta::read_job_status(dir_.string());
  ASSERT_EQ(s.deaths.size(), 1u);
  EXPECT_EQ(s.deaths[0].signal, 9);
  table = manta::format_job_status(s, 2'000);
  EXPECT_NE(
      table.find("rank 1 on host node1 (pid 101) died: killed by SIGKILL (reported by mpirun)"),
      std::string::npos)
      << table;
  EXPECT_EQ(manta::signal_name(9), "SIGKILL");
  EXPECT_EQ(manta::signal_name(200), "signal 200");
}

TEST_F(JobFiles, FilesAndDirectoriesArePrivate) {
  auto mode = [](const fs::path& p) {
    return static_cast<unsigned>(fs::status(p).permissions() & fs::perms::all);
  };
  EXPECT_EQ(mode(dir_), 0700u);
  EXPECT_EQ(mode(dir_ / "events"), 0700u);
  manta::engine::write_file_atomically((dir_ / "status.json").string(), "{}");
  EXPECT_EQ(mode(dir_ / "status.json"), 0600u);
  manta::engine::write_rank_exit(dir_.string(), 3, 4, 0);
  EXPECT_EQ(mode(dir_ / "rank-3.exit"), 0600u);
  manta::make_job_directory((dir_ / "a" / "b").string());
  EXPECT_EQ(mode(dir_ / "a"), 0700u);
  EXPECT_EQ(mode(dir_ / "a" / "b"), 0700u);
}

TEST_F(JobFiles, ReadNamesWhatIsMissingOrDamaged) {
  auto message = [&](const std::string& d) {
    try {
      manta::read_job_status(d);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message((dir_ / "nope").string()).find("no such job directory"), std::string::npos);
  EXPECT_NE(message(dir_.string()).find("has no status.json"), std::string::npos);
  write("status.json", "{\"state\": \"runn");
  EXPECT_NE(message(dir_.string()).find("status.json is not a JSON object"), std::string::npos);
}

TEST_F(JobFiles, TimelineMergesEveryRanksEventsAndSkipsACutLine) {
  manta::engine::TimelineEvent e;
  std::ofstream r0(dir_ / "events" / "rank-0.jsonl");
  std::ofstream r1(dir_ / "events" / "rank-1.jsonl");
  for (int i = 0; i < 5; ++i) {
    e.name = "work";
    e.rank = 0;
    e.worker = 1;
    e.start_us = 1'000'000 + i * 10;
    e.duration_us = 5;
    r0 << manta::engine::event_to_json_line(e) << "\n";
    e.rank = 1;
    e.start_us = 900'000 + i * 10;
    r1 << manta::engine::event_to_json_line(e) << "\n";
  }
  r1 << R"({"name": "cut sh)";  // a crash mid-write
  r0.close();
  r1.close();
  JobStatus st;
  st.state = "running";
  st.ranks = {rank(0, 1), rank(1, 1)};
  manta::engine::write_file_atomically((dir_ / "status.json").string(),
                                       manta::engine::to_json(st).dump());
  const auto w = manta::write_job_timeline(dir_.string());
  EXPECT_EQ(w.events, 10u);
  EXPECT_EQ(w.ranks, 2u);
  EXPECT_EQ(w.path, (dir_ / "timeline.json").string());
  std::ifstream in(w.path);
  const auto trace = nlohmann::json::parse(in);
  int tasks = 0, names = 0;
  std::int64_t first = -1;
  for (const auto& ev : trace["traceEvents"]) {
    if (ev["ph"] == "X") {
      ++tasks;
      if (first < 0) first = ev["ts"].get<std::int64_t>();
      EXPECT_GE(ev["dur"].get<std::int64_t>(), 1);
    }
    if (ev["ph"] == "M" && ev["args"]["name"].get<std::string>().find("(node") != std::string::npos)
      ++names;
  }
  EXPECT_EQ(tasks, 10);
  EXPECT_EQ(names, 2);
  EXPECT_EQ(first, 0);  // times start at the earliest event, rank 1's
  EXPECT_THROW(manta::write_job_timeline((dir_ / "nope").string()), std::runtime_error);
}

TEST_F(JobFiles, TimelineWritesEachEventOnceAndForgetsItUnlessKept) {
  manta::engine::Timeline forget(0, /*keep=*/false), keep(0, /*keep=*/true);
  for (auto* t : {&forget, &keep}) {
    t->record("a", {}, 10, 20);
    t->record("b", {}, 30, 40);
  }
  std::ostringstream o1, o2;
  EXPECT_EQ(forget.append_jsonl(o1), 2u);
  EXPECT_EQ(forget.append_jsonl(o1), 0u);
  EXPECT_EQ(keep.append_jsonl(o2), 2u);
  keep.record("c", {}, 50, 60);
  EXPECT_EQ(keep.append_jsonl(o2), 1u);
  const std::string lines = o2.str();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3);
  // Kept events are still there for the trace written at shutdown.
  manta::Buffer b = keep.take_encoded();
  manta::engine::Timeline sink(0);
  sink.add_encoded(b.span());
  std::ostringstream o3;
  EXPECT_EQ(sink.append_jsonl(o3), 3u);
  EXPECT_EQ(manta::engine::event_from_json_line("not json"), std::nullopt);
  // Names a user chose travel intact, quotes, backslashes and control characters included.
  manta::engine::TimelineEvent odd;
  odd.name = "say \"hi\"\\ \t\x01 é";
  odd.rank = 3;
  odd.start_us = -5;
  odd.duration_us = 7;
  const auto back = manta::engine::event_from_json_line(manta::engine::event_to_json_line(odd));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, odd.name);
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->start_us, -5);
  EXPECT_EQ(back->duration_us, 7);
}

TEST_F(JobFiles, PrepareRefusesAPlaceThatCannotBeWritten) {
  write("a-file", "x");
  try {
    manta::engine::JobDirectory::prepare((dir_ / "a-file" / "job").string());
    FAIL() << "a path under a file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--manta-job-dir="), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pick a writable directory"), std::string::npos);
  }
}

TEST(JobSettings, JobDirIntervalAndSignalAreParsed) {
  std::string a0 = "app", a1 = "--manta-job-dir=/x/y", a2 = "--manta-status-interval=0.25",
              a3 = "--manta-checkpoint-signal=SIGUSR2";
  char* raw[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
  int argc = 4;
  char** argv = raw;
  const auto c = manta::engine::parse_config(argc, argv);
  EXPECT_EQ(c.job_dir, "/x/y");
  EXPECT_DOUBLE_EQ(c.status_interval_s, 0.25);
  EXPECT_EQ(c.checkpoint_signal, SIGUSR2);
  EXPECT_EQ(argc, 1);
}

TEST(JobSettings, BadValuesAreExplained) {
  auto error = [](std::string flag) {
    std::string a0 = "app";
    char* raw[] = {a0.data(), flag.data(), nullptr};
    int argc = 2;
    char** argv = raw;
    try {
      manta::engine::parse_config(argc, argv);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error("--manta-status-interval=0").find("expected seconds from 0.05"),
            std::string::npos);
  EXPECT_NE(error("--manta-checkpoint-signal=KILL").find("expected USR1, USR2"), std::string::npos);
  EXPECT_NE(error("--manta-job-dir=").find("expected a directory path"), std::string::npos);
  std::string a0 = "app";
  char* raw[] = {a0.data(), nullptr};
  int argc = 1;
  char** argv = raw;
  EXPECT_EQ(manta::engine::parse_config(argc, argv).checkpoint_signal, SIGUSR1);  // the default
}

TEST(JobSettings, ResolveSaysWhereEachValueCameFrom) {
  ::setenv("MANTA_LOG_LEVEL", "info", 1);
  const auto all =
      manta::resolve_settings({"--manta-num-cpus", "3", "other", "--manta-keep-spill"});
  ::unsetenv("MANTA_LOG_LEVEL");
  auto find = [&](const std::string& flag) {
    for (const auto& r : all) {
      if (r.info.flag == flag) return r;
    }
    return manta::ResolvedSetting{};
  };
  EXPECT_EQ(find("--manta-num-cpus").value, "3");
  EXPECT_EQ(find("--manta-num-cpus").source, "flag");
  EXPECT_EQ(find("--manta-log-level").value, "info");
  EXPECT_EQ(find("--manta-log-level").source, "environment");
  EXPECT_EQ(find("--manta-keep-spill").source, "flag");
  EXPECT_EQ(find("--manta-inline-limit").value, "100K");
  EXPECT_EQ(find("--manta-inline-limit").source, "default");
  EXPECT_EQ(find("--manta-help").info.flag, "");  // not a setting to resolve
  EXPECT_THROW(manta::resolve_settings({"--manta-job-dri=x"}), std::invalid_argument);
  EXPECT_EQ(manta::closest_settings("--manta-job-dri").at(0), "--manta-job-dir");
}

}  // namespace
