#include "fake_data_plane.h"

#include <stdexcept>
#include <utility>

#include "transport/wire.h"

namespace manta::engine::fakes {

using transport::Carrier;

int FakeDataPlane::new_tag() {
  std::lock_guard lock(mutex_);
  return next_tag_++;
}

std::vector<std::byte> FakeDataPlane::rma_descriptor(std::uint64_t handle) {
  Buffer b;
  transport::WireWriter(b).put(handle);
  return {b.data(), b.data() + b.size()};
}

transport::DataPlane::Offer FakeDataPlane::offer(const SharedBuffer& bytes) {
  std::lock_guard lock(mutex_);
  offers_.push_back(bytes);
  Offer o;
  switch (mode_) {
    case OfferMode::messages:
      break;
    case OfferMode::rma: {
      o.carrier = Carrier::rma;
      o.handle = next_handle_++;
      const auto d = rma_descriptor(o.handle);
      o.descriptor = Buffer(d.data(), d.size());
      break;
    }
    case OfferMode::fail:
      throw std::runtime_error("registration refused by the fake data plane");
  }
  return o;
}

void FakeDataPlane::send(int reader, int tag, SharedBuffer bytes) {
  std::lock_guard lock(mutex_);
  sends_.push_back({reader, tag, std::move(bytes)});
}

void FakeDataPlane::release(std::uint64_t handle) {
  std::lock_guard lock(mutex_);
  releases_.push_back(handle);
}

void FakeDataPlane::receive(int holder, int tag, Carrier carrier,
                            std::span<const std::byte> descriptor, std::uint64_t size,
                            ReceiveDone done) {
  std::lock_guard lock(mutex_);
  receives_.push_back(
      {holder, tag, carrier, {descriptor.begin(), descriptor.end()}, size, std::move(done)});
}

void FakeDataPlane::set_offer_mode(OfferMode mode) {
  std::lock_guard lock(mutex_);
  mode_ = mode;
}

std::vector<SharedBuffer> FakeDataPlane::offers() const {
  std::lock_guard lock(mutex_);
  return offers_;
}

std::vector<FakeDataPlane::Send> FakeDataPlane::sends() const {
  std::lock_guard lock(mutex_);
  return sends_;
}

std::vector<std::uint64_t> FakeDataPlane::releases() const {
  std::lock_guard lock(mutex_);
  return releases_;
}

std::size_t FakeDataPlane::open_receives() const {
  std::lock_guard lock(mutex_);
  return receives_.size();
}

FakeDataPlane::Receive FakeDataPlane::open_receive(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return receives_.at(i);
}

void FakeDataPlane::complete_receive(SharedBuffer bytes) {
  finish_oldest({std::move(bytes), {}, false});
}

void FakeDataPlane::fail_receive(std::string error) {
  finish_oldest({nullptr, std::move(error), false});
}

void FakeDataPlane::unreachable_receive(std::string error) {
  finish_oldest({nullptr, std::move(error), true});
}

void FakeDataPlane::finish_oldest(transport::Received got) {
  ReceiveDone done;
  {
    std::lock_guard lock(mutex_);
    if (receives_.empty()) throw std::logic_error("no receive is open on the fake data plane");
    done = std::move(receives_.front().done);
    receives_.pop_front();
  }
  // Outside the lock: the callback may start the next receive.
  done(std::move(got));
}

}  // namespace manta::engine::fakes
