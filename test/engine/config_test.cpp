// Settings: --manta-* flags (removed from argv), MANTA_* environment variables, defaults.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"
#include "engine/task_env.h"

namespace {

using manta::engine::Config;
using manta::engine::parse_config;
using manta::engine::parse_size;

/// A mutable argv, as main() receives it (with argv[argc] == nullptr).
class Args {
 public:
  Args(std::initializer_list<std::string> args) : storage_(args) {
    for (auto& s : storage_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
    argc = static_cast<int>(storage_.size());
    argv = ptrs_.data();
  }
  [[nodiscard]] std::vector<std::string> remaining() const {
    std::vector<std::string> out;
    for (int i = 0; i < argc; ++i) out.emplace_back(argv[i]);
    return out;
  }
  int argc;
  char** argv;

 private:
  std::vector<std::string> storage_;
  std::vector<char*> ptrs_;
};

/// Clears every MANTA_* setting variable for the test and restores them afterwards.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& s : manta::engine::settings()) {
      const char* v = std::getenv(s.env.c_str());
      saved_.emplace_back(s.env, v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(s.env.c_str());
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

  static std::string error_of(Args& a) {
    try {
      (void)parse_config(a.argc, a.argv);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "parse_config did not throw";
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(ParseSize, UnitsAreBinary) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("100K"), 100u * 1024);
  EXPECT_EQ(parse_size("64M"), std::uint64_t{64} << 20);
  EXPECT_EQ(parse_size("8G"), std::uint64_t{8} << 30);
  EXPECT_EQ(parse_size("2T"), std::uint64_t{2} << 40);
  EXPECT_EQ(parse_size("1.5G"), std::uint64_t{3} << 29);
  EXPECT_EQ(parse_size("0"), 0u);
  // Spellings people use.
  EXPECT_EQ(parse_size("64m"), std::uint64_t{64} << 20);
  EXPECT_EQ(parse_size("64MB"), std::uint64_t{64} << 20);
  EXPECT_EQ(parse_size("64MiB"), std::uint64_t{64} << 20);
  EXPECT_EQ(parse_size("512B"), 512u);
}

TEST(ParseSize, RejectsWhatIsNotASize) {
  for (const char* bad : {"", "abc", "M", "12X", "-5", "-1K", "1.5.3", "64 M", "64MBB"}) {
    EXPECT_THROW((void)parse_size(bad), std::invalid_argument) << "'" << bad << "'";
  }
  try {
    (void)parse_size("12X");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("12X"), std::string::npos) << e.what();
  }
}

// BUG (engine/config.cpp parse_size): strtod also accepts "nan", "inf" and huge exponents; the
// result is then cast to uint64 (undefined behaviour) instead of being rejected.
TEST(ParseSize, RejectsNonFiniteAndOverflowingSizes) {
  for (const char* bad : {"nan", "inf", "infG", "1e30", "99999999T"}) {
    EXPECT_THROW((void)parse_size(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

TEST_F(ConfigTest, DefaultsWithoutFlagsOrEnvironment) {
  Args a{"prog"};
  const Config c = parse_config(a.argc, a.argv);
  EXPECT_EQ(c.num_cpus, 0);
  EXPECT_EQ(c.inline_limit, 100u * 1024);
  EXPECT_EQ(c.chunk_size, std::uint64_t{4} << 20);
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.ucx_eager_endpoints, 64);
  EXPECT_TRUE(c.custom_resources.empty());
  EXPECT_FALSE(c.help);
  EXPECT_EQ(a.argc, 1);
  EXPECT_EQ(a.argv[1], nullptr);
}

TEST_F(ConfigTest, RemovesMantaFlagsAndKeepsTheRestInOrder) {
  Args a{"prog",      "--manta-num-cpus=3",   "input.txt", "--manta-log-level", "debug",   "-v",
         "--other=1", "--manta-inline-limit", "1M",        "--manta-help",      "last-arg"};
  const Config c = parse_config(a.argc, a.argv);
  EXPECT_EQ(a.remaining(),
            (std::vector<std::string>{"prog", "input.txt", "-v", "--other=1", "last-arg"}));
  EXPECT_EQ(a.argc, 5);
  EXPECT_EQ(a.argv[a.argc], nullptr);
  EXPECT_EQ(c.num_cpus, 3);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.inline_limit, std::uint64_t{1} << 20);
  EXPECT_TRUE(c.help);
}

TEST_F(ConfigTest, ReadsEverySettingFromFlags) {
  Args a{"prog",
         "--manta-max-workers=12",
         "--manta-resources=GPU=2,ssd=1.5",
         "--manta-forward-threshold",
         "9",
         "--manta-chunk-size=8M",
         "--manta-progress-spin-us=0",
         "--manta-progress-max-sleep-us=50",
         "--manta-wait-spin-us=10",
         "--manta-idle-spin-us=0",
         "--manta-report-interval-ms=5",
         "--manta-report-budget=1000",
         "--manta-shutdown-timeout=7",
         "--manta-topology-xml=/tmp/machine.xml",
         "--manta-ucx-eager-endpoints=0"};
  const Config c = parse_config(a.argc, a.argv);
  EXPECT_EQ(a.argc, 1);
  EXPECT_EQ(c.max_workers, 12);
  EXPECT_EQ(c.custom_resources, (manta::ResourceMap{{"GPU", 2}, {"ssd", 1.5}}));
  EXPECT_EQ(c.forward_threshold, 9);
  EXPECT_EQ(c.chunk_size, std::uint64_t{8} << 20);
  EXPECT_EQ(c.progress_spin_us, 0);
  EXPECT_EQ(c.progress_max_sleep_us, 50);
  EXPECT_EQ(c.wait_spin_us, 10);
  EXPECT_EQ(c.idle_spin_us, 0);
  EXPECT_EQ(c.report_interval_ms, 5);
  EXPECT_EQ(c.report_budget, 1000);
  EXPECT_EQ(c.shutdown_timeout_s, 7);
  EXPECT_EQ(c.topology_xml, "/tmp/machine.xml");
  EXPECT_EQ(c.ucx_eager_endpoints, 0);
}

// A waiting thread polls long enough to catch the reply of a millisecond-long call on another
// rank (MPI cannot wake a sleeper); a negative span is refused by name.
TEST_F(ConfigTest, SpinSpansDefaultToAMillisecondAndRefuseNegatives) {
  Args plain{"prog"};
  const Config c = parse_config(plain.argc, plain.argv);
  EXPECT_EQ(c.wait_spin_us, 1000);
  EXPECT_EQ(c.idle_spin_us, 1000);
  Args bad{"prog", "--manta-idle-spin-us=-5"};
  const std::string what = error_of(bad);
  EXPECT_NE(what.find("idle-spin-us"), std::string::npos) << what;
}

TEST_F(ConfigTest, UnknownFlagSuggestsTheClosest) {
  Args a{"prog", "--manta-num-cpu=2"};
  const std::string what = error_of(a);
  EXPECT_NE(what.find("--manta-num-cpu"), std::string::npos) << what;
  EXPECT_NE(what.find("--manta-num-cpus"), std::string::npos) << what;
  EXPECT_NE(what.find("did you mean"), std::string::npos) << what;
  ASSERT_FALSE(manta::engine::closest_settings("--manta-num-cpu").empty());
  EXPECT_EQ(manta::engine::closest_settings("--manta-num-cpu").front(), "--manta-num-cpus");
}

TEST_F(ConfigTest, BadValuesNameTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--manta-num-cpus=0", "--manta-num-cpus"},
      {"--manta-num-cpus=two", "--manta-num-cpus"},
      {"--manta-num-cpus=", "--manta-num-cpus"},
      {"--manta-log-level=loud", "--manta-log-level"},
      {"--manta-resources=GPU", "--manta-resources"},
      {"--manta-resources=GPU=-1", "--manta-resources"},
      {"--manta-resources=GPU=nan", "--manta-resources"},
      {"--manta-resources=GPU=inf", "--manta-resources"},
      {"--manta-resources==1", "--manta-resources"},
      {"--manta-resources=CPU=2", "--manta-num-cpus"},  // points at the right setting
      {"--manta-chunk-size=0", "--manta-chunk-size"},
      {"--manta-max-workers=0", "--manta-max-workers"},
      {"--manta-ucx-eager-endpoints=-1", "--manta-ucx-eager-endpoints"},
  };
  for (const auto& [flag, named] : cases) {
    Args a{"prog", flag};
    const std::string what = error_of(a);
    EXPECT_NE(what.find(named), std::string::npos) << flag << " -> " << what;
  }
}

// A value that parse_size rejects is reported with the flag it came with.
TEST_F(ConfigTest, BadSizeValuesNameTheFlag) {
  for (const std::string flag : {"--manta-inline-limit", "--manta-chunk-size"}) {
    Args a{"prog", flag + "=lots"};
    const std::string what = error_of(a);
    EXPECT_NE(what.find(flag), std::string::npos) << what;
    EXPECT_NE(what.find("lots"), std::string::npos) << what;
  }
  // The space-separated form too.
  Args a{"prog", "--manta-inline-limit", "12Q"};
  const std::string what = error_of(a);
  EXPECT_NE(what.find("--manta-inline-limit"), std::string::npos) << what;
  EXPECT_NE(what.find("12Q"), std::string::npos) << what;
}

TEST_F(ConfigTest, FlagWithoutValueAtTheEnd) {
  Args a{"prog", "--manta-num-cpus"};
  const std::string what = error_of(a);
  EXPECT_NE(what.find("--manta-num-cpus"), std::string::npos) << what;
  EXPECT_NE(what.find("needs a value"), std::string::npos) << what;
}

TEST_F(ConfigTest, EnvironmentAppliesAndFlagsOverrideIt) {
  setenv("MANTA_NUM_CPUS", "5", 1);
  setenv("MANTA_LOG_LEVEL", "error", 1);
  {
    Args a{"prog"};
    const Config c = parse_config(a.argc, a.argv);
    EXPECT_EQ(c.num_cpus, 5);
    EXPECT_EQ(c.log_level, "error");
  }
  {
    Args a{"prog", "--manta-num-cpus=2"};
    const Config c = parse_config(a.argc, a.argv);
    EXPECT_EQ(c.num_cpus, 2);
    EXPECT_EQ(c.log_level, "error");  // not overridden
    EXPECT_EQ(a.argc, 1);
  }
  {
    Args a{"prog", "--manta-num-cpus", "3"};
    EXPECT_EQ(parse_config(a.argc, a.argv).num_cpus, 3);
  }
}

TEST_F(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  setenv("MANTA_NUM_CPUS", "zero", 1);
  Args a{"prog"};
  const std::string what = error_of(a);
  EXPECT_NE(what.find("MANTA_NUM_CPUS"), std::string::npos) << what;
  EXPECT_NE(what.find("zero"), std::string::npos) << what;
}

TEST_F(ConfigTest, EmptyEnvironmentValueIsIgnored) {
  setenv("MANTA_NUM_CPUS", "", 1);
  Args a{"prog"};
  EXPECT_EQ(parse_config(a.argc, a.argv).num_cpus, 0);
}

TEST_F(ConfigTest, NamespaceDefaultsAndIsSet) {
  Args plain{"prog"};
  EXPECT_EQ(parse_config(plain.argc, plain.argv).name_space, "default");
  Args given{"prog", "--manta-namespace=team_a"};
  EXPECT_EQ(parse_config(given.argc, given.argv).name_space, "team_a");
  Args empty{"prog", "--manta-namespace="};
  const std::string what = error_of(empty);
  EXPECT_NE(what.find("--manta-namespace"), std::string::npos) << what;
}

// Each --manta-env adds a variable, in order, in both flag forms; the value may hold '='.
TEST_F(ConfigTest, RepeatedEnvFlagsAddVariablesInOrder) {
  Args a{"prog", "--manta-env=A=1", "--manta-env", "B=x=y", "--manta-env=EMPTY=", "rest"};
  const Config c = parse_config(a.argc, a.argv);
  using V = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(c.job_env, (V{{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}));
  EXPECT_EQ(a.remaining(), (std::vector<std::string>{"prog", "rest"}));
  Args none{"prog"};
  EXPECT_TRUE(parse_config(none.argc, none.argv).job_env.empty());
}

TEST_F(ConfigTest, BadEnvNamesTheArgumentAndTheForm) {
  for (const std::string bad : {"NOEQUALS", "=value", "1ABC=x", "A-B=x", "A B=x"}) {
    Args a{"prog", "--manta-env=" + bad};
    const std::string what = error_of(a);
    EXPECT_NE(what.find("--manta-env=" + bad), std::string::npos) << what;
    EXPECT_NE(what.find("NAME=VALUE"), std::string::npos) << what;
  }
}

TEST(ParseEnvAssignment, SplitsAtTheFirstEquals) {
  using manta::engine::parse_env_assignment;
  EXPECT_EQ(parse_env_assignment("OMP_NUM_THREADS=4"),
            (std::pair<std::string, std::string>{"OMP_NUM_THREADS", "4"}));
  EXPECT_EQ(parse_env_assignment("_x1=a=b=c"),
            (std::pair<std::string, std::string>{"_x1", "a=b=c"}));
  EXPECT_EQ(parse_env_assignment("EMPTY="), (std::pair<std::string, std::string>{"EMPTY", ""}));
}

TEST(ParseEnvAssignment, RefusesWhatCannotBeAVariable) {
  using manta::engine::parse_env_assignment;
  auto what = [](const std::string& text) -> std::string {
    try {
      (void)parse_env_assignment(text);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(what("NOEQUALS").find("no '='"), std::string::npos) << what("NOEQUALS");
  EXPECT_NE(what("=1").find("empty"), std::string::npos) << what("=1");
  EXPECT_NE(what("9LIVES=1").find("'9LIVES' is not a variable name"), std::string::npos);
  EXPECT_NE(what("A.B=1").find("'A.B'"), std::string::npos);
  EXPECT_EQ(manta::engine::invalid_env_name("PATH"), "");
}

TEST(Settings, HelpListsEveryFlagAndVariable) {
  const auto& all = manta::engine::settings();
  ASSERT_GE(all.size(), 13u);
  const std::string help = manta::engine::settings_help();
  for (const auto& s : all) {
    EXPECT_EQ(s.flag.rfind("--manta-", 0), 0u) << s.flag;
    EXPECT_EQ(s.env.rfind("MANTA_", 0), 0u) << s.env;
    EXPECT_NE(help.find(s.flag), std::string::npos) << s.flag;
    EXPECT_NE(help.find(s.env), std::string::npos) << s.env;
    EXPECT_NE(help.find(s.help), std::string::npos) << s.help;
  }
  for (const char* expected : {"--manta-num-cpus", "MANTA_NUM_CPUS", "--manta-inline-limit",
                               "MANTA_INLINE_LIMIT", "--manta-log-level", "MANTA_LOG_LEVEL"}) {
    EXPECT_NE(help.find(expected), std::string::npos) << expected;
  }
}

}  // namespace
