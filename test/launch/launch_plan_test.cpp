// `manta run`'s launcher choice and command lines, over described environments.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "launch/launch_plan.h"

namespace {

using manta::launch::Environment;
using manta::launch::LaunchError;
using manta::launch::LaunchRequest;
using manta::launch::plan_launch;

/// A machine with the given programs on PATH (and ./app as a program).
Environment machine(std::set<std::string> on_path, std::map<std::string, std::string> vars = {}) {
  Environment env;
  env.vars = std::move(vars);
  env.find_program = [on_path](const std::string& name) -> std::optional<std::string> {
    if (name == "./app" || name == "./learner") return name;
    if (on_path.count(name)) return "/usr/bin/" + name;
    return std::nullopt;
  };
  env.cores = 2;
  env.mpirun_flavor = on_path.count("mpirun") ? "openmpi" : "";
  return env;
}

LaunchRequest request(int ranks, std::vector<std::string> command) {
  LaunchRequest r;
  r.segments.push_back({ranks, std::move(command)});
  return r;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& w : v) s += (s.empty() ? "" : " ") + w;
  return s;
}

TEST(LaunchPlan, WorkstationUsesMpirunWithTheRanksAndProgram) {
  const auto plan = plan_launch(request(4, {"./app", "x", "--y"}), machine({"mpirun"}));
  EXPECT_EQ(plan.launcher, "mpirun");
  EXPECT_EQ(plan.why, "not inside a Slurm allocation");
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun -n 4 ./app x --y");
  EXPECT_EQ(plan.total_ranks, 4);
  // 4 ranks on 2 cores without --oversubscribe: say how to fix a refusal.
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("--oversubscribe"), std::string::npos);
}

TEST(LaunchPlan, RecordedCommandKeepsTheNumberOfArgumentsNotThemselves) {
  LaunchRequest req;
  req.segments.push_back({1, {"./learner", "--token=s3cret"}});
  req.segments.push_back({3, {"./app"}});
  req.segments.push_back({2, {"./app", "a", "b"}});
  const auto mpirun = plan_launch(req, machine({"mpirun"}));
  EXPECT_EQ(joined(manta::launch::argv_without_arguments(mpirun)),
            "/usr/bin/mpirun -n 1 ./learner [1 argument] : -n 3 ./app : -n 2 ./app [2 arguments]");
  Environment slurm = machine({"srun"}, {{"SLURM_JOB_ID", "7"}});
  slurm.srun_pmix = true;
  const auto srun = plan_launch(request(-1, {"./app", "--password", "x"}), slurm);
  EXPECT_EQ(joined(manta::launch::argv_without_arguments(srun)),
            "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 ./app [2 arguments]");
}

TEST(LaunchPlan, OversubscribeAndRootAddOpenMpiFlags) {
  auto env = machine({"mpirun"});
  env.is_root = true;
  auto req = request(8, {"./app"});
  req.oversubscribe = true;
  const auto plan = plan_launch(req, env);
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun --oversubscribe --allow-run-as-root -n 8 ./app");
  EXPECT_TRUE(plan.notes.empty());
}

TEST(LaunchPlan, JobDirectoryAndMantaVariablesReachEveryNode) {
  auto env = machine({"mpirun"}, {{"MANTA_NUM_CPUS", "2"}, {"HOME", "/root"}});
  auto req = request(2, {"./app"});
  req.job_dir = "/scratch/jobs/a";
  const auto plan = plan_launch(req, env);
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun -x MANTA_NUM_CPUS -x MANTA_JOB_DIR -n 2 ./app");
  ASSERT_EQ(plan.env.size(), 1u);
  EXPECT_EQ(plan.env[0].first, "MANTA_JOB_DIR");
  EXPECT_EQ(plan.env[0].second, "/scratch/jobs/a");
}

TEST(LaunchPlan, DefaultRanksAreOnePerCoreOutsideSlurm) {
  const auto plan = plan_launch(request(-1, {"./app"}), machine({"mpirun"}));
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun -n 2 ./app");
  ASSERT_FALSE(plan.notes.empty());
  EXPECT_NE(plan.notes[0].find("one rank per core"), std::string::npos);
}

TEST(LaunchPlan, InsideSlurmWithPmixUsesSrun) {
  auto env = machine({"mpirun", "srun"}, {{"SLURM_JOB_ID", "42"}, {"SLURM_NTASKS", "8"}});
  env.srun_pmix = true;
  auto plan = plan_launch(request(-1, {"./app"}), env);
  EXPECT_EQ(plan.launcher, "srun");
  EXPECT_NE(plan.why.find("allocation 42"), std::string::npos);
  EXPECT_EQ(joined(plan.argv),
            "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 ./app");  // the allocation's tasks
  plan = plan_launch(request(3, {"./app"}), env);
  EXPECT_EQ(joined(plan.argv), "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --ntasks=3 ./app");
}

TEST(LaunchPlan, InsideSlurmWithoutPmixFallsBackToMpirunOnTheAllocation) {
  auto env = machine({"mpirun", "srun"}, {{"SLURM_JOB_ID", "42"}, {"SLURM_NTASKS", "8"}});
  const auto plan = plan_launch(request(-1, {"./app"}), env);
  EXPECT_EQ(plan.launcher, "mpirun");
  EXPECT_NE(plan.why.find("no PMIx"), std::string::npos);
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun -n 8 ./app");
  EXPECT_TRUE(plan.notes.empty());  // the allocation decides how many cores there are
}

TEST(LaunchPlan, LauncherCanBeForced) {
  auto env = machine({"mpirun", "srun"}, {{"SLURM_JOB_ID", "42"}, {"SLURM_NTASKS", "2"}});
  env.srun_pmix = true;
  auto req = request(2, {"./app"});
  req.launcher = "mpirun";
  EXPECT_EQ(plan_launch(req, env).launcher, "mpirun");
  req.launcher = "srun";
  EXPECT_EQ(plan_launch(req, machine({"srun"})).launcher, "srun");
  req.launcher = "aprun";
  try {
    plan_launch(req, env);
    FAIL() << "aprun accepted";
  } catch (const LaunchError& e) {
    EXPECT_NE(std::string(e.what()).find("expected auto, srun or mpirun"), std::string::npos);
  }
}

TEST(LaunchPlan, HeterogeneousAllocationRunsEachProgramOnItsComponent) {
  auto env = machine({"mpirun", "srun"}, {{"SLURM_JOB_ID", "7"}, {"SLURM_HET_SIZE", "2"}});
  env.srun_pmix = true;
  LaunchRequest req;
  req.segments.push_back({-1, {"./learner", "--manta-resources=GPU=1"}});
  req.segments.push_back({4, {"./app"}});
  const auto plan = plan_launch(req, env);
  EXPECT_EQ(joined(plan.argv),
            "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --het-group=0 ./learner "
            "--manta-resources=GPU=1 : "
            "--het-group=1 --ntasks=4 ./app");
  // One program over a heterogeneous allocation spans all its components.
  EXPECT_EQ(joined(plan_launch(request(-1, {"./app"}), env).argv),
            "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --het-group=0-1 ./app");
}

TEST(LaunchPlan, SeveralProgramsUnderMpirunAreOneWorld) {
  LaunchRequest req;
  req.segments.push_back({1, {"./learner"}});
  req.segments.push_back({3, {"./app", "-v"}});
  const auto plan = plan_launch(req, machine({"mpirun"}));
  EXPECT_EQ(joined(plan.argv), "/usr/bin/mpirun -n 1 ./learner : -n 3 ./app -v");
  EXPECT_EQ(plan.total_ranks, 4);
}

void expect_error(const LaunchRequest& req, const Environment& env, const std::string& words) {
  try {
    plan_launch(req, env);
    FAIL() << "no error; expected one saying: " << words;
  } catch (const LaunchError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(LaunchPlan, BadInputIsExplained) {
  const auto env = machine({"mpirun"});
  expect_error(request(0, {"./app"}), env, "-n 0: the number of ranks must be at least 1");
  expect_error(request(-5, {"./app"}), env, "at least 1");
  expect_error(request(2, {"./missing"}), env, "program './missing' not found or not executable");
  expect_error(request(2, {"misspelt"}), env, "not found on PATH: give its path (e.g. ./misspelt)");
  expect_error(request(2, {}), env, "no program given");
  LaunchRequest two;
  two.segments.push_back({1, {"./app"}});
  two.segments.push_back({-1, {"./app"}});
  expect_error(two, env, "needs its rank count");
}

TEST(LaunchPlan, NoLauncherNamesThePackage) {
  expect_error(
      request(2, {"./app"}), machine({}),
      "neither mpirun nor srun is on PATH; install Open MPI (apt-get install openmpi-bin)");
  auto req = request(2, {"./app"});
  req.launcher = "srun";
  expect_error(req, machine({"mpirun"}), "apt-get install slurm-client");
  // Slurm without PMIx and no mpirun: nothing can start MPI ranks.
  expect_error(request(2, {"./app"}), machine({"srun"}, {{"SLURM_JOB_ID", "1"}}),
               "srun cannot start MPI programs here");
}

TEST(LaunchPlan, SeveralProgramsUnderSrunNeedAHeterogeneousAllocation) {
  auto env = machine({"srun"}, {{"SLURM_JOB_ID", "9"}});
  env.srun_pmix = true;
  LaunchRequest req;
  req.segments.push_back({1, {"./app"}});
  req.segments.push_back({1, {"./app"}});
  expect_error(req, env, "need a heterogeneous allocation");
}

TEST(LaunchPlan, ShellQuoteKeepsWordsApart) {
  EXPECT_EQ(manta::launch::shell_quote({"a", "b c", "it's", "x=1"}), "a 'b c' 'it'\\''s' x=1");
}

}  // namespace
