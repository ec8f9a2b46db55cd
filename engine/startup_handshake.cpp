#include "engine/startup_handshake.h"

#include <fmt/format.h>

#include <set>
#include <sstream>

#include "engine/messages.h"
#include "transport/mpi_world.h"
#include "transport/wire.h"

namespace manta::engine {

std::vector<RankInfo> exchange_rank_table(MPI_Comm comm, const RankInfo& mine) {
  Buffer b;
  transport::WireWriter w(b);
  w.put(mine.rank).str(mine.host);
  write_resources(w, mine.total);
  std::vector<RankInfo> table;
  for (const Buffer& one : transport::allgather_bytes(comm, b.span())) {
    transport::WireReader r(one.span());
    RankInfo info;
    info.rank = r.get<int>();
    info.host = r.str();
    info.total = read_resources(r);
    table.push_back(std::move(info));
  }
  return table;
}

namespace {
std::set<std::string> lines_of(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.insert(line);
  }
  return out;
}
}  // namespace

std::string describe_listing_difference(const std::string& reference, int reference_rank,
                                        const std::string& other, int other_rank) {
  auto a = lines_of(reference), b = lines_of(other);
  std::vector<std::string> only_a, only_b;
  for (const auto& l : a)
    if (!b.contains(l)) only_a.push_back(l);
  for (const auto& l : b)
    if (!a.contains(l)) only_b.push_back(l);
  std::string s = fmt::format("rank {} differs from rank {}:", other_rank, reference_rank);
  if (!only_b.empty())
    s += fmt::format(" it registers {} that rank {} does not;", fmt::join(only_b, ", "),
                     reference_rank);
  if (!only_a.empty()) s += fmt::format(" it lacks {};", fmt::join(only_a, ", "));
  return s;
}

std::string check_function_tables(MPI_Comm comm, const std::string& my_listing) {
  const std::uint64_t mine = detail::fnv1a(my_listing);
  int size = 0;
  MPI_Comm_size(comm, &size);
  std::vector<std::uint64_t> hashes(size);
  MPI_Allgather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, comm);
  bool same = true;
  for (auto h : hashes) same &= h == hashes[0];
  if (same) return {};
  auto listings = transport::allgather_bytes(
      comm, {reinterpret_cast<const std::byte*>(my_listing.data()), my_listing.size()});
  auto text = [&](int r) {
    return std::string(reinterpret_cast<const char*>(listings[r].data()), listings[r].size());
  };
  std::string msg =
      "ranks run different programs: the functions registered with MANTA_REMOTE differ. ";
  for (int r = 1; r < size; ++r) {
    if (hashes[r] != hashes[0]) msg += describe_listing_difference(text(0), 0, text(r), r) + " ";
  }
  msg += "Launch the same binary on every rank (rebuild and copy it to every node).";
  return msg;
}

}  // namespace manta::engine
