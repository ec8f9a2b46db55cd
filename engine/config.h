// Runtime settings: --manta-* flags, then MANTA_* environment variables, then defaults.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <manta/options.h>
#include <manta/settings.h>

namespace manta::engine {

struct Config {
  // Not a setting: how many runtimes this process ran before this one (init after shutdown).
  // The high bits of every sequence number (RankContext), so that what an earlier runtime made
  // is told apart from what this one makes.
  int session = 0;
  int num_cpus = 0;              // 0: this rank's share of the node's cores
  int max_workers = 0;           // 0: max(64, 16 x CPUs) threads per rank
  int max_actors = 10000;        // actors a rank hosts at most (the actor_slots resource)
  ResourceMap custom_resources;  // extra resources this rank offers, e.g. {"GPU": 1}
  std::uint64_t inline_limit = 100 * 1024;
  int forward_threshold = 0;  // 0: 4 x the rank's CPUs
  // Leases (docs/leases.md): past the threshold, tasks go straight to ranks rank 0 lent.
  bool leases = true;
  int lease_term_ms = 2000;   // a lease lasts this long unless renewed
  int lease_depth = 16;       // tasks a lease may keep on a rank per CPU it offers
  int lease_backlog_ms = 10;  // a shorter backlog than this runs here: not worth a lease
  std::uint64_t chunk_size = std::uint64_t{4} << 20;
  int progress_spin_us = 200;
  int progress_max_sleep_us = 1000;
  int progress_idle_sleep_us = 50000;  // the cap once idle for a second: 1 % of the idle time
  int wait_spin_us = 1000;             // a blocked get or wait polls this long before sleeping
  int idle_spin_us = 1000;  // an idle worker or actor thread polls this long before sleeping
  int report_interval_ms = 20;
  int report_budget = 50000;  // load reports a second into rank 0 from all ranks; 0: no cap
  int shutdown_timeout_s = 30;
  std::string log_level = "warn";
  std::string topology_xml;
  std::string gpus;           // --manta-gpus list or "none"; empty: auto (the environment decides)
  std::string bind = "auto";  // auto, none or cores
  std::string timeline;       // write a Chrome trace of all tasks here at shutdown
  std::string transport = "auto";  // auto, ucx or mpi
  int ucx_eager_endpoints = 64;    // past this many ranks, UCX endpoints are made on first use
  std::string summary;             // at shutdown: "-" prints memory_summary to stderr, else a file
  // Object store memory and spilling.
  std::uint64_t object_store_memory = 0;  // 0: 30 % of this rank's share of node memory
  double spill_high_water = 0.8;          // spill once the store is this full
  std::string spill_dir;                  // empty: $TMPDIR, else /tmp
  bool keep_spill = false;                // keep the job's spill files at shutdown
  int spill_compression = 0;              // deflate level of spill files, 0: none
  std::uint64_t spill_batch = std::uint64_t{8} << 20;  // small objects are written in batches
  // Node-shared store: large objects in shared memory that ranks of a node read in place.
  std::string shared_memory = "auto";  // auto (fall back to private memory), require, or off
  std::string shm_dir = "/dev/shm";
  int node_size = 0;  // > 0: ranks count as nodes of this many consecutive ranks (tests)
  double collective_timeout_s = 300;  // a collective call waits this long for the other members
  double store_full_timeout_s = 30;   // a put waits this long for space while pins fill the store
  // The job directory: logs, status, task events and the summary (empty: none).
  std::string job_dir;
  double status_interval_s = 2;
  int checkpoint_signal = SIGUSR1;    // 0: none
  std::string checkpoint_dir;         // on the checkpoint signal, checkpoint_point() writes here
  double checkpoint_timeout_s = 300;  // a checkpoint waits this long for actors' running calls
  std::string restore;                // start from the checkpoint in this directory
  std::string program;                // argv[0], for the status file
  // Task specs an owner keeps to rebuild lost objects (docs/lineage.md); 0 keeps none.
  std::uint64_t max_lineage_bytes = std::uint64_t{1} << 30;
  std::string name_space = "default";  // actor names without a namespace live here
  // --manta-env NAME=VALUE, in the order given: set on every rank at init.
  std::vector<std::pair<std::string, std::string>> job_env;
  bool help = false;
  /// Settings that were given, by flag: the text and where it came from.
  struct Given {
    std::string value;
    std::string source;  // "flag" or "environment"
  };
  std::vector<std::pair<std::string, Given>> given;
};

using SettingInfo = manta::SettingInfo;

/// Every setting, for --manta-help and `manta --help`.
const std::vector<SettingInfo>& settings();

/// Reads flags (removing them from argv) and environment. Throws std::invalid_argument naming
/// the setting, the bad value and what is expected; an unknown --manta-* flag names the closest.
Config parse_config(int& argc, char**& argv);

/// The settings among `words` (other words are ignored), then the environment's.
Config config_from_words(const std::vector<std::string>& words);

/// Parses sizes like "64M", "8G", "100K", "4096".
std::uint64_t parse_size(const std::string& text);

/// Text of --manta-help.
std::string settings_help();

/// The setting names closest to `name` (edit distance), best first.
std::vector<std::string> closest_settings(const std::string& name);

}  // namespace manta::engine
