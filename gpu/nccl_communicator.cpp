#include "gpu/nccl_communicator.h"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "gpu/cuda_runtime.h"
#include "gpu/device_memory.h"

#if MANTA_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#endif

namespace manta::gpu {

namespace {

const char* element_name(NcclElement element) {
  switch (element) {
    case NcclElement::i8:
      return "i8";
    case NcclElement::u8:
      return "u8";
    case NcclElement::i32:
      return "i32";
    case NcclElement::u32:
      return "u32";
    case NcclElement::i64:
      return "i64";
    case NcclElement::u64:
      return "u64";
    case NcclElement::f32:
      return "f32";
    case NcclElement::f64:
      return "f64";
  }
  return "?";
}

// One call as errors name it: "allreduce of 1000 f32".
struct Operation {
  const char* name;
  std::size_t count;
  NcclElement element;

  std::string text() const {
    return std::string(name) + " of " + std::to_string(count) + " " + element_name(element);
  }
};

// A root or peer must be another member's rank (a peer other than this one: a lone send to
// oneself would never complete).
void check_rank(const Operation& op, const char* role, int value, int self, int size) {
  const bool in_range = value >= 0 && value < size;
  if (in_range && (std::string(role) != "peer" || value != self)) return;
  throw std::invalid_argument(
      "NCCL " + op.text() + ": " + role + " " + std::to_string(value) +
      (in_range ? " is this rank itself"
                : " is not a rank of a communicator of " + std::to_string(size)));
}

// NCCL reading a host address faults the whole CUDA context, so buffers are checked first.
void check_buffer(const Operation& op, const char* name, const void* p, int device) {
  const PointerPlace place = where_is(p);
  if (place.device && place.ordinal == device) return;
  const std::string where =
      place.device ? "on CUDA device " + std::to_string(place.ordinal) : std::string("host memory");
  throw std::invalid_argument("NCCL " + op.text() + ": the " + name + " buffer is " + where +
                              ", not device memory on CUDA device " + std::to_string(device));
}

#if MANTA_HAVE_NCCL

static_assert(sizeof(ncclUniqueId) == sizeof(NcclId), "NcclId holds one ncclUniqueId");

std::string member_text(int rank, int size, int device) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(size) + " on CUDA device " +
         std::to_string(device);
}

std::string seconds_text(NcclCommunicator::Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
  return text;
}

// Pauses between polls of work on a GPU: a few yields for what completes in microseconds, then
// sleeps that double up to 1 ms, so a long wait holds no core that other ranks share.
class Backoff {
 public:
  void pause() {
    if (yields_ < 16) {
      ++yields_;
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(sleep_);
    if (sleep_ < std::chrono::microseconds(1000)) sleep_ *= 2;
    if (sleep_ > std::chrono::microseconds(1000)) sleep_ = std::chrono::microseconds(1000);
  }

 private:
  int yields_ = 0;
  std::chrono::microseconds sleep_{8};
};

// How long the destructor lets a healthy communicator finish before it aborts it instead.
constexpr auto kFinalizeGrace = std::chrono::seconds(10);

ncclDataType_t nccl_type(NcclElement element) {
  switch (element) {
    case NcclElement::i8:
      return ncclInt8;
    case NcclElement::u8:
      return ncclUint8;
    case NcclElement::i32:
      return ncclInt32;
    case NcclElement::u32:
      return ncclUint32;
    case NcclElement::i64:
      return ncclInt64;
    case NcclElement::u64:
      return ncclUint64;
    case NcclElement::f32:
      return ncclFloat32;
    case NcclElement::f64:
      return ncclFloat64;
  }
  throw std::invalid_argument("NCCL: unknown element type");
}

ncclRedOp_t nccl_op(NcclReduction op) {
  switch (op) {
    case NcclReduction::sum:
      return ncclSum;
    case NcclReduction::prod:
      return ncclProd;
    case NcclReduction::min:
      return ncclMin;
    case NcclReduction::max:
      return ncclMax;
  }
  throw std::invalid_argument("NCCL: unknown reduction");
}

// "unhandled system error (run with NCCL_DEBUG=INFO for details): <NCCL's last message>".
std::string nccl_error(ncclResult_t result) {
  std::string text = ncclGetErrorString(result);
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += std::string(": ") + last;
  return text;
}

std::string cuda_error(const char* call, cudaError_t code) {
  return std::string(call) + ": " + cudaGetErrorString(code) + " (" + cudaGetErrorName(code) + ")";
}

#else

std::string without_nccl() {
  return std::string(built_with_cuda() ? "Manta was built without NCCL"
                                       : "Manta was built without CUDA and NCCL") +
         ", so collectives cannot use GPU memory: rebuild with the CUDA toolkit and NCCL found "
         "(nccl.h and libnccl under the CUDA root, or NCCL_ROOT) and -DMANTA_WITH_NCCL=ON";
}

#endif

}  // namespace

#if MANTA_HAVE_NCCL

// The NCCL communicator and the stream its operations run on. `comm` is null once aborted;
// only the owning thread aborts it, another thread's cancel() asks it to through `cancelled`.
struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  int device = -1;
  std::string member;  // "rank 0 of 2 on CUDA device 0", for errors
  std::atomic<bool> cancelled{false};

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State();

  void join(const NcclId& id, int nranks, int rank, Clock::time_point deadline);
  template <class Enqueue>
  void run(const Operation& op, Enqueue&& enqueue, Clock::time_point deadline);
  void wait(const std::string& what, Clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what, const std::string& why);
  void check_cancelled(const std::string& what);
  void abort() noexcept;
  bool finalize() noexcept;
};

NcclCommunicator::State::~State() {
  ScopedDevice current(device);
  if (comm != nullptr) {
    if (!cancelled && finalize()) {
      ncclCommDestroy(comm);
      comm = nullptr;
    } else {
      abort();
    }
  }
  if (stream != nullptr) cudaStreamDestroy(stream);
  cudaGetLastError();
}

// Flushes and quiesces a healthy communicator (non-blocking: polled for kFinalizeGrace), so that
// ncclCommDestroy only frees. False when it failed or took too long.
bool NcclCommunicator::State::finalize() noexcept {
  ncclResult_t result = ncclCommFinalize(comm);
  const Clock::time_point give_up = Clock::now() + kFinalizeGrace;
  Backoff backoff;
  while (result == ncclInProgress && Clock::now() < give_up) {
    backoff.pause();
    if (ncclCommGetAsyncError(comm, &result) != ncclSuccess) return false;
  }
  return result == ncclSuccess;
}

void NcclCommunicator::State::abort() noexcept {
  if (comm == nullptr) return;
  ncclCommAbort(comm);
  comm = nullptr;
}

void NcclCommunicator::State::check_cancelled(const std::string& what) {
  if (!cancelled.load(std::memory_order_acquire)) return;
  abort();
  throw std::runtime_error("NCCL " + what + " (" + member +
                           "): the communicator was cancelled and is aborted");
}

void NcclCommunicator::State::fail(const std::string& what, const std::string& why) {
  abort();
  throw std::runtime_error("NCCL " + what + " (" + member + ") failed: " + why +
                           "; the communicator was aborted");
}

// Polls until NCCL has issued the work (the communicator is non-blocking, so its calls may
// return before that) and the stream has run it.
void NcclCommunicator::State::wait(const std::string& what, Clock::time_point deadline) {
  const Clock::time_point start = Clock::now();
  Backoff backoff;
  for (;;) {
    check_cancelled(what);
    ncclResult_t state = ncclSuccess;
    if (const ncclResult_t r = ncclCommGetAsyncError(comm, &state); r != ncclSuccess) {
      fail(what, "ncclCommGetAsyncError: " + nccl_error(r));
    }
    if (state != ncclSuccess && state != ncclInProgress) fail(what, nccl_error(state));
    if (state == ncclSuccess) {
      const cudaError_t e = cudaStreamQuery(stream);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) {
        cudaGetLastError();
        fail(what, cuda_error("cudaStreamQuery", e));
      }
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      abort();
      throw NcclTimeout("NCCL " + what + " (" + member +
                        "): the other ranks did not take part in time (waited " +
                        seconds_text(now - start) + "); the communicator was aborted");
    }
    backoff.pause();
  }
}

void NcclCommunicator::State::join(const NcclId& id, int nranks, int rank,
                                   Clock::time_point deadline) {
  ScopedDevice current(device);
  if (!current.ok())
    throw std::runtime_error("NCCL communicator (" + member + "): " + current.error());
  if (const cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
      e != cudaSuccess) {
    stream = nullptr;
    cudaGetLastError();
    throw std::runtime_error("NCCL communicator (" + member +
                             "): " + cuda_error("cudaStreamCreateWithFlags", e));
  }
  ncclUniqueId unique{};
  std::memcpy(unique.internal, id.data(), sizeof unique.internal);
  // Non-blocking: every call returns at once and is polled, so no wait outlasts its deadline
  // (a blocking one would sit in the set-up or in connecting to peers for as long as they take).
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t r = ncclCommInitRankConfig(&comm, nranks, unique, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    const std::string why = nccl_error(r);
    abort();
    throw std::runtime_error("NCCL communicator (" + member +
                             "): ncclCommInitRankConfig failed: " + why);
  }
  wait("communicator set-up", deadline);
}

template <class Enqueue>
void NcclCommunicator::State::run(const Operation& op, Enqueue&& enqueue,
                                  Clock::time_point deadline) {
  check_cancelled(op.text());
  if (comm == nullptr) {
    throw std::runtime_error("NCCL " + op.text() + " (" + member +
                             "): the communicator was aborted by an earlier failure");
  }
  ScopedDevice current(device);
  if (!current.ok()) throw std::runtime_error("NCCL " + op.text() + ": " + current.error());
  // A non-blocking communicator keeps any error of a call, a refused argument too, as its state:
  // it cannot be used again, so every error aborts it.
  const ncclResult_t r = enqueue(comm, stream);
  if (r != ncclSuccess && r != ncclInProgress) fail(op.text(), nccl_error(r));
  wait(op.text(), deadline);
}

NcclId nccl_new_id() {
  ncclUniqueId unique{};
  if (const ncclResult_t r = ncclGetUniqueId(&unique); r != ncclSuccess) {
    throw std::runtime_error("ncclGetUniqueId failed: " + nccl_error(r));
  }
  NcclId id{};
  std::memcpy(id.data(), unique.internal, id.size());
  return id;
}

#else

struct NcclCommunicator::State {};

NcclId nccl_new_id() { throw std::runtime_error(without_nccl()); }

#endif

NcclCommunicator::NcclCommunicator(const NcclId& id, int nranks, int rank, int device,
                                   Clock::time_point deadline)
    : rank_(rank), size_(nranks), device_(device) {
#if MANTA_HAVE_NCCL
  const std::string member = member_text(rank, nranks, device);
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    throw std::invalid_argument("NCCL communicator: " + member + " is not a rank of it");
  }
  const CudaProbe& probe = probe_cuda();
  if (!probe.usable) {
    throw std::runtime_error("NCCL communicator (" + member +
                             "): no usable CUDA device: " + probe.error);
  }
  if (device < 0 || device >= static_cast<int>(probe.devices.size())) {
    throw std::invalid_argument("NCCL communicator (" + member + "): this process sees " +
                                std::to_string(probe.devices.size()) + " CUDA devices");
  }
  state_ = std::make_unique<State>();
  state_->device = device;
  state_->member = member;
  state_->join(id, nranks, rank, deadline);
#else
  (void)id;
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

NcclCommunicator::~NcclCommunicator() = default;

void NcclCommunicator::cancel() noexcept {
#if MANTA_HAVE_NCCL
  if (state_) state_->cancelled.store(true, std::memory_order_release);
#endif
}

void NcclCommunicator::allreduce(const void* in, void* out, std::size_t count, NcclElement element,
                                 NcclReduction op, Clock::time_point deadline) {
  const Operation what{"allreduce", count, element};
  if (count == 0) return;
  check_buffer(what, "input", in, device_);
  check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclAllReduce(in, out, count, nccl_type(element), nccl_op(op), comm, stream);
      },
      deadline);
#else
  (void)op;
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::reduce(const void* in, void* out, std::size_t count, NcclElement element,
                              NcclReduction op, int root, Clock::time_point deadline) {
  const Operation what{"reduce", count, element};
  if (count == 0) return;
  check_rank(what, "root", root, rank_, size_);
  check_buffer(what, "input", in, device_);
  if (rank_ == root) check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclReduce(in, out, count, nccl_type(element), nccl_op(op), root, comm, stream);
      },
      deadline);
#else
  (void)op;
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::broadcast(const void* in, void* out, std::size_t count, NcclElement element,
                                 int root, Clock::time_point deadline) {
  const Operation what{"broadcast", count, element};
  if (count == 0) return;
  check_rank(what, "root", root, rank_, size_);
  if (rank_ == root) check_buffer(what, "input", in, device_);
  check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclBroadcast(in, out, count, nccl_type(element), root, comm, stream);
      },
      deadline);
#else
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::allgather(const void* in, void* out, std::size_t count_per_rank,
                                 NcclElement element, Clock::time_point deadline) {
  const Operation what{"allgather", count_per_rank, element};
  if (count_per_rank == 0) return;
  check_buffer(what, "input", in, device_);
  check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclAllGather(in, out, count_per_rank, nccl_type(element), comm, stream);
      },
      deadline);
#else
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::reduce_scatter(const void* in, void* out, std::size_t count_per_rank,
                                      NcclElement element, NcclReduction op,
                                      Clock::time_point deadline) {
  const Operation what{"reduce_scatter", count_per_rank, element};
  if (count_per_rank == 0) return;
  check_buffer(what, "input", in, device_);
  check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclReduceScatter(in, out, count_per_rank, nccl_type(element), nccl_op(op), comm,
                                 stream);
      },
      deadline);
#else
  (void)op;
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::send(const void* in, std::size_t count, NcclElement element, int peer,
                            Clock::time_point deadline) {
  const Operation what{"send", count, element};
  if (count == 0) return;
  check_rank(what, "peer", peer, rank_, size_);
  check_buffer(what, "input", in, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclSend(in, count, nccl_type(element), peer, comm, stream);
      },
      deadline);
#else
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

void NcclCommunicator::recv(void* out, std::size_t count, NcclElement element, int peer,
                            Clock::time_point deadline) {
  const Operation what{"recv", count, element};
  if (count == 0) return;
  check_rank(what, "peer", peer, rank_, size_);
  check_buffer(what, "output", out, device_);
#if MANTA_HAVE_NCCL
  state_->run(
      what,
      [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclRecv(out, count, nccl_type(element), peer, comm, stream);
      },
      deadline);
#else
  (void)deadline;
  throw std::runtime_error(without_nccl());
#endif
}

}  // namespace manta::gpu
