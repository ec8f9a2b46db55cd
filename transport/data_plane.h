// How the bytes of one object move from the rank that holds them to the rank that pulls them,
// once the control channel has agreed on the transfer (pull_request, pull_header). Three
// carriers sit behind this one interface, so the engine holds no transport-specific code:
//   messages  chunked MPI messages on the transfer's tag (always available);
//   rma       the reader copies straight out of the holder's memory by a UCX RMA read;
//   file      the reader reads the holder's spill file itself (the engine supplies the reader).
// A fourth, `shared`, never reaches the data plane: a reader on the holder's node maps the
// holder's shared memory segment and reads the bytes in place (engine/object_transfer.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <manta/buffer.h>

namespace manta::transport {

enum class Carrier : std::uint8_t { messages = 0, rma = 1, file = 2, shared = 3 };

/// What a reader got: the bytes, or why not. `unreachable`: the file carrier could not see the
/// holder's file (node-local disk), so the holder must send the bytes another way.
struct Received {
  SharedBuffer bytes;
  std::string error;
  bool unreachable = false;
};

/// Connections the rma carrier made to other ranks (none for the others).
struct DataPlaneStats {
  std::uint64_t endpoints_eager = 0;         // at start
  std::uint64_t endpoints_on_first_use = 0;  // by the first read from a rank
};

class DataPlane {
 public:
  using ReceiveDone = std::function<void(Received)>;
  /// Reads a spilled object's bytes as `descriptor` names them (written by the holder's engine).
  using FileReader = std::function<void(std::span<const std::byte> descriptor, std::uint64_t size,
                                        ReceiveDone done)>;

  /// What the holder tells the reader in the header: the carrier and, for rma and file, the
  /// descriptor the reader needs. `handle` is released when the reader is done.
  struct Offer {
    Carrier carrier = Carrier::messages;
    Buffer descriptor;
    std::uint64_t handle = 0;
  };

  virtual ~DataPlane() = default;

  /// "ucx" or "mpi": how bytes in memory move.
  [[nodiscard]] virtual const char* name() const noexcept = 0;
  /// A tag no other transfer of this rank uses.
  virtual int new_tag() = 0;
  [[nodiscard]] virtual DataPlaneStats stats() const { return {}; }

  /// Holder: makes `bytes` readable for one pull: rma when it can register them, else messages.
  /// Throws std::runtime_error when registration fails (the caller then sends by messages).
  virtual Offer offer(const SharedBuffer& bytes) = 0;
  /// Holder, after the header went out: sends the bytes of a `messages` offer.
  virtual void send(int reader, int tag, SharedBuffer bytes) = 0;
  /// Holder: the reader is done with an rma offer (its pull_done arrived). Handle 0 (nothing
  /// was registered) is ignored.
  virtual void release(std::uint64_t handle) = 0;

  /// Reader: gets `size` bytes from `holder` by the carrier the header named. `descriptor` is
  /// read before it returns; `done` runs once, on any thread, with the bytes or the error.
  virtual void receive(int holder, int tag, Carrier carrier, std::span<const std::byte> descriptor,
                       std::uint64_t size, ReceiveDone done) = 0;
};

}  // namespace manta::transport
