// The one thread per rank that owns MPI. Other threads hand it messages; it batches all
// messages for the same rank into one MPI send, receives and dispatches incoming batches, and
// moves large payloads in pipelined chunks on their own tags. When idle it spins briefly, then
// sleeps with a growing timeout, so oversubscribed ranks leave the cores to workers.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include <manta/buffer.h>

namespace manta::transport {

struct ChannelOptions {
  std::chrono::microseconds spin{200};        // keep polling this long after the last activity
  std::chrono::microseconds max_sleep{1000};  // longest sleep between polls when idle
  // For this long after the last activity, sleeps stay at most `linger_sleep`: work comes in
  // bursts, and a request that arrives mid-burst is then noticed within 100 µs, not 1 ms.
  std::chrono::milliseconds linger{50};
  std::chrono::microseconds linger_sleep{100};
  // Idle for longer than `deep_idle`, sleeps grow with the quiet, to 1 % of it and at most
  // `deep_sleep`: many ranks sharing a core (64 on a workstation) each waking even 100 times a
  // second keep a core busy doing nothing (a wake-up is a context switch). The first message
  // after a quiet of q waits at most min(q / 100, deep_sleep); ticks run at that pace then.
  std::chrono::milliseconds deep_idle{1000};
  std::chrono::microseconds deep_sleep{50000};
  std::size_t chunk_size = std::size_t{4} << 20;  // bytes per MPI message of a large payload
  std::size_t chunks_in_flight = 8;               // per transfer
  std::chrono::milliseconds tick{20};             // period of the tick callback
  std::function<void()> on_thread_start;          // first thing the progress thread runs (binding)
};

/// Counters, readable from any thread.
struct ChannelStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t batches_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_transferred = 0;     // payload bytes of large transfers, both ways
  std::vector<std::uint64_t> messages_to;  // per destination rank
};

class ControlChannel {
 public:
  /// Called on the progress thread for each message, in the order the sender sent them.
  using MessageHandler = std::function<void(int source, std::span<const std::byte> message)>;
  using TickHandler = std::function<void()>;
  using DataHandler = std::function<void(Buffer data)>;

  static constexpr std::size_t kMaxMessage = std::size_t{1} << 30;
  static constexpr std::size_t kMaxBatch = std::size_t{8} << 20;  // bytes per MPI send

  ControlChannel(MPI_Comm comm, ChannelOptions options);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }

  void start(MessageHandler on_message, TickHandler on_tick);

  /// Another engine to drive from the progress loop (the UCX data plane, the collective groups),
  /// added before start. `progress` runs with MPI held (it may call MPI) and returns true while
  /// it has work, which keeps the loop from sleeping.
  void add_extra_progress(std::function<bool()> progress) {
    extra_progress_.push_back(std::move(progress));
  }

  /// Queues a message (thread-safe). Messages to one rank arrive in order; to this rank they
  /// are delivered by the progress thread too, never inline. Control messages are small (large
  /// payloads go through send_data); one over kMaxMessage bytes is refused.
  void send(int dest, std::span<const std::byte> message);

  /// Sends `data` to `dest` on `tag` in chunks (thread-safe); `dest` posts receive_data.
  void send_data(int dest, int tag, SharedBuffer data);
  /// Receives `size` bytes sent with send_data; `done` runs on the progress thread.
  void receive_data(int source, int tag, std::size_t size, DataHandler done);
  /// A tag for a new transfer that this rank receives; unique among its open transfers.
  int new_transfer_tag();

  /// Flushes queued messages and finished transfers, then joins the progress thread.
  void stop();

  /// One round of progress on the calling thread, if no other thread is making progress now.
  /// A thread that waits for a reply calls this instead of waiting for the progress thread to
  /// notice and hand the reply over: that saves two thread switches per round trip. Handlers run
  /// on the calling thread. Returns true if anything happened.
  bool poll();

  /// Runs `step` with MPI held, if no other thread holds it now: a waiter that only needs its
  /// own requests moved (a collective call) tests them without a whole round of progress.
  bool try_with_mpi(const std::function<bool()>& step);
  /// While some thread polls with try_with_mpi in a tight loop, the progress thread leaves the
  /// core to it: it sleeps between its rounds (at most linger_sleep) instead of spinning too.
  void add_poller() { pollers_.fetch_add(1, std::memory_order_relaxed); }
  void remove_poller() { pollers_.fetch_sub(1, std::memory_order_relaxed); }

  [[nodiscard]] ChannelStats stats() const;
  [[nodiscard]] bool on_progress_thread() const noexcept;

 private:
  struct PendingSend {
    MPI_Request request;
    Buffer batch;
  };
  struct Transfer {
    bool sending = false;
    int peer = 0;
    int tag = 0;
    SharedBuffer out;  // sending
    Buffer in;         // receiving
    std::size_t size = 0;
    std::size_t posted = 0;  // bytes handed to MPI so far
    std::vector<MPI_Request> requests;
    DataHandler done;
  };

  void run();
  bool progress_once();  // with progress_mutex_ held
  /// The longest sleep of an idle progress thread quiet for `quiet` (ChannelOptions).
  std::chrono::microseconds sleep_cap(std::chrono::steady_clock::duration quiet, bool polled) const;
  bool flush_outboxes();
  bool poll_sends();
  bool poll_incoming();
  bool progress_transfers();
  void post_chunks(Transfer& t);
  void dispatch_batch(int source, std::span<const std::byte> batch);
  void wake();
  [[nodiscard]] bool drained();

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  int tag_limit_ = 32767;
  ChannelOptions options_;
  MessageHandler on_message_;
  TickHandler on_tick_;
  std::vector<std::function<bool()>> extra_progress_;

  std::mutex outbox_mutex_;
  std::vector<std::vector<Buffer>>
      outboxes_;            // per destination: batches of length-prefixed messages
  std::vector<int> dirty_;  // destinations with queued messages
  std::vector<char> is_dirty_;
  std::vector<Transfer> new_transfers_;

  // Progress-thread-only state.
  std::vector<PendingSend> pending_sends_;
  std::deque<Transfer> transfers_;
  Buffer receive_buffer_;

  std::mutex progress_mutex_;  // MPI_THREAD_SERIALIZED: one thread in MPI at a time
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<unsigned> next_tag_{0};
  std::atomic<bool> running_{false};
  std::atomic<int> pollers_{0};  // threads polling with try_with_mpi now  // the progress loop
                                 // runs; changed under progress_mutex_
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};

  std::atomic<std::uint64_t> messages_sent_{0};
  std::atomic<std::uint64_t> batches_sent_{0};
  std::atomic<std::uint64_t> messages_received_{0};
  std::atomic<std::uint64_t> bytes_transferred_{0};
  std::unique_ptr<std::atomic<std::uint64_t>[]> messages_to_;
};

}  // namespace manta::transport
