// Shared pieces of the transport tests: the world started by main, a fixture that gives every
// test its own communicator and (optionally) its own ControlChannel, a barrier through the
// channel itself, and a byte pattern for large payloads.
//
// Every rank runs the same test bodies. The channel's progress thread is the only thread that
// calls MPI while it runs, so the main thread synchronises with the other ranks through the
// channel (channel_barrier) and uses MPI collectives only before start() or after stop().
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/buffer.h>

#include "transport/control_channel.h"
#include "transport/mpi_world.h"
#include "transport/wire.h"

namespace manta::transport::testing {

/// The world from start_mpi, set up by main before the tests run.
MpiWorld& world();

/// Long enough for any healthy run on 2 oversubscribed cores; a stuck test fails instead of
/// hanging until the ctest timeout.
inline constexpr std::chrono::seconds kWaitLimit{30};

/// The first byte of every control message a test sends says what it is.
enum class Kind : std::uint8_t { kUser = 1, kBarrier = 2 };

/// splitmix64: the word at `index` of the pattern with `seed`.
inline std::uint64_t pattern_word(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A buffer of `size` bytes: byte i is byte i % 8 of pattern_word(seed, i / 8). Every 8-byte
/// word differs, so a chunk delivered at the wrong offset or from another transfer shows.
inline Buffer make_pattern(std::uint64_t seed, std::size_t size) {
  Buffer b(size);
  std::byte* p = b.data();
  const std::size_t words = size / 8;
  for (std::size_t w = 0; w < words; ++w) {
    const std::uint64_t v = pattern_word(seed, w);
    std::memcpy(p + w * 8, &v, 8);
  }
  if (size % 8) {
    const std::uint64_t v = pattern_word(seed, words);
    std::memcpy(p + words * 8, &v, size % 8);
  }
  return b;
}

/// The offset of the first byte that differs from the pattern, if any.
inline std::optional<std::size_t> pattern_mismatch(std::uint64_t seed,
                                                   std::span<const std::byte> data) {
  const std::size_t words = data.size() / 8;
  for (std::size_t w = 0; w < words; ++w) {
    const std::uint64_t v = pattern_word(seed, w);
    if (std::memcmp(data.data() + w * 8, &v, 8) != 0) {
      for (std::size_t i = 0; i < 8; ++i) {
        if (std::memcmp(data.data() + w * 8 + i, reinterpret_cast<const std::byte*>(&v) + i, 1)) {
          return w * 8 + i;
        }
      }
    }
  }
  if (data.size() % 8) {
    const std::uint64_t v = pattern_word(seed, words);
    for (std::size_t i = 0; i < data.size() % 8; ++i) {
      if (std::memcmp(data.data() + words * 8 + i, reinterpret_cast<const std::byte*>(&v) + i, 1)) {
        return words * 8 + i;
      }
    }
  }
  return std::nullopt;
}

/// State shared between the handlers (on whatever thread makes progress) and the test body.
/// Handlers change the test's fields with `mutex` held and then notify `cv`.
struct Shared {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> errors;  // problems the handlers saw, checked by the body

  /// Waits until pred() (called with `mutex` held) is true; false after kWaitLimit.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, kWaitLimit, pred);
  }
  /// Records a problem seen by a handler (with `mutex` held).
  void error_locked(std::string what) {
    if (errors.size() < 20) errors.push_back(std::move(what));
  }
};

/// One test: a duplicate of the world communicator and, once start() is called, a channel on
/// it. TearDown finishes the channel (barrier through it, then stop), agrees on the outcome
/// with the other ranks and frees the communicator, whether the body passed or not.
class TransportTest : public ::testing::Test {
 protected:
  using UserHandler = std::function<void(int source, WireReader& message)>;

  void SetUp() override {
    MPI_Comm_dup(world().comm, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  void TearDown() override {
    if (channel_) finish_channel();
    channel_.reset();
    {
      std::lock_guard lock(barrier_.mutex);
      for (const auto& e : barrier_.errors) ADD_FAILURE() << "rank " << rank_ << ": " << e;
    }
    // Every rank reaches this point, so a collective is safe: make all ranks report a failure
    // that happened on any of them.
    const int mine = HasFailure() ? 1 : 0;
    std::vector<int> failed(static_cast<std::size_t>(size_));
    MPI_Allgather(&mine, 1, MPI_INT, failed.data(), 1, MPI_INT, world().comm);
    std::string who;
    for (int r = 0; r < size_; ++r) {
      // Appended in two steps: GCC 12 sees a false overlap (-Wrestrict) in " " + string at -O3.
      if (failed[static_cast<std::size_t>(r)] && r != rank_)
        who.append(" ").append(std::to_string(r));
    }
    if (!who.empty()) ADD_FAILURE() << "the test failed on rank(s)" << who;
    MPI_Comm_free(&comm_);
  }

  /// Starts the test's channel. `on_user` gets each message the test sent with send_user.
  ControlChannel& start(ChannelOptions options, UserHandler on_user,
                        ControlChannel::TickHandler on_tick = {}) {
    on_user_ = std::move(on_user);
    channel_ = std::make_unique<ControlChannel>(comm_, options);
    channel_->start([this](int source, std::span<const std::byte> m) { dispatch(source, m); },
                    std::move(on_tick));
    return *channel_;
  }

  ControlChannel& channel() { return *channel_; }

  /// A message for the test's own handler: the kind byte, then what `fill` writes.
  template <class Fill>
  void send_user(int dest, Fill&& fill) {
    Buffer b;
    WireWriter w(b);
    w.put(Kind::kUser);
    fill(w);
    channel_->send(dest, b.span());
  }

  /// A barrier through the channel: sends a marker to every rank (itself included) and waits
  /// until the markers of this round came from all ranks. Messages to one rank arrive in
  /// order, so when it returns every rank has received everything this rank sent before it.
  /// Returns false (and records a failure) after kWaitLimit.
  bool channel_barrier() {
    const std::uint32_t round = ++round_;
    Buffer b;
    WireWriter w(b);
    w.put(Kind::kBarrier).put(round);
    for (int r = 0; r < size_; ++r) channel_->send(r, b.span());
    barrier_messages_ += static_cast<std::uint64_t>(size_);
    const bool ok = barrier_.wait([&] { return barrier_counts_[round] == size_; });
    EXPECT_TRUE(ok) << "rank " << rank_ << ": channel barrier " << round << " timed out";
    return ok;
  }

  /// Barrier through the channel, then stop(): afterwards nothing is in flight to or from this
  /// rank, and the main thread may use MPI again.
  void finish_channel() {
    if (!channel_ || stopped_) return;
    channel_barrier();
    channel_->stop();
    stopped_ = true;
  }

  /// Control messages this rank sent for barriers (they count in stats()).
  [[nodiscard]] std::uint64_t barrier_messages() const { return barrier_messages_; }

  /// Agrees on a value among the ranks, for printing on rank 0. Channel must be stopped.
  std::vector<double> gather_doubles(double mine) {
    std::vector<double> all(static_cast<std::size_t>(size_));
    MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, world().comm);
    return all;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;

 private:
  // Runs on whichever thread makes progress; an exception must not escape into the channel.
  void dispatch(int source, std::span<const std::byte> message) try {
    WireReader r(message);
    const auto kind = r.get<Kind>();
    if (kind == Kind::kBarrier) {
      const auto round = r.get<std::uint32_t>();
      std::lock_guard lock(barrier_.mutex);
      ++barrier_counts_[round];
      barrier_.cv.notify_all();
      return;
    }
    if (kind != Kind::kUser) throw std::runtime_error("unknown message kind");
    if (on_user_) on_user_(source, r);
  } catch (const std::exception& e) {
    std::lock_guard lock(barrier_.mutex);
    barrier_.error_locked("message of " + std::to_string(message.size()) + " bytes from rank " +
                          std::to_string(source) + ": " + e.what());
  }

  std::unique_ptr<ControlChannel> channel_;
  bool stopped_ = false;
  UserHandler on_user_;
  Shared barrier_;
  std::map<std::uint32_t, int> barrier_counts_;
  std::uint32_t round_ = 0;
  std::uint64_t barrier_messages_ = 0;
};

}  // namespace manta::transport::testing
