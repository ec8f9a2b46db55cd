// A DataPlane for tests of the engine's parts in one process: it records what the holder side
// offers, sends and releases, and keeps each receive open until the test completes it with
// bytes, an error, or "unreachable" (the file carrier could not see the holder's file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <manta/buffer.h>

#include "transport/data_plane.h"

namespace manta::engine::fakes {

class FakeDataPlane final : public transport::DataPlane {
 public:
  /// What offer() answers.
  enum class OfferMode { messages, rma, fail };

  struct Send {
    int reader = -1;
    int tag = -1;
    SharedBuffer bytes;
  };
  struct Receive {
    int holder = -1;
    int tag = -1;
    transport::Carrier carrier = transport::Carrier::messages;
    std::vector<std::byte> descriptor;
    std::uint64_t size = 0;
    ReceiveDone done;
  };

  [[nodiscard]] const char* name() const noexcept override { return "fake"; }
  int new_tag() override;
  Offer offer(const SharedBuffer& bytes) override;
  void send(int reader, int tag, SharedBuffer bytes) override;
  void release(std::uint64_t handle) override;
  void receive(int holder, int tag, transport::Carrier carrier,
               std::span<const std::byte> descriptor, std::uint64_t size,
               ReceiveDone done) override;

  /// rma: each offer gets a new handle, and its descriptor is rma_descriptor(handle).
  void set_offer_mode(OfferMode mode);
  [[nodiscard]] static std::vector<std::byte> rma_descriptor(std::uint64_t handle);

  [[nodiscard]] std::vector<SharedBuffer> offers() const;
  [[nodiscard]] std::vector<Send> sends() const;
  [[nodiscard]] std::vector<std::uint64_t> releases() const;
  /// Receives started and not completed yet, oldest first.
  [[nodiscard]] std::size_t open_receives() const;
  [[nodiscard]] Receive open_receive(std::size_t i = 0) const;

  /// Completes the oldest open receive: with the bytes, with an error, or as unreachable.
  void complete_receive(SharedBuffer bytes);
  void fail_receive(std::string error);
  void unreachable_receive(std::string error);

 private:
  void finish_oldest(transport::Received got);

  mutable std::mutex mutex_;
  int next_tag_ = 100;
  std::uint64_t next_handle_ = 1;
  OfferMode mode_ = OfferMode::messages;
  std::vector<SharedBuffer> offers_;
  std::vector<Send> sends_;
  std::vector<std::uint64_t> releases_;
  std::deque<Receive> receives_;
};

}  // namespace manta::engine::fakes
