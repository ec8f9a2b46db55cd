#include "launch/commands.h"

#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <manta/hardware.h>
#include <manta/job.h>
#include <manta/settings.h>

#include "launch/launch_plan.h"
#include "launch/run_job.h"

namespace manta::launch {
namespace {

namespace fs = std::filesystem;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The manta command's own settings: flag, variable, default, help (listed by --help).
struct CommandSetting {
  const char* flag;
  const char* env;
  const char* fallback;
  const char* help;
};
const CommandSetting kCommandSettings[] = {
    {"-n, --ranks N", "", "the allocation's tasks, else one per core",
     "ranks to start (for each program, with ':')"},
    {"--launcher NAME", "MANTA_LAUNCHER", "auto",
     "srun, mpirun or auto (srun inside a Slurm allocation when it can start MPI, else mpirun)"},
    {"--oversubscribe", "", "off", "let mpirun start more ranks than cores"},
    {"--job-dir DIR", "MANTA_JOB_DIR", "JOB_ROOT/PROGRAM-DATE-TIME-PID",
     "the job directory: logs, status, task events, summary"},
    {"--job-root DIR", "MANTA_JOB_ROOT", "./manta-jobs", "where job directories are made"},
    {"--no-job-dir", "", "off", "write no job directory"},
    {"--launcher-arg ARG", "", "none", "pass ARG to the launcher (repeat for more)"},
    {"--record-args", "MANTA_RECORD_ARGS", "off",
     "keep the programs' arguments in job.json (by default only their number)"},
    {"--dry-run", "", "off", "print the command instead of running it"},
};

std::string latest_job_dir(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw std::runtime_error(fmt::format(
        "no job directory given and {} does not exist: manta status DIR (manta run makes one "
        "under {} for each job)",
        root, root));
  }
  fs::path best;
  fs::file_time_type best_time{};
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory()) continue;
    if (!fs::exists(e.path() / "job.json") && !fs::exists(e.path() / "status.json")) continue;
    const auto t = fs::last_write_time(e.path(), ec);
    if (best.empty() || t > best_time) {
      best = e.path();
      best_time = t;
    }
  }
  if (best.empty()) throw std::runtime_error(fmt::format("{} holds no job directories", root));
  return best.string();
}

/// Splits the words after the options: PROGRAM ARGS [: [-n N] PROGRAM ARGS]...
std::vector<Segment> split_segments(const std::vector<std::string>& words, int first_ranks) {
  std::vector<Segment> segments(1);
  segments[0].ranks = first_ranks;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == ":") {
      segments.emplace_back();
      // A later program may start with its own rank count.
      if (i + 2 < words.size() && (words[i + 1] == "-n" || words[i + 1] == "--ranks")) {
        try {
          segments.back().ranks = std::stoi(words[i + 2]);
        } catch (const std::exception&) {
          throw LaunchError(
              fmt::format("{} {}: expected a number of ranks", words[i + 1], words[i + 2]));
        }
        i += 2;
      }
      continue;
    }
    segments.back().command.push_back(words[i]);
  }
  return segments;
}

// `manta run`'s options, as parsed.
struct RunOptions {
  int ranks = -1;
  std::string launcher;
  bool oversubscribe = false;
  std::string job_dir;
  std::string job_root;
  bool no_job_dir = false;
  std::vector<std::string> launcher_args;
  bool dry_run = false;
  int exit_grace_s = 10;
  bool record_arguments = false;
};

int run_command(const std::vector<std::string>& rest, const RunOptions& o,
                const std::vector<std::string>& run_flags) {
  // Runtime settings before the program apply to every rank, as MANTA_* variables.
  std::vector<std::string> words = rest, leading;
  std::size_t i = 0;
  while (i < words.size() && words[i].rfind("--manta-", 0) == 0) {
    leading.push_back(words[i]);
    const auto& all = manta::settings();
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&](const SettingInfo& s) { return s.flag == words[i]; });
    // `--manta-x VALUE`: the value is the next word.
    if (it != all.end() && !it->is_switch && i + 1 < words.size()) leading.push_back(words[++i]);
    ++i;
  }
  words.erase(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(i));
  if (!words.empty() && words[0].size() > 1 && words[0][0] == '-') {
    const auto near = manta::closest_names(words[0], run_flags);
    throw LaunchError(
        fmt::format("unknown option {}{}; manta run --help lists them", words[0],
                    near.empty() ? "" : fmt::format(" (did you mean {}?)", fmt::join(near, ", "))));
  }
  // Every --manta-* word, before the program and after it, is checked now, not on the ranks.
  std::vector<std::pair<std::string, std::string>> settings_env;
  try {
    for (const auto& r : manta::resolve_settings(leading)) {
      if (r.source == "flag")
        settings_env.emplace_back(r.info.env, r.value.empty() ? "1" : r.value);
    }
    (void)manta::resolve_settings(words);
  } catch (const std::invalid_argument& e) {
    throw LaunchError(e.what());
  }

  LaunchRequest req;
  req.segments = split_segments(words, o.ranks);
  req.launcher = o.launcher;
  req.oversubscribe = o.oversubscribe;
  req.launcher_args = o.launcher_args;
  if (!o.no_job_dir) {
    const auto& first = req.segments.front().command;
    req.job_dir = o.job_dir.empty() ? default_job_dir(o.job_root, first.empty() ? "job" : first[0])
                                    : o.job_dir;
    req.job_dir = fs::absolute(req.job_dir).lexically_normal().string();
  }
  Environment env = probe_environment();
  for (const auto& [name, value] : settings_env) env.vars[name] = value;
  LaunchPlan plan = plan_launch(req, env);
  for (const auto& kv : settings_env) plan.env.push_back(kv);
  if (o.dry_run) {
    std::printf("# launcher: %s (%s)\n", plan.launcher.c_str(), plan.why.c_str());
    for (const auto& n : plan.notes) std::printf("# note: %s\n", n.c_str());
    if (!req.job_dir.empty()) std::printf("# job directory: %s\n", req.job_dir.c_str());
    std::string envs;
    for (const auto& [name, value] : plan.env) envs += shell_quote({name + "=" + value}) + " ";
    std::printf("%s%s\n", envs.c_str(), shell_quote(plan.argv).c_str());
    return 0;
  }
  for (const auto& n : plan.notes) std::fprintf(stderr, "manta run: %s\n", n.c_str());
  const int code =
      run_job(plan, req.job_dir, std::chrono::seconds(o.exit_grace_s), o.record_arguments);
  if (!req.job_dir.empty()) {
    std::fprintf(stderr, "manta run: exit code %d; job directory %s (manta status %s)\n", code,
                 req.job_dir.c_str(), req.job_dir.c_str());
  }
  return code;
}

int status_command(std::string dir, const std::string& job_root, double watch) {
  if (dir.empty()) dir = latest_job_dir(job_root);
  for (;;) {
    const JobStatus s = read_job_status(dir);
    std::fputs(format_job_status(s, now_ms()).c_str(), stdout);
    std::fflush(stdout);
    const bool ended = s.state == "finished" || s.state == "failed" || s.launcher_exited;
    if (watch <= 0 || ended) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(watch));
    std::fputs("\n", stdout);
  }
}

/// `manta clean [DIR...]`: what ended jobs left in spill roots and job roots.
int clean_command(std::vector<std::string> dirs, const std::string& job_root, bool dry_run) {
  if (dirs.empty()) {
    // Where jobs put them by default: the spill root (as the runtime picks it) and the job root.
    std::string spill = env_or("MANTA_SPILL_DIR", "");
    if (spill.empty()) spill = env_or("TMPDIR", "/tmp");
    dirs = {spill, job_root, env_or("MANTA_SHM_DIR", "/dev/shm")};
  }
  std::uint64_t bytes = 0;
  std::size_t removed = 0;
  for (auto dir : dirs) {
    dir = fs::absolute(dir).lexically_normal().string();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      std::printf("%s: no such directory, nothing to clean\n", dir.c_str());
      continue;
    }
    for (const auto& c : clean_ended_jobs(dir, dry_run)) {
      const char* verb = c.removed ? "removed" : dry_run && c.bytes > 0 ? "would remove" : "kept";
      if (c.removed || (dry_run && c.bytes > 0) || c.why.find("spill files") == 0) {
        std::printf("%s %s%s: %s\n", verb, c.path.c_str(),
                    c.bytes > 0 ? fmt::format(" ({} bytes)", c.bytes).c_str() : "", c.why.c_str());
      }
      if (c.removed) {
        ++removed;
        bytes += c.bytes;
      }
    }
  }
  std::printf("manta clean: removed %zu item(s), %llu bytes%s\n", removed,
              static_cast<unsigned long long>(bytes), dry_run ? " (dry run: nothing removed)" : "");
  return 0;
}

// Ranks per node `manta config` shows the split for: -n/--ranks, else Slurm's tasks per node.
int ranks_per_node(const std::vector<std::string>& args, const Environment& env) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-n" || args[i] == "--ranks") return std::max(1, std::atoi(args[i + 1].c_str()));
  }
  for (const char* var : {"SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    if (auto it = env.vars.find(var); it != env.vars.end()) {
      return std::max(1, std::atoi(it->second.c_str()));  // "4(x2)" reads as 4
    }
  }
  return 1;
}

void print_node_hardware(const std::vector<std::string>& args, const Environment& env) {
  const int ranks = ranks_per_node(args, env);
  std::vector<manta::RankHardware> hw;
  try {
    hw = manta::preview_node_hardware(args, ranks);
  } catch (const std::invalid_argument& e) {
    throw LaunchError(e.what());
  }
  std::printf("\nhardware of this node for %d rank(s) on it (-n N to see another split):\n", ranks);
  for (const auto& h : hw) {
    std::printf("rank %d of the node:\n", h.rank);
    std::string text = manta::describe(h);
    for (std::size_t start = 0, end; start < text.size(); start = end + 1) {
      end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::printf("  %s\n", text.substr(start, end - start).c_str());
    }
  }
}

int config_command(const std::vector<std::string>& args, const std::string& job_root) {
  const Environment env = probe_environment();
  const auto mpirun = env.find_program("mpirun");
  const auto srun = env.find_program("srun");
  std::printf("manta %s\n", manta::version().c_str());
  std::printf("launcher:      %s\n", env_or("MANTA_LAUNCHER", "auto").c_str());
  std::printf("mpirun:        %s%s\n", mpirun ? mpirun->c_str() : "not on PATH",
              mpirun && !env.mpirun_flavor.empty() ? (" (" + env.mpirun_flavor + ")").c_str() : "");
  std::printf("srun:          %s\n", srun ? srun->c_str() : "not on PATH");
  const auto job = env.vars.find("SLURM_JOB_ID");
  std::printf("slurm:         %s\n",
              job == env.vars.end()
                  ? "not inside an allocation"
                  : fmt::format("allocation {}, {} tasks, srun {} PMIx", job->second,
                                env.vars.count("SLURM_NTASKS") ? env.vars.at("SLURM_NTASKS") : "?",
                                env.srun_pmix ? "offers" : "does not offer")
                        .c_str());
  std::printf("cores:         %d\n", env.cores);
  std::printf("job root:      %s\n", job_root.c_str());
  std::printf("\nruntime settings (flag, variable, value, from):\n");
  std::vector<ResolvedSetting> resolved;
  try {
    resolved = manta::resolve_settings(args);
  } catch (const std::invalid_argument& e) {
    throw LaunchError(e.what());
  }
  for (const auto& r : resolved) {
    std::printf("  %-30s %-28s %-24s %s\n", r.info.flag.c_str(), r.info.env.c_str(),
                r.value.empty() ? "(none)" : r.value.c_str(), r.source.c_str());
  }
  print_node_hardware(args, env);
  return 0;
}

}  // namespace

std::string settings_help_text() {
  std::string s = "\nmanta run settings (flag, environment variable, default):\n";
  for (const auto& c : kCommandSettings) {
    s += fmt::format("  {:<22} {:<16} default: {}\n      {}\n", c.flag, c.env, c.fallback, c.help);
  }
  s += "\nRuntime settings, for every rank: give them to the program, before it to `manta run`, or "
       "as environment variables:\n";
  for (const auto& i : manta::settings()) {
    if (i.flag == "--manta-help") continue;
    s += fmt::format("  {:<30} {:<28} default: {}\n      {}\n",
                     i.flag + (i.is_switch ? "" : "=VALUE"), i.env,
                     i.fallback.empty() ? "(none)" : i.fallback, i.help);
  }
  return s;
}

int main_command(int argc, char** argv) {
  CLI::App app{"manta: run Manta jobs with mpirun or srun, and read their job directories",
               "manta"};
  app.require_subcommand(1);
  app.footer(settings_help_text());

  const std::string job_root = env_or("MANTA_JOB_ROOT", "manta-jobs");

  // run
  auto* run = app.add_subcommand("run", "start PROGRAM on N ranks with srun or mpirun");
  RunOptions ro;
  ro.launcher = env_or("MANTA_LAUNCHER", "auto");
  ro.job_dir = env_or("MANTA_JOB_DIR", "");
  ro.job_root = job_root;
  run->add_option("-n,--ranks", ro.ranks,
                  "ranks to start (default: the allocation's tasks, else one per core)");
  run->add_option("--launcher", ro.launcher, "srun, mpirun or auto")->envname("MANTA_LAUNCHER");
  run->add_flag("--oversubscribe", ro.oversubscribe, "let mpirun start more ranks than cores");
  run->add_option("--job-dir", ro.job_dir,
                  "the job directory (default: JOB_ROOT/PROGRAM-DATE-TIME-PID)");
  run->add_option("--job-root", ro.job_root,
                  "where job directories are made (default ./manta-jobs)");
  run->add_flag("--no-job-dir", ro.no_job_dir, "write no job directory");
  run->add_option("--launcher-arg", ro.launcher_args,
                  "pass an argument to the launcher (repeatable)")
      ->allow_extra_args(false);
  run->add_flag("--dry-run", ro.dry_run, "print the command instead of running it");
  run->add_flag("--record-args", ro.record_arguments,
                "keep the programs' arguments in job.json (by default only their number: they "
                "may hold secrets)")
      ->envname("MANTA_RECORD_ARGS");
  run->add_option("--exit-grace", ro.exit_grace_s,
                  "seconds the launcher may outlive the last rank before it is stopped (a "
                  "launcher stuck after the job ends, as srun can be); needs the job directory")
      ->check(CLI::Range(1, 86400))
      ->envname("MANTA_EXIT_GRACE");
  run->prefix_command();
  run->footer(
      "\nPROGRAM [ARGS...] may be followed by ': -n M PROGRAM2 [ARGS...]' for one MPI world of "
      "several programs (mpirun, or srun in a heterogeneous allocation). --manta-* settings given "
      "before PROGRAM apply to every rank.");

  // status
  auto* status = app.add_subcommand("status", "print a job's status table (ranks, tasks, objects)");
  std::string status_dir;
  double watch = 0;
  status->add_option("dir", status_dir, "job directory (default: the newest under ./manta-jobs)");
  status->add_option("--watch", watch, "print it again every SECONDS until the job ends");

  // timeline
  auto* timeline =
      app.add_subcommand("timeline", "write a job's tasks as a Chrome trace (Perfetto)");
  std::string timeline_dir, timeline_out;
  timeline->add_option("dir", timeline_dir,
                       "job directory (default: the newest under ./manta-jobs)");
  timeline->add_option("-o,--output", timeline_out, "trace file (default: DIR/timeline.json)");

  // config
  auto* config = app.add_subcommand("config", "print the resolved configuration and launcher");
  config->allow_extras();

  auto* version = app.add_subcommand("version", "print Manta's version and libraries");

  // clean
  auto* clean = app.add_subcommand(
      "clean",
      "remove spill directories, temporary files and shared memory segments that ended jobs left "
      "(a rank killed); those of running jobs are kept");
  std::vector<std::string> clean_dirs;
  bool clean_dry_run = false;
  clean->add_option("dirs", clean_dirs,
                    "spill roots, job roots or shared memory directories (default: "
                    "$MANTA_SPILL_DIR, else $TMPDIR or /tmp, ./manta-jobs, and $MANTA_SHM_DIR, "
                    "else /dev/shm)");
  clean->add_flag("--dry-run", clean_dry_run, "list what would be removed, remove nothing");

  static const std::vector<std::string> kCommands{"run",    "status",  "timeline",
                                                  "config", "version", "clean"};
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(kCommands.begin(), kCommands.end(), argv[1]) == kCommands.end()) {
    const auto near = manta::closest_names(argv[1], kCommands);
    std::fprintf(
        stderr, "manta: unknown command '%s'%s\nRun 'manta --help' for the commands.\n", argv[1],
        near.empty() ? "" : fmt::format(" (did you mean {}?)", fmt::join(near, ", ")).c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Name the closest valid words for a mistyped subcommand or option.
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands({})) {
      for (const auto* opt : sub->get_options()) {
        for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
        for (const auto& n : opt->get_snames()) names.push_back("-" + n);
      }
    }
    std::string what = e.what();
    std::string word;
    if (const auto colon = what.find(": ");
        colon != std::string::npos && what.find("not expected") != std::string::npos) {
      word = what.substr(colon + 2);
      if (const auto sp = word.find(' '); sp != std::string::npos) word.resize(sp);
    }
    const auto near = word.empty() ? std::vector<std::string>{} : manta::closest_names(word, names);
    std::fprintf(
        stderr, "manta: %s%s\nRun 'manta --help' for the commands and settings.\n", what.c_str(),
        near.empty() ? "" : fmt::format(" (did you mean {}?)", fmt::join(near, ", ")).c_str());
    return 2;
  }

  try {
    if (run->parsed()) {
      std::vector<std::string> run_flags;
      for (const auto* opt : run->get_options()) {
        for (const auto& n : opt->get_lnames()) run_flags.push_back("--" + n);
        for (const auto& n : opt->get_snames()) run_flags.push_back("-" + n);
      }
      return run_command(run->remaining(), ro, run_flags);
    }
    if (status->parsed()) return status_command(status_dir, job_root, watch);
    if (timeline->parsed()) {
      if (timeline_dir.empty()) timeline_dir = latest_job_dir(job_root);
      const TimelineWritten w = write_job_timeline(timeline_dir, timeline_out);
      std::printf(
          "timeline of %zu tasks from %zu ranks written to %s (open it in Perfetto or "
          "chrome://tracing)\n",
          w.events, w.ranks, w.path.c_str());
      return 0;
    }
    if (config->parsed()) return config_command(config->remaining(), job_root);
    if (clean->parsed()) return clean_command(clean_dirs, job_root, clean_dry_run);
    if (version->parsed()) {
      std::printf("manta %s\n%s\n", manta::version().c_str(), manta::build_info().c_str());
      return 0;
    }
  } catch (const LaunchError& e) {
    const auto used = app.get_subcommands();
    std::fprintf(stderr, "manta %s: %s\n", used.empty() ? "run" : used.front()->get_name().c_str(),
                 e.what());
    return 2;
  }
  return 0;
}

}  // namespace manta::launch
