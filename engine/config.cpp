#include "engine/config.h"

#include "engine/task_env.h"
#include "engine/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <stdexcept>

namespace manta::engine {
namespace {

using Apply = std::function<void(Config&, const std::string&)>;

struct Setting {
  SettingInfo info;
  Apply apply;
};

int parse_int(const std::string& name, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo || x > hi) {
    throw std::invalid_argument(
        fmt::format("--manta-{}={}: expected an integer from {} to {}", name, v, lo, hi));
  }
  return static_cast<int>(x);
}

double parse_fraction(const std::string& name, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x > 0) || x > 1) {
    throw std::invalid_argument(
        fmt::format("--manta-{}={}: expected a fraction above 0 and at most 1, e.g. 0.8", name, v));
  }
  return x;
}

/// Seconds from `lo` to `hi` (`lo` itself allowed only when `lo_ok`); `expected` says what fits.
double parse_seconds(const std::string& v, double lo, bool lo_ok, double hi, const char* expected) {
  char* end = nullptr;
  const double secs = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(lo_ok ? secs >= lo : secs > lo) || secs > hi) {
    throw std::invalid_argument(expected);
  }
  return secs;
}

bool is_switch(const std::string& flag) {
  return flag == "--manta-help" || flag == "--manta-summary" || flag == "--manta-keep-spill";
}

int parse_signal(const std::string& v) {
  static const std::pair<const char*, int> names[] = {
      {"none", 0},     {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"INT", SIGINT},
      {"HUP", SIGHUP}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"ALRM", SIGALRM}};
  std::string name = v;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  if (name == "NONE") return 0;
  for (const auto& [n, sig] : names) {
    if (name == n) return sig;
  }
  throw std::invalid_argument("--manta-checkpoint-signal=" + v +
                              ": expected USR1, USR2, TERM, INT, HUP, URG, XCPU, ALRM or none");
}

ResourceMap parse_resources(const std::string& v) {
  ResourceMap out;
  std::size_t pos = 0;
  while (pos < v.size()) {
    std::size_t comma = v.find(',', pos);
    std::string item = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? v.size() : comma + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    char* end = nullptr;
    double amount = eq == std::string::npos ? -1 : std::strtod(item.c_str() + eq + 1, &end);
    // !(amount >= 0) also refuses NaN.
    if (eq == 0 || eq == std::string::npos || *end != '\0' || !(amount >= 0) ||
        !std::isfinite(amount)) {
      throw std::invalid_argument(fmt::format(
          "--manta-resources={}: expected NAME=AMOUNT[,NAME=AMOUNT...] with finite amounts of at "
          "least 0, e.g. GPU=1,ssd=2",
          v));
    }
    std::string name = item.substr(0, eq);
    if (name == "CPU") {
      throw std::invalid_argument("--manta-resources: set CPUs with --manta-num-cpus");
    }
    out[name] = amount;
  }
  return out;
}

// The settings table: one entry per --manta-* flag (a table, exempt from the function size limit).
const std::vector<Setting>& table() {
  static const std::vector<Setting> t = [] {
    std::vector<Setting> s;
    auto add = [&](std::string name, std::string fallback, std::string help, Apply apply) {
      std::string env = "MANTA_" + name;
      std::transform(env.begin(), env.end(), env.begin(),
                     [](char c) { return c == '-' ? '_' : static_cast<char>(std::toupper(c)); });
      const std::string flag = "--manta-" + name;
      s.push_back(
          {{flag, env, std::move(fallback), std::move(help), is_switch(flag)}, std::move(apply)});
    };
    add("num-cpus", "share of node", "worker threads (CPU resource) of each rank",
        [](Config& c, const std::string& v) { c.num_cpus = parse_int("num-cpus", v, 1, 4096); });
    add("max-workers", "max(64, 16 x CPUs)",
        "worker threads a rank may start while others are blocked in get; past it, blocked "
        "workers run queued tasks themselves",
        [](Config& c, const std::string& v) {
          c.max_workers = parse_int("max-workers", v, 1, 65536);
        });
    add("max-actors", "10000",
        "actors each rank can host (an idle actor holds no thread); creations beyond go to other "
        "ranks, and wait with a message when every rank is full",
        [](Config& c, const std::string& v) {
          c.max_actors = parse_int("max-actors", v, 0, 100000);
        });
    add("resources", "", "custom resources of each rank, e.g. GPU=1,ssd=2",
        [](Config& c, const std::string& v) { c.custom_resources = parse_resources(v); });
    add("inline-limit", "100K", "objects up to this size travel inside control messages",
        [](Config& c, const std::string& v) { c.inline_limit = parse_size(v); });
    add("forward-threshold", "4 x CPUs",
        "queued tasks on a rank beyond which new tasks go to the global scheduler",
        [](Config& c, const std::string& v) {
          c.forward_threshold = parse_int("forward-threshold", v, 1, 1 << 30);
        });
    add("leases", "on",
        "on: past the threshold a rank sends tasks straight to ranks rank 0 lends it; off: each "
        "such task goes through rank 0",
        [](Config& c, const std::string& v) {
          if (v != "on" && v != "off") {
            throw std::invalid_argument("--manta-leases=" + v + ": expected on or off");
          }
          c.leases = v == "on";
        });
    add("lease-term-ms", "2000", "how long a lease lasts unless its holder renews it",
        [](Config& c, const std::string& v) {
          c.lease_term_ms = parse_int("lease-term-ms", v, 10, 3600 * 1000);
        });
    add("lease-depth", "16",
        "tasks a lease may keep running or queued on a rank, per CPU the rank offers",
        [](Config& c, const std::string& v) {
          c.lease_depth = parse_int("lease-depth", v, 1, 1 << 16);
        });
    add("lease-backlog-ms", "10",
        "past the threshold, a rank asks for leases only when its waiting tasks would take longer "
        "than this to run here (0: always)",
        [](Config& c, const std::string& v) {
          c.lease_backlog_ms = parse_int("lease-backlog-ms", v, 0, 3600 * 1000);
        });
    add("chunk-size", "4M", "bytes per message when large objects move between ranks",
        [](Config& c, const std::string& v) {
          c.chunk_size = parse_size(v);
          if (c.chunk_size == 0 || c.chunk_size > (1ull << 30)) {
            throw std::invalid_argument("--manta-chunk-size: expected 1 byte to 1G");
          }
        });
    add("progress-spin-us", "200",
        "microseconds the progress thread keeps polling after its last message before it sleeps",
        [](Config& c, const std::string& v) {
          c.progress_spin_us = parse_int("progress-spin-us", v, 0, 1000000);
        });
    add("wait-spin-us", "1000", "microseconds a thread in get or wait polls before it sleeps",
        [](Config& c, const std::string& v) {
          c.wait_spin_us = parse_int("wait-spin-us", v, 0, 1000000);
        });
    add("idle-spin-us", "1000",
        "microseconds an idle worker or actor thread polls for new work before it sleeps",
        [](Config& c, const std::string& v) {
          c.idle_spin_us = parse_int("idle-spin-us", v, 0, 1000000);
        });
    add("progress-max-sleep-us", "1000", "longest sleep of an idle progress thread",
        [](Config& c, const std::string& v) {
          c.progress_max_sleep_us = parse_int("progress-max-sleep-us", v, 1, 1000000);
        });
    add("progress-idle-sleep-us", "50000",
        "longest sleep of a progress thread idle for a second or more; its sleeps grow to 1 % of "
        "its idle time up to this (a message reaching such a rank waits at most this long)",
        [](Config& c, const std::string& v) {
          c.progress_idle_sleep_us = parse_int("progress-idle-sleep-us", v, 1, 1000000);
        });
    add("report-interval-ms", "20", "how often ranks report their load to the global scheduler",
        [](Config& c, const std::string& v) {
          c.report_interval_ms = parse_int("report-interval-ms", v, 1, 60000);
        });
    add("report-budget", "50000",
        "load reports a second rank 0 takes in from all ranks together: with many ranks each "
        "reports less often (0: every interval)",
        [](Config& c, const std::string& v) {
          c.report_budget = parse_int("report-budget", v, 0, 1 << 30);
        });
    add("shutdown-timeout", "30",
        "seconds rank 0 waits for other ranks to stop before aborting, and that each rank gives "
        "a last teardown step (UCX, MPI_Finalize) before it ends anyway",
        [](Config& c, const std::string& v) {
          c.shutdown_timeout_s = parse_int("shutdown-timeout", v, 1, 86400);
        });
    add("log-level", "warn", "trace, debug, info, warn, error or off",
        [](Config& c, const std::string& v) {
          static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
          if (std::none_of(std::begin(levels), std::end(levels),
                           [&](const char* l) { return v == l; })) {
            throw std::invalid_argument("--manta-log-level=" + v +
                                        ": expected trace, debug, info, warn, error or off");
          }
          c.log_level = v;
        });
    add("topology-xml", "", "read the hardware from this hwloc XML file instead of the machine",
        [](Config& c, const std::string& v) { c.topology_xml = v; });
    add("gpus", "auto",
        "GPUs of this node the ranks may use: auto (what CUDA_VISIBLE_DEVICES, "
        "ROCR_VISIBLE_DEVICES "
        "or Slurm allow, else all), none, or a list of indices or GPU-/MIG- UUIDs; the node's "
        "ranks then split them",
        [](Config& c, const std::string& v) {
          if (v.empty()) {
            throw std::invalid_argument(
                "--manta-gpus is empty: give auto, none or a list such as 0,1");
          }
          c.gpus = v == "auto" ? std::string() : v;
        });
    add("bind", "auto",
        "bind worker threads to cores: cores (each worker its own core of the rank's cpuset), "
        "none, or auto (cores when the launcher bound the rank, else none)",
        [](Config& c, const std::string& v) {
          if (v != "auto" && v != "none" && v != "cores") {
            throw std::invalid_argument("--manta-bind=" + v + ": expected auto, none or cores");
          }
          c.bind = v;
        });
    add("timeline", "",
        "write a Chrome trace (chrome://tracing, Perfetto) of every task to this file at shutdown",
        [](Config& c, const std::string& v) { c.timeline = v; });
    add("transport", "auto",
        "how large objects move between ranks: ucx (RMA reads of registered memory), mpi "
        "(chunked point-to-point), or auto (UCX when it starts on every rank, else MPI)",
        [](Config& c, const std::string& v) {
          if (v != "auto" && v != "ucx" && v != "mpi") {
            throw std::invalid_argument("--manta-transport=" + v + ": expected auto, ucx or mpi");
          }
          c.transport = v;
        });
    add("ucx-eager-endpoints", "64",
        "in jobs of up to this many ranks UCX connects every rank to every other at start; in "
        "larger ones a rank connects to another when it first reads from it",
        [](Config& c, const std::string& v) {
          c.ucx_eager_endpoints = parse_int("ucx-eager-endpoints", v, 0, 1 << 30);
        });
    add("summary", "",
        "at shutdown, print memory_summary() (objects and bytes per rank) to stderr, or write "
        "it to the file given as the value",
        [](Config& c, const std::string& v) {
          c.summary = v.empty() || v == "1" || v == "-" || v == "stderr" ? "-" : v;
        });
    add("object-store-memory", "30% of the rank's memory",
        "capacity of each rank's object store (e.g. 64M, 8G); past the spill high-water mark "
        "objects go to disk, and the store never holds more",
        [](Config& c, const std::string& v) {
          c.object_store_memory = parse_size(v);
          if (c.object_store_memory < (1u << 20)) {
            throw std::invalid_argument("expected at least 1M");
          }
        });
    add("shared-memory", "auto",
        "where large objects live: in shared memory segments that the node's other ranks read "
        "in place (auto: falls back to private memory, with a warning, when the shm directory is "
        "too small; require: init fails then), or off (private memory, copies between ranks)",
        [](Config& c, const std::string& v) {
          if (v != "auto" && v != "require" && v != "off") {
            throw std::invalid_argument("--manta-shared-memory=" + v +
                                        ": expected auto, require or off");
          }
          c.shared_memory = v;
        });
    add("shm-dir", "/dev/shm",
        "tmpfs directory for the shared memory segments of the node-shared object store; every "
        "rank of a node must see the same one",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a directory path, e.g. /dev/shm");
          c.shm_dir = v;
        });
    add("node-size", "0",
        "count every N consecutive ranks of a host as one node (for trying a multi-node layout on "
        "one machine); 0: a node is a host",
        [](Config& c, const std::string& v) {
          c.node_size = parse_int("node-size", v, 0, 1 << 20);
        });
    add("spill-high-water", "0.8",
        "fraction of the store's capacity past which unpinned objects are spilled to disk, least "
        "recently used first",
        [](Config& c, const std::string& v) {
          c.spill_high_water = parse_fraction("spill-high-water", v);
        });
    add("spill-dir", "$TMPDIR or /tmp",
        "directory for spill files (one HDF5 file per rank in a per-job directory); on a cluster "
        "a parallel file system path lets ranks read each other's spilled objects",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a directory path");
          c.spill_dir = v;
        });
    add("keep-spill", "", "keep the job's spill directory at shutdown (it is removed otherwise)",
        [](Config& c, const std::string& v) { c.keep_spill = v.empty() || v != "0"; });
    add("spill-compression", "0", "deflate level (1-9) of spill files, 0 for none",
        [](Config& c, const std::string& v) {
          c.spill_compression = parse_int("spill-compression", v, 0, 9);
        });
    add("spill-batch", "8M", "small objects are gathered into spill writes of about this size",
        [](Config& c, const std::string& v) { c.spill_batch = parse_size(v); });
    add("store-full-timeout", "30",
        "seconds a put or task result waits for store space while pinned objects fill the store; "
        "then it fails with ObjectStoreFullError",
        [](Config& c, const std::string& v) {
          c.store_full_timeout_s =
              parse_seconds(v, 0, true, 1e6, "expected seconds, e.g. 30 or 0.5");
        });
    add("collective-timeout", "300",
        "seconds a collective call among actors waits for the other members to call it too; "
        "then it fails with CollectiveError (a member's death fails it at once)",
        [](Config& c, const std::string& v) {
          c.collective_timeout_s =
              parse_seconds(v, 0, false, 1e6, "expected seconds above 0, e.g. 300 or 0.5");
        });
    add("job-dir", "",
        "job directory: per-rank logs, a status file, task events and a summary at "
        "exit (`manta run` sets it; `manta status DIR` and `manta timeline DIR` read it)",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a directory path");
          c.job_dir = v;
        });
    add("status-interval", "2", "seconds between updates of the job directory's status file",
        [](Config& c, const std::string& v) {
          c.status_interval_s =
              parse_seconds(v, 0.05, true, 3600, "expected seconds from 0.05 to 3600, e.g. 2");
        });
    add("checkpoint-signal", "USR1",
        "signal that asks the job to checkpoint and stop (manta::checkpoint_requested() turns "
        "true); `none` leaves signals alone",
        [](Config& c, const std::string& v) { c.checkpoint_signal = parse_signal(v); });
    add("checkpoint-dir", "",
        "directory for the checkpoint taken on the checkpoint signal: manta::checkpoint_point() "
        "writes it there and ends the job with exit code 75, which batch scripts requeue",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a directory path");
          c.checkpoint_dir = v;
        });
    add("checkpoint-timeout", "300",
        "seconds a checkpoint waits for actors' running calls to return (it is taken between "
        "calls); then it fails with CheckpointError naming the busy actors",
        [](Config& c, const std::string& v) {
          c.checkpoint_timeout_s =
              parse_seconds(v, 0, false, 1e6, "expected seconds above 0, e.g. 300 or 0.5");
        });
    add("restore", "",
        "start from the checkpoint in this directory: its actors are recreated, its objects and "
        "the driver's state are given back (manta::restored_state, manta::restored_object)",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a checkpoint directory");
          c.restore = v;
        });
    add("max-lineage-bytes", "1G",
        "bytes of task specs each rank keeps to rebuild lost objects from their tasks; past it "
        "the oldest are dropped and their objects can no longer be rebuilt (0 keeps none)",
        [](Config& c, const std::string& v) { c.max_lineage_bytes = parse_size(v); });
    add("namespace", "default",
        "namespace of actor names: named actors of jobs with different namespaces do not see "
        "each other's names (an actor may still name another namespace)",
        [](Config& c, const std::string& v) {
          if (v.empty()) throw std::invalid_argument("expected a namespace, e.g. default");
          c.name_space = v;
        });
    add("env", "",
        "NAME=VALUE: set this environment variable on every rank at init; give it once per "
        "variable",
        [](Config& c, const std::string& v) { c.job_env.push_back(parse_env_assignment(v)); });
    add("help", "", "print these settings and exit",
        [](Config& c, const std::string&) { c.help = true; });
    return s;
  }();
  return t;
}

}  // namespace

const std::vector<SettingInfo>& settings() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> v;
    for (const auto& s : table()) v.push_back(s.info);
    return v;
  }();
  return infos;
}

std::uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  double x = std::strtod(text.c_str(), &end);
  std::string unit(end);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'I') unit.pop_back();
  double mult = 1;
  if (unit == "K")
    mult = 1024.0;
  else if (unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "T")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    x = -1;
  const double bytes = x * mult;
  // !(bytes >= 0) also rejects NaN; 2^63 keeps the conversion defined.
  if (text.empty() || end == text.c_str() || !(bytes >= 0) || !std::isfinite(bytes) ||
      bytes >= 9.2e18) {
    throw std::invalid_argument("'" + text + "' is not a size: use bytes or K, M, G, T (e.g. 64M)");
  }
  return static_cast<std::uint64_t>(bytes);
}

std::vector<std::string> closest_settings(const std::string& name) {
  std::vector<std::string> flags;
  for (const auto& s : table()) flags.push_back(s.info.flag);
  return closest_names(name, flags);
}

Config parse_config(int& argc, char**& argv) {
  Config c;
  // Environment first, so flags override it.
  for (const auto& s : table()) {
    if (const char* v = std::getenv(s.info.env.c_str()); v && *v && s.info.flag != "--manta-help") {
      try {
        s.apply(c, v);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(s.info.env + "=" + v + ": " + e.what());
      }
      c.given.push_back({s.info.flag, {v, "environment"}});
    }
  }
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--manta-", 0) != 0) {
      argv[out++] = argv[i];
      continue;
    }
    std::string key = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto it = std::find_if(table().begin(), table().end(),
                           [&](const Setting& s) { return s.info.flag == key; });
    if (it == table().end()) {
      auto near = closest_settings(key);
      std::string hint =
          near.empty() ? "" : " (did you mean " + fmt::format("{}", fmt::join(near, ", ")) + "?)";
      throw std::invalid_argument("unknown setting " + key + hint +
                                  "; --manta-help lists them all");
    }
    if (!has_value && !is_switch(key)) {
      if (i + 1 >= argc) throw std::invalid_argument(key + " needs a value");
      value = argv[++i];
    }
    try {
      it->apply(c, value);
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      if (m.rfind(key, 0) != 0) m = key + "=" + value + ": " + m;  // always name the flag
      throw std::invalid_argument(m);
    }
    c.given.push_back({key, {value, "flag"}});
  }
  argv[out] = nullptr;
  argc = out;
  return c;
}

std::string settings_help() {
  std::string s = "Manta settings (flag, environment variable, default):\n";
  for (const auto& i : settings()) {
    s += fmt::format("  {:<30} {:<28} default: {}\n      {}\n",
                     i.flag + (i.flag == "--manta-summary" ? "[=FILE]"
                               : i.is_switch               ? ""
                                                           : "=VALUE"),
                     i.env, i.fallback.empty() ? "(none)" : i.fallback, i.help);
  }
  return s;
}

}  // namespace manta::engine

namespace manta {

const std::vector<SettingInfo>& settings() { return engine::settings(); }

std::vector<std::string> closest_settings(const std::string& flag) {
  return engine::closest_settings(flag);
}

namespace engine {
Config config_from_words(const std::vector<std::string>& args) {
  std::vector<std::string> words{"manta"};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--manta-", 0) != 0) continue;
    words.push_back(a);
    if (a.find('=') != std::string::npos) continue;
    const auto it = std::find_if(settings().begin(), settings().end(),
                                 [&](const SettingInfo& s) { return s.flag == a; });
    // A flag whose value is the next word takes it along.
    if (it != settings().end() && !it->is_switch && i + 1 < args.size()) {
      words.push_back(args[++i]);
    }
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(words.size());
  char** p = argv.data();
  return parse_config(argc, p);
}
}  // namespace engine

std::vector<ResolvedSetting> resolve_settings(const std::vector<std::string>& args) {
  const engine::Config c = engine::config_from_words(args);
  std::vector<ResolvedSetting> out;
  for (const auto& info : engine::settings()) {
    if (info.flag == "--manta-help") continue;
    ResolvedSetting r{info, info.fallback, "default"};
    for (const auto& [flag, given] : c.given) {  // the last one given wins
      if (flag == info.flag) {
        r.value = given.value;
        r.source = given.source;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace manta
