// ControlChannel on 1, 2 and 4 ranks, used directly (no engine): ordering and batching of
// control messages, self-sends, large pipelined transfers, the tick, idle CPU, and poll() from
// another thread.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace manta::transport::testing {
namespace {

using namespace std::chrono_literals;
using ControlChannelTest = TransportTest;

// ---------------------------------------------------------------------------------------------
// Numbered messages with a payload whose length and bytes depend on (source, dest, seq), so a
// message that is lost, repeated, reordered, truncated or glued to its neighbour shows.

std::size_t filler_size(int source, int dest, std::uint32_t seq) {
  return (seq * 7u + static_cast<std::uint32_t>(source) * 3u + static_cast<std::uint32_t>(dest)) %
         41u;
}

std::byte filler_byte(int source, std::uint32_t seq, std::size_t j) {
  return static_cast<std::byte>((seq + j * 13u + static_cast<std::uint32_t>(source) * 101u) &
                                0xffu);
}

void write_numbered(WireWriter& w, int source, int dest, std::uint32_t seq) {
  w.put<std::uint32_t>(static_cast<std::uint32_t>(source)).put(seq);
  std::vector<std::byte> filler(filler_size(source, dest, seq));
  for (std::size_t j = 0; j < filler.size(); ++j) filler[j] = filler_byte(source, seq, j);
  w.bytes(filler);
}

/// What a receiver knows about the numbered messages from each source.
struct Numbered : Shared {
  explicit Numbered(int size) : next(static_cast<std::size_t>(size), 0) {}
  std::vector<std::uint32_t> next;  // per source: the sequence number expected next
  std::uint64_t received = 0;
  std::uint64_t off_progress_thread = 0;  // delivered by a thread calling poll()

  /// Checks one message (from a handler, any thread); `self` is the receiving rank.
  void check(int source, int self, WireReader& r) {
    const auto from = static_cast<int>(r.get<std::uint32_t>());
    const auto seq = r.get<std::uint32_t>();
    const auto filler = r.bytes();
    std::lock_guard lock(mutex);
    if (from != source) {
      error_locked("message from rank " + std::to_string(from) + " delivered as from rank " +
                   std::to_string(source));
    }
    auto& expected = next[static_cast<std::size_t>(source)];
    if (seq != expected) {
      error_locked("from rank " + std::to_string(source) + ": got #" + std::to_string(seq) +
                   ", expected #" + std::to_string(expected));
    }
    expected = seq + 1;
    bool filler_ok = filler.size() == filler_size(source, self, seq) && r.done();
    for (std::size_t j = 0; filler_ok && j < filler.size(); ++j) {
      filler_ok = filler[j] == filler_byte(source, seq, j);
    }
    if (!filler_ok) {
      error_locked("from rank " + std::to_string(source) + ": payload of #" + std::to_string(seq) +
                   " is wrong");
    }
    ++received;
    cv.notify_all();
  }
};

TEST_F(ControlChannelTest, ManyMessagesArriveCompleteInOrderAndBatched) {
  constexpr std::uint32_t kCount = 10000;
  const std::uint64_t total = std::uint64_t{kCount} * static_cast<std::uint64_t>(size_);
  auto st = std::make_shared<Numbered>(size_);
  const int self = rank_;
  auto& ch = start({}, [st, self](int source, WireReader& r) { st->check(source, self, r); });

  for (std::uint32_t seq = 0; seq < kCount; ++seq) {
    for (int d = 0; d < size_; ++d) {
      send_user(d, [&](WireWriter& w) { write_numbered(w, rank_, d, seq); });
    }
  }
  EXPECT_EQ(ch.stats().messages_sent, total) << "send() counts each message when it is queued";

  EXPECT_TRUE(st->wait([&] { return st->received == total; })) << "messages missing";
  finish_channel();
  {
    std::lock_guard lock(st->mutex);
    for (const auto& e : st->errors) ADD_FAILURE() << e;
    for (int s = 0; s < size_; ++s) {
      EXPECT_EQ(st->next[static_cast<std::size_t>(s)], kCount) << "from rank " << s;
    }
    EXPECT_EQ(st->received, total);
  }

  const ChannelStats s = ch.stats();
  const std::uint64_t rounds = barrier_messages() / static_cast<std::uint64_t>(size_);
  EXPECT_EQ(s.messages_sent, total + barrier_messages());
  EXPECT_EQ(s.messages_received, total + barrier_messages());
  ASSERT_EQ(s.messages_to.size(), static_cast<std::size_t>(size_));
  for (int d = 0; d < size_; ++d) {
    EXPECT_EQ(s.messages_to[static_cast<std::size_t>(d)], kCount + rounds) << "to rank " << d;
  }
  if (size_ >= 2) {
    EXPECT_GE(s.batches_sent, static_cast<std::uint64_t>(size_ - 1));
    EXPECT_LT(s.batches_sent, s.messages_sent / 2) << "control messages were not batched";
  }
  const auto batches = gather_doubles(static_cast<double>(s.batches_sent));
  if (rank_ == 0) {
    std::printf("[   info   ] %d ranks: %llu messages sent per rank; batches sent:", size_,
                static_cast<unsigned long long>(s.messages_sent));
    for (double b : batches) std::printf(" %.0f", b);
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------------------------

TEST_F(ControlChannelTest, SelfSendsAreDeliveredOnTheProgressThread) {
  constexpr std::uint32_t kCount = 1000;  // numbered self-sends from the test's thread
  constexpr std::uint32_t kHops = 1000;   // a chain of self-sends, each sent by the handler
  struct State : Shared {
    std::uint32_t next = 0;
    std::uint32_t hops = 0;
    std::uint64_t not_on_progress_thread = 0;
    std::uint64_t on_main_thread = 0;
  };
  auto st = std::make_shared<State>();
  const auto main_thread = std::this_thread::get_id();
  const int self = rank_;
  auto& ch = start({}, [this, st, self, main_thread](int source, WireReader& r) {
    const auto what = r.get<std::uint8_t>();
    const auto n = r.get<std::uint32_t>();
    const bool on_progress = channel().on_progress_thread();
    std::lock_guard lock(st->mutex);
    if (!on_progress) ++st->not_on_progress_thread;
    if (std::this_thread::get_id() == main_thread) ++st->on_main_thread;
    if (source != self) st->error_locked("self-send arrived from rank " + std::to_string(source));
    if (what == 0) {
      if (n != st->next) {
        st->error_locked("self-send #" + std::to_string(n) + " arrived when #" +
                         std::to_string(st->next) + " was expected");
      }
      st->next = n + 1;
    } else {
      if (n != st->hops) st->error_locked("chain hop " + std::to_string(n) + " out of order");
      st->hops = n + 1;
      if (n + 1 < kHops) {
        send_user(self, [&](WireWriter& w) { w.put<std::uint8_t>(1).put(n + 1); });
      }
    }
    st->cv.notify_all();
  });

  EXPECT_FALSE(ch.on_progress_thread());
  send_user(rank_, [&](WireWriter& w) { w.put<std::uint8_t>(1).put(std::uint32_t{0}); });
  for (std::uint32_t i = 0; i < kCount; ++i) {
    send_user(rank_, [&](WireWriter& w) { w.put<std::uint8_t>(0).put(i); });
  }
  const bool all = st->wait([&] { return st->next == kCount && st->hops == kHops; });
  finish_channel();

  std::lock_guard lock(st->mutex);
  EXPECT_TRUE(all) << "got " << st->next << " of " << kCount << " self-sends and " << st->hops
                   << " of " << kHops << " hops";
  for (const auto& e : st->errors) ADD_FAILURE() << e;
  EXPECT_EQ(st->not_on_progress_thread, 0u) << "handler ran off the progress thread";
  EXPECT_EQ(st->on_main_thread, 0u) << "a self-send was delivered inline by send()";
  EXPECT_EQ(ch.stats().messages_to[static_cast<std::size_t>(rank_)],
            kCount + kHops + barrier_messages() / static_cast<std::uint64_t>(size_));
}

// ---------------------------------------------------------------------------------------------
// Large transfers. The receiver picks the tag (new_transfer_tag), posts receive_data, then asks
// the sender with a control message {index, tag, size}; the sender's handler calls send_data
// with a buffer prepared before the channel started. Every rank receives from its left
// neighbour and sends to its right one (on one rank, to itself).

ChannelOptions transfer_options() {
  ChannelOptions o;
  o.chunk_size = std::size_t{1} << 20;
  o.chunks_in_flight = 4;
  return o;
}

std::uint64_t transfer_seed(int source, int dest, std::uint32_t index) {
  return (static_cast<std::uint64_t>(source) << 40) ^ (static_cast<std::uint64_t>(dest) << 20) ^
         (index + 1);
}

struct Received : Shared {
  struct One {
    bool done = false;
    bool on_progress_thread = false;
    Buffer data;
  };
  explicit Received(std::size_t n) : transfers(n) {}
  std::vector<One> transfers;
  std::size_t done = 0;
};

/// Test fixture part shared by the transfer tests.
class TransferTest : public TransportTest {
 protected:
  int left() const { return (rank_ + size_ - 1) % size_; }
  int right() const { return (rank_ + 1) % size_; }

  /// Starts the channel; the sender side answers requests with outgoing[index] (nullptr is
  /// sent as such), in reverse order of the request list when `reverse`.
  void start_transfers(std::vector<SharedBuffer> outgoing, bool reverse) {
    outgoing_ = std::move(outgoing);
    start(transfer_options(), [this, reverse](int source, WireReader& r) {
      const auto n = r.get<std::uint32_t>();
      std::vector<std::pair<std::uint32_t, int>> requests;  // index, tag
      for (std::uint32_t i = 0; i < n; ++i) {
        const auto index = r.get<std::uint32_t>();
        const auto tag = r.get<std::int32_t>();
        const auto size = r.get<std::uint64_t>();
        const SharedBuffer& out = outgoing_.at(index);
        if ((out ? out->size() : 0) != size) throw std::runtime_error("size mismatch in request");
        requests.emplace_back(index, tag);
      }
      if (source != right()) throw std::runtime_error("request from a rank that is not right");
      if (reverse) std::reverse(requests.begin(), requests.end());
      for (auto [index, tag] : requests) channel().send_data(source, tag, outgoing_.at(index));
    });
  }

  /// Posts receives for `sizes` from the left neighbour, asks it to send, returns the tags.
  std::vector<int> request(const std::shared_ptr<Received>& st,
                           const std::vector<std::size_t>& sizes) {
    std::vector<int> tags;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const int tag = channel().new_transfer_tag();
      tags.push_back(tag);
      channel().receive_data(left(), tag, sizes[i], [this, st, i](Buffer data) {
        const bool on_progress = channel().on_progress_thread();
        std::lock_guard lock(st->mutex);
        auto& one = st->transfers[i];
        if (one.done) st->error_locked("transfer " + std::to_string(i) + " completed twice");
        one.done = true;
        one.on_progress_thread = on_progress;
        one.data = std::move(data);
        ++st->done;
        st->cv.notify_all();
      });
    }
    send_user(left(), [&](WireWriter& w) {
      w.put(static_cast<std::uint32_t>(sizes.size()));
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        w.put(static_cast<std::uint32_t>(i))
            .put<std::int32_t>(tags[i])
            .put<std::uint64_t>(sizes[i]);
      }
    });
    return tags;
  }

  /// Checks every received transfer against the pattern the left neighbour sent.
  void verify(Received& st, const std::vector<std::size_t>& sizes) {
    std::lock_guard lock(st.mutex);
    for (const auto& e : st.errors) ADD_FAILURE() << e;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const auto& one = st.transfers[i];
      SCOPED_TRACE("transfer " + std::to_string(i) + " of " + std::to_string(sizes[i]) +
                   " bytes from rank " + std::to_string(left()));
      ASSERT_TRUE(one.done);
      EXPECT_TRUE(one.on_progress_thread) << "done handler ran off the progress thread";
      ASSERT_EQ(one.data.size(), sizes[i]);
      const auto bad = pattern_mismatch(transfer_seed(left(), rank_, static_cast<std::uint32_t>(i)),
                                        one.data.span());
      EXPECT_FALSE(bad.has_value()) << "first wrong byte at offset " << bad.value_or(0);
    }
  }

  std::vector<SharedBuffer> outgoing_;
};

TEST_F(TransferTest, HundredMiBArriveIntactInOneMiBChunks) {
  constexpr std::size_t kSize = std::size_t{100} << 20;
  std::vector<SharedBuffer> out{
      std::make_shared<const Buffer>(make_pattern(transfer_seed(rank_, right(), 0), kSize))};
  auto st = std::make_shared<Received>(1);
  start_transfers(std::move(out), false);
  const auto t0 = std::chrono::steady_clock::now();
  request(st, {kSize});
  const bool done = st->wait([&] { return st->done == 1; });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(done) << "100 MiB transfer did not complete";
  finish_channel();
  verify(*st, {kSize});
  EXPECT_EQ(channel().stats().bytes_transferred, 2 * kSize) << "sent and received bytes";
  const auto all = gather_doubles(seconds);
  if (rank_ == 0) {
    std::printf("[   info   ] 100 MiB transfer on %d ranks:", size_);
    for (double s : all) std::printf(" %.0f ms (%.2f GB/s)", s * 1e3, kSize / s / 1e9);
    std::printf("\n");
  }
}

TEST_F(TransferTest, ZeroSizeTransfersComplete) {
  const std::vector<std::size_t> sizes{0, 0, 1, 0};
  std::vector<SharedBuffer> out{
      std::make_shared<const Buffer>(),  // empty buffer
      nullptr,                           // no buffer at all
      std::make_shared<const Buffer>(make_pattern(transfer_seed(rank_, right(), 2), 1)),
      std::make_shared<const Buffer>()};
  auto st = std::make_shared<Received>(sizes.size());
  start_transfers(std::move(out), false);
  request(st, sizes);
  const bool done = st->wait([&] { return st->done == sizes.size(); });
  EXPECT_TRUE(done) << "not all transfers completed";
  finish_channel();
  verify(*st, sizes);
  EXPECT_EQ(channel().stats().bytes_transferred, 2u);
}

TEST_F(TransferTest, ConcurrentTransfersOnDistinctTagsDoNotMix) {
  constexpr std::size_t MiB = std::size_t{1} << 20;
  const std::vector<std::size_t> sizes{3 * MiB + 12345, 1,       MiB - 1,     MiB,
                                       MiB + 1,         5 * MiB, 64 * 1024,   7 * MiB + 3,
                                       2 * MiB,         777,     4 * MiB - 5, 6 * MiB};
  std::vector<SharedBuffer> out;
  std::size_t total = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    out.push_back(std::make_shared<const Buffer>(
        make_pattern(transfer_seed(rank_, right(), static_cast<std::uint32_t>(i)), sizes[i])));
    total += sizes[i];
  }
  auto st = std::make_shared<Received>(sizes.size());
  start_transfers(std::move(out), /*reverse=*/true);  // sent in the opposite order
  const auto tags = request(st, sizes);
  for (std::size_t i = 0; i < tags.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(tags[i], tags[j]) << "new_transfer_tag reused";
  }
  const bool done = st->wait([&] { return st->done == sizes.size(); });
  EXPECT_TRUE(done) << "not all transfers completed";
  finish_channel();
  verify(*st, sizes);
  EXPECT_EQ(channel().stats().bytes_transferred, 2 * total);
}

// ---------------------------------------------------------------------------------------------

TEST_F(ControlChannelTest, TickRunsPeriodically) {
  ChannelOptions o;
  o.tick = 10ms;
  std::atomic<int> ticks{0};
  std::atomic<int> off_thread{0};
  start(o, {}, [&] {
    ticks.fetch_add(1);
    if (!channel().on_progress_thread()) off_thread.fetch_add(1);
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(200ms);  // the measurement window
  const int n = ticks.load();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  finish_channel();
  EXPECT_GE(n, 5) << "in " << ms << " ms";
  EXPECT_LE(n, 40) << "in " << ms << " ms";
  EXPECT_EQ(off_thread.load(), 0) << "tick ran off the progress thread";
  const auto all = gather_doubles(n);
  if (rank_ == 0) {
    std::printf("[   info   ] ticks in ~200 ms with tick = 10 ms:");
    for (double t : all) std::printf(" %.0f", t);
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------------------------

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

TEST_F(ControlChannelTest, IdleProgressThreadDoesNotSpin) {
  ChannelOptions o;
  o.spin = 200us;
  o.max_sleep = 1000us;
  constexpr std::uint32_t kCount = 2000;
  const std::uint64_t total = std::uint64_t{kCount} * static_cast<std::uint64_t>(size_);
  auto st = std::make_shared<Numbered>(size_);
  const int self = rank_;
  start(o, [st, self](int source, WireReader& r) { st->check(source, self, r); });
  for (std::uint32_t seq = 0; seq < kCount; ++seq) {
    for (int d = 0; d < size_; ++d) {
      send_user(d, [&](WireWriter& w) { write_numbered(w, rank_, d, seq); });
    }
  }
  EXPECT_TRUE(st->wait([&] { return st->received == total; }));
  channel_barrier();  // traffic has stopped everywhere (but the barrier's own last messages)

  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(500ms);  // the measurement window
  const double cpu = process_cpu_seconds() - cpu0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double fraction = cpu / wall;
  finish_channel();

  EXPECT_LT(fraction, 0.25) << "the idle process used " << 100 * fraction
                            << "% of a core: the progress thread spins";
  const auto all = gather_doubles(100 * fraction);
  if (rank_ == 0) {
    std::printf("[   info   ] idle CPU over %.0f ms, %% of one core, per rank:", wall * 1e3);
    for (double f : all) std::printf(" %.2f", f);
    std::printf("\n");
  }
  RecordProperty("idle_cpu_percent_rank0", std::to_string(all[0]));
}

// ---------------------------------------------------------------------------------------------

// A rank quiet for long wakes less and less often (1 % of its quiet, up to deep_sleep), yet a
// message still reaches it: with a 1 ms tick every wake-up runs one tick, so ticks count wakes.
TEST_F(ControlChannelTest, DeepIdleWakesLessButStillHearsMessages) {
  ChannelOptions o;
  o.tick = 1ms;
  o.max_sleep = 1000us;
  o.deep_idle = 100ms;
  o.deep_sleep = 200ms;  // the cap is not reached after 2 s: 1 % of 2 s is 20 ms
  std::atomic<int> ticks{0};
  auto st = std::make_shared<Numbered>(size_);
  const int self = rank_;
  start(
      o, [st, self](int source, WireReader& r) { st->check(source, self, r); },
      [&] { ticks.fetch_add(1); });
  std::this_thread::sleep_for(2s);  // quiet: sleeps have grown to 20 ms (2 s / 100)
  const int before = ticks.load();
  std::this_thread::sleep_for(1s);
  const int wakes = ticks.load() - before;
  // 1 ms sleeps would give about 1,000, 20 ms about 50, the 200 ms cap about 5. A loaded
  // machine wakes late, not early.
  EXPECT_LT(wakes, 200) << "a progress thread quiet for 2 s still wakes every millisecond";
  EXPECT_GT(wakes, 15) << "a progress thread quiet for 2 s sleeps past 1 % of its quiet";
  // A message from another rank (or this one, on one rank) still arrives.
  const int next = (rank_ + 1) % size_;
  send_user(next, [&](WireWriter& w) { write_numbered(w, rank_, next, 0); });
  EXPECT_TRUE(st->wait([&] { return st->received == 1; })) << "a message after a long quiet";
  finish_channel();
  const auto all = gather_doubles(wakes);
  if (rank_ == 0) {
    std::printf(
        "[   info   ] wake-ups in 1 s after 2 s quiet (20 ms sleeps, 1 %% of it), per rank:");
    for (double w : all) std::printf(" %.0f", w);
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------------------------

TEST_F(ControlChannelTest, PollFromAnotherThreadKeepsOrderAndLosesNothing) {
  constexpr std::uint32_t kCount = 5000;
  const std::uint64_t total = std::uint64_t{kCount} * static_cast<std::uint64_t>(size_);
  auto st = std::make_shared<Numbered>(size_);
  const int self = rank_;
  auto& ch = start({}, [this, st, self](int source, WireReader& r) {
    if (!channel().on_progress_thread()) {
      std::lock_guard lock(st->mutex);
      ++st->off_progress_thread;
    }
    st->check(source, self, r);
  });

  std::atomic<bool> stop_polling{false};
  std::atomic<std::uint64_t> productive{0};  // poll() calls on the polling thread that did work
  std::thread poller([&] {
    while (!stop_polling.load()) {
      if (ch.poll()) productive.fetch_add(1, std::memory_order_relaxed);
    }
  });

  // Bursts of messages, with a poll() from this thread after each: many batches, flushed and
  // delivered by whichever of the three threads gets there first.
  for (std::uint32_t seq = 0; seq < kCount; ++seq) {
    for (int d = 0; d < size_; ++d) {
      send_user(d, [&](WireWriter& w) { write_numbered(w, rank_, d, seq); });
    }
    if (seq % 50 == 49) ch.poll();
  }
  // The test's thread waits the way a caller waiting for a reply does: by polling too.
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  std::uint64_t received = 0;
  while (received != total && std::chrono::steady_clock::now() < deadline) {
    if (!ch.poll()) std::this_thread::yield();
    std::lock_guard lock(st->mutex);
    received = st->received;
  }
  EXPECT_EQ(received, total) << "messages still missing after " << kWaitLimit.count() << " s";
  channel_barrier();
  stop_polling.store(true);
  poller.join();
  finish_channel();

  std::uint64_t off = 0;
  {
    std::lock_guard lock(st->mutex);
    for (const auto& e : st->errors) ADD_FAILURE() << e;
    for (int s = 0; s < size_; ++s) {
      EXPECT_EQ(st->next[static_cast<std::size_t>(s)], kCount) << "from rank " << s;
    }
    EXPECT_EQ(st->received, total);
    off = st->off_progress_thread;
  }
  EXPECT_EQ(ch.stats().messages_received, total + barrier_messages());
  const auto all_off = gather_doubles(static_cast<double>(off));
  double sum = 0;
  for (double v : all_off) sum += v;
  EXPECT_GT(sum, 0) << "no message was delivered by poll(): the test did not test it";
  if (rank_ == 0) {
    std::printf("[   info   ] messages delivered by poll() off the progress thread, per rank:");
    for (double v : all_off) std::printf(" %.0f", v);
    std::printf(" (of %llu each); productive poll() calls on rank 0's polling thread: %llu\n",
                static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(productive.load()));
  }
}

// Batches are capped so that one MPI send never nears INT_MAX bytes: 40 messages of 1 MiB to
// the next rank need at least 5 batches of at most 8 MiB, and all arrive intact and in order.
TEST_F(ControlChannelTest, LargeMessagesAreSplitIntoBoundedBatches) {
  if (size_ < 2) GTEST_SKIP() << "needs 2 ranks";
  constexpr std::uint32_t kCount = 40;
  constexpr std::size_t kBytes = std::size_t{1} << 20;
  struct State : Shared {
    std::uint32_t next = 0;
  };
  auto st = std::make_shared<State>();
  auto& ch = start({}, [st](int, WireReader& r) {
    const auto seq = r.get<std::uint32_t>();
    const auto body = r.bytes();
    std::lock_guard lock(st->mutex);
    if (seq != st->next || body.size() != kBytes || body[kBytes - 1] != std::byte(seq & 0xff)) {
      st->error_locked("message #" + std::to_string(seq) + " out of order or damaged");
    }
    st->next = seq + 1;
    st->cv.notify_all();
  });
  const int next = (rank_ + 1) % size_;
  const std::uint64_t batches_before = ch.stats().batches_sent;
  Buffer body(kBytes);
  for (std::uint32_t seq = 0; seq < kCount; ++seq) {
    std::memset(body.data(), static_cast<int>(seq & 0xff), kBytes);
    send_user(next, [&](WireWriter& w) { w.put(seq).bytes(body.span()); });
  }
  EXPECT_TRUE(st->wait([&] { return st->next == kCount; }));
  finish_channel();  // after the barrier every batch of this rank has been sent
  const std::uint64_t batches = ch.stats().batches_sent - batches_before;
  EXPECT_GE(batches, kCount * kBytes / ControlChannel::kMaxBatch);
  std::lock_guard lock(st->mutex);
  for (const auto& e : st->errors) ADD_FAILURE() << e;
}

TEST(ControlChannelOptions, ZeroChunksInFlightIsRefused) {
  ChannelOptions o;
  o.chunks_in_flight = 0;
  EXPECT_THROW(ControlChannel(world().comm, o), std::invalid_argument);
}

}  // namespace
}  // namespace manta::transport::testing
