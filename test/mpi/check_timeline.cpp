// check_timeline FILE TASKS RANKS: the trace has TASKS task events, from RANKS ranks, each with a
// name, a start and a duration, and a name for every rank's lane.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: check_timeline FILE TASKS RANKS\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "check_timeline: cannot open %s\n", argv[1]);
    return 1;
  }
  const auto trace = nlohmann::json::parse(in);
  std::size_t tasks = 0;
  std::set<int> ranks, named;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M") {
      named.insert(e.at("pid").get<int>());
      continue;
    }
    if (e.at("ph") != "X" || e.at("name").get<std::string>().empty() ||
        e.at("ts").get<long>() < 0 || e.at("dur").get<long>() < 1) {
      std::fprintf(stderr, "check_timeline: malformed event %s\n", e.dump().c_str());
      return 1;
    }
    ++tasks;
    ranks.insert(e.at("pid").get<int>());
  }
  const auto want_tasks = std::strtoul(argv[2], nullptr, 10);
  const auto want_ranks = std::strtoul(argv[3], nullptr, 10);
  std::printf("timeline: %zu task events from %zu ranks, %zu lanes named\n", tasks, ranks.size(),
              named.size());
  if (tasks != want_tasks || ranks.size() != want_ranks || named.size() != want_ranks) {
    std::fprintf(stderr, "check_timeline: expected %lu task events from %lu ranks\n", want_tasks,
                 want_ranks);
    return 1;
  }
  return 0;
}
