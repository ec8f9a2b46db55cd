#include "transport/control_channel.h"

#include <sched.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace manta::transport {
namespace {

constexpr int kControlTag = 1;
constexpr int kFirstDataTag = 16;
constexpr int kMaxMessagesPerPoll = 256;

}  // namespace

ControlChannel::ControlChannel(MPI_Comm comm, ChannelOptions options)
    : comm_(comm), options_(options) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  int* tag_ub = nullptr;
  int flag = 0;
  MPI_Comm_get_attr(comm_, MPI_TAG_UB, &tag_ub, &flag);
  if (flag && tag_ub) tag_limit_ = std::min(*tag_ub, 1 << 22);
  outboxes_.resize(size_);
  is_dirty_.assign(size_, 0);
  messages_to_ = std::make_unique<std::atomic<std::uint64_t>[]>(size_);
  if (options_.chunk_size == 0 || options_.chunk_size > (std::size_t{1} << 30)) {
    throw std::invalid_argument("manta: chunk size must be between 1 byte and 1 GiB");
  }
  if (options_.chunks_in_flight == 0) {
    throw std::invalid_argument("manta: chunks in flight must be at least 1");
  }
}

ControlChannel::~ControlChannel() {
  if (thread_.joinable()) stop();
}

void ControlChannel::start(MessageHandler on_message, TickHandler on_tick) {
  on_message_ = std::move(on_message);
  on_tick_ = std::move(on_tick);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

bool ControlChannel::on_progress_thread() const noexcept {
  return std::this_thread::get_id() == thread_id_.load(std::memory_order_acquire);
}

void ControlChannel::send(int dest, std::span<const std::byte> message) {
  if (message.size() > kMaxMessage) {
    throw std::length_error("manta: a control message of " + std::to_string(message.size()) +
                            " bytes is over the 1 GiB limit; large data belongs in objects");
  }
  const auto len = static_cast<std::uint32_t>(message.size());
  {
    std::lock_guard lock(outbox_mutex_);
    auto& batches = outboxes_[dest];
    // A new batch once the current one is full: every MPI send stays far below INT_MAX bytes.
    if (batches.empty() || batches.back().size() + sizeof len + message.size() > kMaxBatch) {
      batches.emplace_back();
    }
    Buffer& box = batches.back();
    box.append(&len, sizeof len);
    box.append(message.data(), message.size());
    if (!is_dirty_[dest]) {
      is_dirty_[dest] = 1;
      dirty_.push_back(dest);
    }
  }
  messages_sent_.fetch_add(1, std::memory_order_relaxed);
  messages_to_[dest].fetch_add(1, std::memory_order_relaxed);
  wake();
}

void ControlChannel::send_data(int dest, int tag, SharedBuffer data) {
  Transfer t;
  t.sending = true;
  t.peer = dest;
  t.tag = tag;
  t.size = data ? data->size() : 0;
  t.out = std::move(data);
  {
    std::lock_guard lock(outbox_mutex_);
    new_transfers_.push_back(std::move(t));
  }
  wake();
}

void ControlChannel::receive_data(int source, int tag, std::size_t size, DataHandler done) {
  Transfer t;
  t.peer = source;
  t.tag = tag;
  t.size = size;
  t.in = Buffer(size);
  t.done = std::move(done);
  {
    std::lock_guard lock(outbox_mutex_);
    new_transfers_.push_back(std::move(t));
  }
  wake();
}

int ControlChannel::new_transfer_tag() {
  const auto span = static_cast<unsigned>(tag_limit_ - kFirstDataTag);
  return kFirstDataTag + static_cast<int>(next_tag_.fetch_add(1, std::memory_order_relaxed) % span);
}

void ControlChannel::wake() {
  if (sleeping_.load(std::memory_order_acquire)) {
    std::lock_guard lock(wake_mutex_);
    wake_cv_.notify_one();
  }
}

void ControlChannel::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  {
    std::lock_guard lock(wake_mutex_);
    wake_cv_.notify_one();
  }
  thread_.join();
}

ChannelStats ControlChannel::stats() const {
  ChannelStats s;
  s.messages_sent = messages_sent_.load();
  s.batches_sent = batches_sent_.load();
  s.messages_received = messages_received_.load();
  s.bytes_transferred = bytes_transferred_.load();
  s.messages_to.resize(size_);
  for (int r = 0; r < size_; ++r) s.messages_to[r] = messages_to_[r].load();
  return s;
}

void ControlChannel::run() {
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
#if defined(__linux__)
  // Linux lets a timed sleep overrun by 50 µs by default; this thread's short sleeps are how fast
  // a message from another rank is noticed, so they end on time (1 µs of slack).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
  if (options_.on_thread_start) options_.on_thread_start();
  using clock = std::chrono::steady_clock;
  auto last_active = clock::now();
  auto next_tick = last_active + options_.tick;
  auto sleep = std::chrono::microseconds(20);
  std::optional<clock::time_point> stop_seen;
  for (;;) {
    bool active;
    bool contended;
    {
      std::unique_lock lock(progress_mutex_, std::try_to_lock);
      // Another thread making progress counts as activity: stay in the spinning phase.
      contended = !lock.owns_lock();
      active = !contended && progress_once();
    }
    const bool polled = pollers_.load(std::memory_order_relaxed) > 0;
    if (contended) {
      sched_yield();  // let the thread that holds MPI finish, if it shares our core
      active = !polled;
    }
    const auto now = clock::now();
    if (now >= next_tick) {
      if (on_tick_) on_tick_();
      next_tick = now + options_.tick;
    }
    if (stopping_.load(std::memory_order_acquire)) {
      if (!stop_seen) stop_seen = now;
      // A peer that already left never takes its data: give up after a grace period.
      std::lock_guard lock(progress_mutex_);
      if (drained() || now - *stop_seen > std::chrono::seconds(5)) break;
    }
    if (active) {
      last_active = now;
      sleep = std::chrono::microseconds(20);
      continue;
    }
    if (now - last_active < options_.spin && !polled) {
      sched_yield();  // let a worker sharing this core run
      continue;
    }
    // Idle: MPI cannot wake us, so sleep a bounded, growing time; local sends wake us at once.
    std::unique_lock lock(wake_mutex_);
    sleeping_.store(true, std::memory_order_release);
    bool pending;
    {
      std::lock_guard out(outbox_mutex_);
      pending = !dirty_.empty() || !new_transfers_.empty();
    }
    if (!pending && !stopping_.load()) wake_cv_.wait_for(lock, sleep);
    sleeping_.store(false, std::memory_order_release);
    sleep = std::min(sleep * 2, sleep_cap(now - last_active, polled));
  }
  std::lock_guard lock(progress_mutex_);
  running_ = false;  // poll() from other threads stops touching MPI from here on
  for (auto& t : transfers_) {
    for (auto& r : t.requests) {
      MPI_Cancel(&r);
      MPI_Request_free(&r);
    }
  }
  transfers_.clear();
}

std::chrono::microseconds ControlChannel::sleep_cap(std::chrono::steady_clock::duration quiet,
                                                    bool polled) const {
  using std::chrono::microseconds;
  if (quiet < options_.linger || polled) return std::min(options_.linger_sleep, options_.max_sleep);
  if (quiet < options_.deep_idle) return options_.max_sleep;
  // Deep idle: 1 % of the quiet, between max_sleep and deep_sleep.
  return std::clamp(std::chrono::duration_cast<microseconds>(quiet / 100), options_.max_sleep,
                    std::max(options_.max_sleep, options_.deep_sleep));
}

bool ControlChannel::progress_once() {
  bool active = flush_outboxes();
  active |= poll_sends();
  active |= poll_incoming();
  active |= progress_transfers();
  for (auto& extra : extra_progress_) active |= extra();
  return active;
}

bool ControlChannel::poll() {
  if (stopping_.load(std::memory_order_relaxed)) return false;
  std::unique_lock lock(progress_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || !running_) return false;
  return progress_once();
}

bool ControlChannel::try_with_mpi(const std::function<bool()>& step) {
  if (stopping_.load(std::memory_order_relaxed)) return false;
  std::unique_lock lock(progress_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || !running_) return false;
  return step();
}

bool ControlChannel::flush_outboxes() {
  std::vector<std::pair<int, Buffer>> ready;
  {
    std::lock_guard lock(outbox_mutex_);
    if (dirty_.empty() && new_transfers_.empty()) return false;
    ready.reserve(dirty_.size());
    for (int dest : dirty_) {
      for (Buffer& b : outboxes_[dest]) ready.emplace_back(dest, std::move(b));
      outboxes_[dest].clear();
      is_dirty_[dest] = 0;
    }
    dirty_.clear();
    for (auto& t : new_transfers_) transfers_.push_back(std::move(t));
    new_transfers_.clear();
  }
  for (auto& [dest, batch] : ready) {
    if (dest == rank_) {
      dispatch_batch(rank_, batch.span());
      continue;
    }
    PendingSend p{MPI_REQUEST_NULL, std::move(batch)};
    MPI_Isend(p.batch.data(), static_cast<int>(p.batch.size()), MPI_BYTE, dest, kControlTag, comm_,
              &p.request);
    pending_sends_.push_back(std::move(p));
    batches_sent_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

bool ControlChannel::poll_sends() {
  if (pending_sends_.empty()) return false;
  bool any = false;
  std::erase_if(pending_sends_, [&](PendingSend& p) {
    int done = 0;
    MPI_Test(&p.request, &done, MPI_STATUS_IGNORE);
    any |= done != 0;
    return done != 0;
  });
  return any;
}

bool ControlChannel::poll_incoming() {
  bool any = false;
  for (int i = 0; i < kMaxMessagesPerPoll; ++i) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status status;
    MPI_Improbe(MPI_ANY_SOURCE, kControlTag, comm_, &flag, &msg, &status);
    if (!flag) break;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    receive_buffer_.resize(static_cast<std::size_t>(count));
    MPI_Mrecv(receive_buffer_.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    if (!stopping_.load(std::memory_order_relaxed) || on_message_) {
      dispatch_batch(status.MPI_SOURCE, receive_buffer_.span());
    }
    any = true;
  }
  return any;
}

void ControlChannel::dispatch_batch(int source, std::span<const std::byte> batch) {
  std::size_t pos = 0;
  while (pos + sizeof(std::uint32_t) <= batch.size()) {
    std::uint32_t len;
    std::memcpy(&len, batch.data() + pos, sizeof len);
    pos += sizeof len;
    if (pos + len > batch.size()) {
      std::fprintf(stderr, "manta: rank %d dropped a truncated batch from rank %d\n", rank_,
                   source);
      return;
    }
    messages_received_.fetch_add(1, std::memory_order_relaxed);
    on_message_(source, batch.subspan(pos, len));
    pos += len;
  }
}

void ControlChannel::post_chunks(Transfer& t) {
  while (t.posted < t.size && t.requests.size() < options_.chunks_in_flight) {
    const std::size_t n = std::min(options_.chunk_size, t.size - t.posted);
    MPI_Request req;
    if (t.sending) {
      MPI_Isend(t.out->data() + t.posted, static_cast<int>(n), MPI_BYTE, t.peer, t.tag, comm_,
                &req);
    } else {
      MPI_Irecv(t.in.data() + t.posted, static_cast<int>(n), MPI_BYTE, t.peer, t.tag, comm_, &req);
    }
    t.requests.push_back(req);
    t.posted += n;
  }
}

bool ControlChannel::progress_transfers() {
  if (transfers_.empty()) return false;
  bool any = false;
  for (auto& t : transfers_) {
    post_chunks(t);
    const std::size_t before = t.requests.size();
    std::erase_if(t.requests, [](MPI_Request& r) {
      int done = 0;
      MPI_Test(&r, &done, MPI_STATUS_IGNORE);
      return done != 0;
    });
    if (t.requests.size() != before) {
      any = true;
      post_chunks(t);
    }
  }
  // Finished transfers leave in any order; handlers run after their bytes are complete.
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (it->posted == it->size && it->requests.empty()) {
      bytes_transferred_.fetch_add(it->size, std::memory_order_relaxed);
      Transfer t = std::move(*it);
      it = transfers_.erase(it);
      if (!t.sending && t.done) t.done(std::move(t.in));
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

bool ControlChannel::drained() {
  std::lock_guard lock(outbox_mutex_);
  return dirty_.empty() && new_transfers_.empty() && pending_sends_.empty() &&
         std::none_of(transfers_.begin(), transfers_.end(),
                      [](const Transfer& t) { return t.sending; });
}

}  // namespace manta::transport
