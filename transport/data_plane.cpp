#include "transport/open_data_plane.h"

#include <atomic>
#include <utility>

#include "transport/control_channel.h"
#include "transport/mpi_world.h"
#if MANTA_HAVE_UCX
#include "transport/ucx_data_plane.h"
#endif

namespace manta::transport {
namespace {

/// Bytes in memory move as chunked MPI messages on the control channel's transfer tags.
class MpiDataPlane : public DataPlane {
 public:
  MpiDataPlane(ControlChannel& channel, FileReader files)
      : channel_(channel), files_(std::move(files)) {}

  [[nodiscard]] const char* name() const noexcept override { return "mpi"; }
  int new_tag() override { return channel_.new_transfer_tag(); }
  Offer offer(const SharedBuffer&) override { return {}; }
  void send(int reader, int tag, SharedBuffer bytes) override {
    channel_.send_data(reader, tag, std::move(bytes));
  }
  void release(std::uint64_t) override {}

  void receive(int holder, int tag, Carrier carrier, std::span<const std::byte> descriptor,
               std::uint64_t size, ReceiveDone done) override {
    switch (carrier) {
      case Carrier::messages:
        channel_.receive_data(holder, tag, size, [done = std::move(done)](Buffer b) {
          done({std::make_shared<const Buffer>(std::move(b)), {}, false});
        });
        return;
      case Carrier::file:
        if (files_) {
          files_(descriptor, size, std::move(done));
        } else {
          done({nullptr, "this rank reads no spill files", true});
        }
        return;
      case Carrier::rma:
        receive_rma(holder, descriptor, size, std::move(done));
        return;
      case Carrier::shared:
        break;  // the engine maps shared segments itself; it never asks the data plane
    }
    done({nullptr, "unknown carrier " + std::to_string(static_cast<int>(carrier)), false});
  }

 protected:
  virtual void receive_rma(int holder, std::span<const std::byte> /*descriptor*/, std::uint64_t,
                           ReceiveDone done) {
    done({nullptr,
          "rank " + std::to_string(holder) + " offered an RMA read but this build has no UCX",
          false});
  }

  ControlChannel& channel_;

 private:
  FileReader files_;
};

#if MANTA_HAVE_UCX
/// Readers copy straight out of the holder's memory; what cannot be registered goes by messages.
class UcxRmaDataPlane final : public MpiDataPlane {
 public:
  UcxRmaDataPlane(ControlChannel& channel, FileReader files, std::shared_ptr<UcxDataPlane> ucx)
      : MpiDataPlane(channel, std::move(files)), ucx_(std::move(ucx)) {
    // Reads of this rank's memory are served by its own progress (UCX emulates RMA over shared
    // memory here), so the loop stays awake while any object is offered to a reader.
    channel.add_extra_progress([ucx = ucx_, open = open_] {
      return ucx->progress() || ucx->busy() || open->load(std::memory_order_relaxed) > 0;
    });
  }

  [[nodiscard]] const char* name() const noexcept override { return "ucx"; }
  [[nodiscard]] DataPlaneStats stats() const override {
    const UcxDataPlane::Stats s = ucx_->stats();
    return {s.endpoints_eager, s.endpoints_on_first_use};
  }

  Offer offer(const SharedBuffer& bytes) override {
    Offer o;
    if (!bytes || bytes->size() == 0) return o;
    o.handle = ucx_->expose(bytes->data(), bytes->size(), o.descriptor);
    if (o.handle != 0) {
      o.carrier = Carrier::rma;
      open_->fetch_add(1, std::memory_order_relaxed);
    }
    return o;
  }

  void release(std::uint64_t handle) override {
    if (handle == 0) return;
    open_->fetch_sub(1, std::memory_order_relaxed);
    ucx_->unexpose(handle);
  }

 protected:
  void receive_rma(int holder, std::span<const std::byte> descriptor, std::uint64_t size,
                   ReceiveDone done) override {
    auto into = std::make_shared<Buffer>(size);
    ucx_->get(holder, descriptor, into->data(), size,
              [into, done = std::move(done)](std::string error) {
                if (!error.empty()) {
                  done({nullptr, std::move(error), false});
                  return;
                }
                done({into, {}, false});
              });
  }

 private:
  std::shared_ptr<UcxDataPlane> ucx_;
  std::shared_ptr<std::atomic<int>> open_ = std::make_shared<std::atomic<int>>(0);
};
#endif

}  // namespace

std::unique_ptr<DataPlane> open_data_plane(MPI_Comm comm, ControlChannel& channel,
                                           const DataPlaneOptions& options,
                                           DataPlane::FileReader files, std::string* why_not) {
  // Collective: every rank must agree, so one rank that asks for MPI makes it MPI.
  const bool want_ucx = all_true(comm, options.want_ucx);
  std::string why = "built without UCX";
#if MANTA_HAVE_UCX
  if (want_ucx) {
    UcxDataPlane::Options o;
    o.chunk_size = options.chunk_size;
    o.eager_endpoints = options.eager_endpoints;
    std::shared_ptr<UcxDataPlane> ucx = UcxDataPlane::create(comm, o, &why);
    if (ucx) return std::make_unique<UcxRmaDataPlane>(channel, std::move(files), std::move(ucx));
  } else {
    why = "--manta-transport=mpi";
  }
#else
  (void)want_ucx;
#endif
  if (why_not) *why_not = why;
  return std::make_unique<MpiDataPlane>(channel, std::move(files));
}

}  // namespace manta::transport
