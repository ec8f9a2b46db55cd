#include "launch/launch_plan.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

extern char** environ;

namespace manta::launch {
namespace {

std::string var(const Environment& env, const std::string& name) {
  const auto it = env.vars.find(name);
  return it == env.vars.end() ? std::string() : it->second;
}

bool in_slurm_allocation(const Environment& env) { return !var(env, "SLURM_JOB_ID").empty(); }

std::string require_program(const Environment& env, const std::string& program) {
  if (program.empty()) throw LaunchError("no program given: manta run [options] PROGRAM [ARGS...]");
  if (auto found = env.find_program(program)) return *found;
  if (program.find('/') != std::string::npos) {
    throw LaunchError("program '" + program +
                      "' not found or not executable: build it first, or check the path");
  }
  throw LaunchError("program '" + program + "' not found on PATH: give its path (e.g. ./" +
                    program + ")");
}

}  // namespace

LaunchPlan plan_launch(const LaunchRequest& request, const Environment& env) {
  if (request.segments.empty() || request.segments.front().command.empty()) {
    throw LaunchError("no program given: manta run [options] PROGRAM [ARGS...]");
  }
  if (request.launcher != "auto" && request.launcher != "srun" && request.launcher != "mpirun") {
    throw LaunchError("--launcher=" + request.launcher + ": expected auto, srun or mpirun");
  }
  for (const auto& seg : request.segments) {
    if (seg.ranks == 0 || seg.ranks < -1) {
      throw LaunchError("-n " + std::to_string(seg.ranks) +
                        ": the number of ranks must be at least 1");
    }
    if (seg.command.empty()) {
      throw LaunchError("an empty program after ':': write PROGRAM [ARGS...] : [-n N] PROGRAM ...");
    }
  }
  const auto srun = env.find_program("srun");
  const auto mpirun = env.find_program("mpirun");
  const bool slurm = in_slurm_allocation(env);

  LaunchPlan plan;
  if (request.launcher == "srun") {
    if (!srun) {
      throw LaunchError(
          "--launcher=srun but srun is not on PATH: install Slurm's client (apt-get install "
          "slurm-client) or load your site's Slurm module");
    }
    plan.launcher = "srun";
    plan.why = "asked for with --launcher=srun";
  } else if (request.launcher == "mpirun") {
    if (!mpirun) {
      throw LaunchError(
          "--launcher=mpirun but mpirun is not on PATH: install Open MPI (apt-get install "
          "openmpi-bin) or load your site's MPI module");
    }
    plan.launcher = "mpirun";
    plan.why = "asked for with --launcher=mpirun";
  } else if (slurm && srun && env.srun_pmix) {
    plan.launcher = "srun";
    plan.why = "inside Slurm allocation " + var(env, "SLURM_JOB_ID") +
               ", and srun starts MPI through PMIx";
  } else if (mpirun) {
    plan.launcher = "mpirun";
    plan.why = slurm ? (srun ? "inside Slurm allocation " + var(env, "SLURM_JOB_ID") +
                                   ", but srun offers no PMIx (srun --mpi=list); mpirun maps the "
                                   "ranks onto the allocation"
                             : "inside Slurm allocation " + var(env, "SLURM_JOB_ID") +
                                   " without srun on PATH; mpirun maps the ranks onto it")
                     : "not inside a Slurm allocation";
  } else if (slurm && srun) {
    throw LaunchError(
        "inside a Slurm allocation, but srun cannot start MPI programs here (srun --mpi=list "
        "offers no pmix) and mpirun is not on PATH: install Open MPI (apt-get install "
        "openmpi-bin) or load your site's MPI module");
  } else {
    throw LaunchError(
        "no MPI launcher found: neither mpirun nor srun is on PATH; install Open MPI (apt-get "
        "install openmpi-bin) or load your site's MPI module");
  }

  const bool het = !var(env, "SLURM_HET_SIZE").empty();
  const int het_size = het ? std::atoi(var(env, "SLURM_HET_SIZE").c_str()) : 0;
  if (request.segments.size() > 1 && plan.launcher == "srun" &&
      static_cast<int>(request.segments.size()) != het_size) {
    throw LaunchError(
        "several programs (':') under srun need a heterogeneous allocation with one component "
        "per program (#SBATCH hetjob); this allocation has " +
        (het ? std::to_string(het_size) + " components" : std::string("none")) +
        ". Use --launcher=mpirun, or one program");
  }

  // Default rank counts.
  const std::string slurm_tasks = var(env, "SLURM_NTASKS");
  std::vector<int> ranks;
  for (const auto& seg : request.segments) ranks.push_back(seg.ranks);
  if (ranks.size() == 1 && ranks[0] < 0) {
    if (plan.launcher == "srun") {
      ranks[0] = 0;  // srun starts the allocation's tasks
    } else if (slurm && !slurm_tasks.empty()) {
      ranks[0] = std::atoi(slurm_tasks.c_str());
    } else {
      ranks[0] = env.cores;
      plan.notes.push_back("no -n given: one rank per core, " + std::to_string(env.cores) +
                           " ranks");
    }
  }
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 0 && plan.launcher != "srun") {
      throw LaunchError(
          "program " + std::to_string(i + 1) +
          " of several needs its rank count: write '-n N PROGRAM ... : -n M PROGRAM ...'");
    }
    plan.total_ranks += std::max(ranks[i], 0);
  }

  std::vector<std::string> programs;
  for (const auto& seg : request.segments) programs.push_back(require_program(env, seg.command[0]));

  if (!request.job_dir.empty()) plan.env.emplace_back("MANTA_JOB_DIR", request.job_dir);
  auto& a = plan.argv;
  if (plan.launcher == "srun") {
    // A rank that dies ends the step, as mpirun ends its job: without it the other ranks would
    // wait for the dead one forever. A --launcher-arg can say otherwise (the last one counts).
    a = {*srun, "--mpi=pmix", "--kill-on-bad-exit=1"};
    for (const auto& x : request.launcher_args) a.push_back(x);
    if (request.segments.size() == 1 && het && het_size > 1) {
      // One program over every component: one MPI world across the heterogeneous job.
      a.push_back("--het-group=0-" + std::to_string(het_size - 1));
    }
    for (std::size_t i = 0; i < request.segments.size(); ++i) {
      if (i > 0) a.push_back(":");
      if (request.segments.size() > 1) a.push_back("--het-group=" + std::to_string(i));
      if (ranks[i] > 0) a.push_back("--ntasks=" + std::to_string(ranks[i]));
      a.push_back(programs[i]);
      plan.argument_ranges.emplace_back(a.size(), request.segments[i].command.size() - 1);
      a.insert(a.end(), request.segments[i].command.begin() + 1, request.segments[i].command.end());
    }
    // srun exports the whole environment to the ranks by default.
    return plan;
  }

  a = {*mpirun};
  const bool openmpi = env.mpirun_flavor == "openmpi";
  if (openmpi) {
    if (request.oversubscribe) a.push_back("--oversubscribe");
    if (env.is_root) a.push_back("--allow-run-as-root");
    // Open MPI passes the environment only to ranks on mpirun's own node; name what the others
    // need.
    std::vector<std::string> names;
    for (const auto& [name, value] : env.vars) {
      if (name.rfind("MANTA_", 0) == 0 && name != "MANTA_JOB_DIR") names.push_back(name);
    }
    for (const auto& [name, value] : plan.env) names.push_back(name);
    for (const auto& n : names) {
      a.push_back("-x");
      a.push_back(n);
    }
  } else if (request.oversubscribe) {
    plan.notes.push_back("--oversubscribe is an Open MPI flag; this mpirun (" +
                         (env.mpirun_flavor.empty() ? std::string("unknown") : env.mpirun_flavor) +
                         ") runs more ranks than cores without it");
  }
  for (const auto& x : request.launcher_args) a.push_back(x);
  for (std::size_t i = 0; i < request.segments.size(); ++i) {
    if (i > 0) a.push_back(":");
    a.push_back("-n");
    a.push_back(std::to_string(ranks[i]));
    a.push_back(programs[i]);
    plan.argument_ranges.emplace_back(a.size(), request.segments[i].command.size() - 1);
    a.insert(a.end(), request.segments[i].command.begin() + 1, request.segments[i].command.end());
  }
  if (!slurm && !request.oversubscribe && plan.total_ranks > env.cores && openmpi) {
    plan.notes.push_back(std::to_string(plan.total_ranks) + " ranks on " +
                         std::to_string(env.cores) +
                         " cores: add --oversubscribe if mpirun refuses for want of slots");
  }
  return plan;
}

std::vector<std::string> argv_without_arguments(const LaunchPlan& plan) {
  std::vector<std::string> out;
  std::size_t next = 0;
  for (const auto& [first, count] : plan.argument_ranges) {
    out.insert(out.end(), plan.argv.begin() + static_cast<std::ptrdiff_t>(next),
               plan.argv.begin() + static_cast<std::ptrdiff_t>(first));
    if (count > 0)
      out.push_back(count == 1 ? std::string("[1 argument]")
                               : fmt::format("[{} arguments]", count));
    next = first + count;
  }
  out.insert(out.end(), plan.argv.begin() + static_cast<std::ptrdiff_t>(next), plan.argv.end());
  return out;
}

namespace {

std::string run_and_read(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return {};
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe.get())) out += buf.data();
  return out;
}

std::optional<std::string> find_on_path(const std::string& name) {
  namespace fs = std::filesystem;
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    if (fs::is_regular_file(name, ec) && ::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  const std::string_view p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t colon = p.find(':', start);
    const std::string_view dir =
        p.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    // Formatted, not concatenated: GCC 12 sees a false overlap (-Wrestrict) in string + at -O3.
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return std::nullopt;
}

}  // namespace

Environment probe_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    if (const auto eq = kv.find('='); eq != std::string::npos) {
      env.vars.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  env.find_program = find_on_path;
  env.is_root = ::geteuid() == 0;
  env.cores = std::max(1u, std::thread::hardware_concurrency());
  if (const auto mpirun = find_on_path("mpirun")) {
    const std::string v = run_and_read(shell_quote({*mpirun, "--version"}) + " 2>&1");
    if (v.find("Open MPI") != std::string::npos || v.find("OpenRTE") != std::string::npos) {
      env.mpirun_flavor = "openmpi";
    } else if (v.find("HYDRA") != std::string::npos || v.find("MPICH") != std::string::npos ||
               v.find("Intel") != std::string::npos) {
      env.mpirun_flavor = "mpich";
    }
  }
  if (env.vars.count("SLURM_JOB_ID")) {
    if (const auto srun = find_on_path("srun")) {
      const std::string v = run_and_read(shell_quote({*srun, "--mpi=list"}) + " 2>&1");
      env.srun_pmix = v.find("pmix") != std::string::npos;
    }
  }
  return env;
}

std::string shell_quote(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !w.empty() &&
        w.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") ==
            std::string::npos;
    if (plain) {
      out += w;
    } else {
      out += '\'';
      for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

}  // namespace manta::launch
