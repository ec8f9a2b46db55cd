// What the benchmark programs share: the raw MPI round trip they compare with, and the report
// (a table for people, JSON for tools).
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace manta::bench {

/// The value of --manta-NAME=V or --manta-NAME V, else of the environment variable, else "".
inline std::string manta_setting(int argc, char** argv, const std::string& name, const char* env) {
  const std::string flag = "--manta-" + name;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
    if (a == flag && i + 1 < argc) return argv[i + 1];
  }
  const char* v = std::getenv(env);
  return v ? v : "";
}

/// Command line and MPI start shared by the benchmark programs.
struct Setup {
  bool quick = false;     // --quick: fewer iterations, for a smoke run
  std::string json_path;  // --json FILE
  int world = 1;
  int scale = 1;  // iteration counts are divided by this
};

/// Reads --quick and --json FILE, and initialises MPI itself so the raw MPI baselines can run
/// before manta::init (which then uses this MPI).
inline Setup start(int& argc, char**& argv) {
  Setup s;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") s.quick = true;
    if (std::string(argv[i]) == "--json" && i + 1 < argc) s.json_path = argv[i + 1];
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_size(MPI_COMM_WORLD, &s.world);
  s.scale = s.quick ? 20 : 1;
  return s;
}

struct Row {
  std::string name;
  double value = 0;
  std::string unit;
  double baseline = 0;  // raw MPI figure in the same unit, if any
  std::string baseline_name;
  std::string target;
  bool met = true;
};

/// Ping-pong of 8 bytes between ranks 0 and 1 on MPI_COMM_WORLD, before Manta starts; µs per
/// round trip. Every rank calls it.
inline double mpi_round_trip_us(int iters) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char buf[8] = {};
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) {
    if (rank == 0) {
      MPI_Send(buf, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(buf, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      iters;
  MPI_Barrier(MPI_COMM_WORLD);
  return us;
}

/// Prints the table and the JSON, and writes the JSON to `json_path` if it is not empty.
inline void print_report(const std::string& title, int ranks, bool quick, double mpi_rtt_us,
                         const std::vector<Row>& rows, const std::string& json_path) {
  std::printf("\n%s: %d ranks%s\n", title.c_str(), ranks, quick ? " (quick)" : "");
  std::printf("%-52s %14s %-12s %14s %8s  %s\n", "benchmark", "value", "unit", "raw MPI", "ratio",
              "target");
  nlohmann::json out;
  out["ranks"] = ranks;
  out["quick"] = quick;
  out["mpi_round_trip_us"] = mpi_rtt_us;
  for (const Row& r : rows) {
    const double ratio = r.baseline > 0 ? r.value / r.baseline : 0;
    std::printf("%-52s %14.2f %-12s %14s %8s  %s%s\n", r.name.c_str(), r.value, r.unit.c_str(),
                r.baseline > 0 ? fmt::format("{:.2f}", r.baseline).c_str() : "",
                r.baseline > 0 ? fmt::format("{:.2f}", ratio).c_str() : "", r.target.c_str(),
                r.target.empty() ? "" : (r.met ? "  (met)" : "  (NOT met)"));
    nlohmann::json j = {{"name", r.name},
                        {"value", r.value},
                        {"unit", r.unit},
                        {"target", r.target},
                        {"met", r.met}};
    if (r.baseline > 0) {
      j["mpi_baseline"] = r.baseline;
      j["mpi_baseline_name"] = r.baseline_name;
      j["ratio_to_mpi"] = ratio;
    }
    out["results"].push_back(j);
  }
  const std::string text = out.dump(2);
  std::printf("\n%s\n", text.c_str());
  if (!json_path.empty()) std::ofstream(json_path) << text << "\n";
}

}  // namespace manta::bench
