#include "engine/runtime_sessions.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace manta::engine::sessions {
namespace {

constexpr int kTag = 1;
constexpr char kEnd = 0;
constexpr char kAgain = 1;

// A message: one kind byte, then each argument followed by a NUL.
std::vector<char> encode(char kind, const std::vector<std::string>& args) {
  std::vector<char> bytes{kind};
  for (const auto& a : args) {
    bytes.insert(bytes.end(), a.begin(), a.end());
    bytes.push_back('\0');
  }
  return bytes;
}

void send_all(MPI_Comm channel, int size, const std::vector<char>& bytes) {
  for (int r = 1; r < size; ++r) {
    MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_CHAR, r, kTag, channel);
  }
}

}  // namespace

MPI_Comm open_channel() {
  MPI_Comm channel = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &channel);
  return channel;
}

Next wait_for_driver(MPI_Comm channel) {
  // Probing, not a blocking receive: Open MPI's blocking calls poll a core at full speed, and
  // the waiting ranks may share cores with the driver (oversubscribed jobs).
  auto pause = std::chrono::milliseconds(1);
  int arrived = 0;
  MPI_Status status;
  for (;;) {
    MPI_Iprobe(0, kTag, channel, &arrived, &status);
    if (arrived) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  std::vector<char> bytes(static_cast<std::size_t>(std::max(count, 1)));
  MPI_Recv(bytes.data(), count, MPI_CHAR, 0, kTag, channel, MPI_STATUS_IGNORE);
  Next next;
  next.again = count > 0 && bytes[0] == kAgain;
  std::string current;
  for (int i = 1; i < count; ++i) {
    if (bytes[static_cast<std::size_t>(i)] == '\0') {
      next.args.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(bytes[static_cast<std::size_t>(i)]);
    }
  }
  return next;
}

void announce_again(MPI_Comm channel, int size, const std::vector<std::string>& args) {
  send_all(channel, size, encode(kAgain, args));
}

void announce_end(MPI_Comm channel, int size) { send_all(channel, size, encode(kEnd, {})); }

Argv make_argv(std::vector<std::string> args) {
  Argv a;
  a.storage = std::move(args);
  for (auto& s : a.storage) a.pointers.push_back(s.data());
  a.pointers.push_back(nullptr);
  a.argc = static_cast<int>(a.storage.size());
  a.argv = a.pointers.data();
  return a;
}

}  // namespace manta::engine::sessions
