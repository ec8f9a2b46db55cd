#include "engine/result_batches.h"

#include <algorithm>

namespace manta::engine {

using transport::WireWriter;

ResultBatches::Batch& ResultBatches::open_locked(int owner) {
  const auto index = static_cast<std::size_t>(owner);
  if (index >= batches_.size()) batches_.resize(index + 1);
  Batch& b = batches_[index];
  if (b.count == 0) {
    b.opened = Clock::now();
    open_.push_back(owner);
    if (open_.size() == 1) note_oldest_locked();
  }
  return b;
}

void ResultBatches::send_locked(int owner) {
  Batch& b = batches_[static_cast<std::size_t>(owner)];
  if (b.count == 0) return;
  outbox_.send_gated(owner, [&](WireWriter& w) {
    if (b.count == 1) {
      // A lone result goes as it always did: a task_done, without the count and framing.
      w.put(MessageType::task_done);
      const auto body = b.bodies.span().subspan(sizeof(std::uint64_t));
      w.buffer().append(body.data(), body.size());
    } else {
      write_task_results(w, b.count, b.bodies.span());
    }
  });
  results_.fetch_add(b.count, std::memory_order_relaxed);
  messages_.fetch_add(1, std::memory_order_relaxed);
  b.bodies.clear();  // keeps its memory for the next batch
  b.count = 0;
  if (auto it = std::find(open_.begin(), open_.end(), owner); it != open_.end()) open_.erase(it);
  note_oldest_locked();
}

void ResultBatches::send_all_locked() {
  // Oldest first; each send takes its owner off the list.
  while (!open_.empty()) send_locked(open_.front());
}

void ResultBatches::note_oldest_locked() {
  oldest_.store(
      open_.empty()
          ? kNone
          : batches_[static_cast<std::size_t>(open_.front())].opened.time_since_epoch().count(),
      std::memory_order_relaxed);
}

bool ResultBatches::flush_due(Clock::time_point now) {
  const Clock::rep oldest = oldest_.load(std::memory_order_relaxed);
  if (oldest == kNone || now.time_since_epoch().count() - oldest < limits_.max_age.count()) {
    return false;
  }
  std::lock_guard lock(mutex_);
  bool sent = false;
  // Batches open in time order, so the due ones are at the front.
  while (!open_.empty() &&
         now - batches_[static_cast<std::size_t>(open_.front())].opened >= limits_.max_age) {
    send_locked(open_.front());
    sent = true;
  }
  return sent;
}

void ResultBatches::flush(int owner) {
  std::lock_guard lock(mutex_);
  if (static_cast<std::size_t>(owner) < batches_.size()) send_locked(owner);
}

void ResultBatches::flush_all() {
  std::lock_guard lock(mutex_);
  send_all_locked();
}

void ResultBatches::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  send_all_locked();
}

std::size_t ResultBatches::waiting() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const Batch& b : batches_) n += b.count;
  return n;
}

}  // namespace manta::engine
