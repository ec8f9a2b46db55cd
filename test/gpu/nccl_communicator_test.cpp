// NCCL communicators among threads of one process, as members of a collective group that share
// a rank use them (label gpu). Every operation on device buffers is checked against the result
// computed on the host, with 1 rank and with 2 (on two GPUs, or twice on one where NCCL allows
// it). Without NCCL or a usable GPU those tests skip with the reason; the checks that need
// neither run everywhere.
#include "gpu/nccl_communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "gpu/cuda_runtime.h"
#include "gpu/device_memory.h"

#if MANTA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace manta::gpu {
namespace {

using Clock = NcclCommunicator::Clock;
std::string thrown_by(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// ---- Checks that need neither NCCL nor a GPU ------------------------------------------------

TEST(NcclBuild, WithoutNcclEveryEntryPointSaysHowToRebuild) {
  if (built_with_nccl()) GTEST_SKIP() << "built with NCCL";
  EXPECT_THROW(nccl_new_id(), std::runtime_error);
  const std::string why = thrown_by([] { NcclCommunicator comm(NcclId{}, 1, 0, 0); });
  EXPECT_NE(why.find("built without"), std::string::npos) << why;
  EXPECT_NE(why.find("NCCL"), std::string::npos) << why;
  EXPECT_NE(why.find("rebuild"), std::string::npos) << why;
  EXPECT_EQ(thrown_by([] { nccl_new_id(); }), why);
}

TEST(NcclBuild, RanksAndDevicesOutOfRangeAreRefusedBeforeNcclIsAsked) {
  if (!built_with_nccl()) GTEST_SKIP() << "Manta was built without NCCL";
  const NcclId id{};  // never reaches NCCL
  EXPECT_THROW(NcclCommunicator(id, 2, 2, 0), std::invalid_argument);
  EXPECT_THROW(NcclCommunicator(id, 2, -1, 0), std::invalid_argument);
  EXPECT_THROW(NcclCommunicator(id, 0, 0, 0), std::invalid_argument);
  // A device past the last is a wrong argument; no usable device at all is a failure.
  if (probe_cuda().usable) {
    EXPECT_THROW(NcclCommunicator(id, 1, 0, 4096), std::invalid_argument);
  } else {
    EXPECT_THROW(NcclCommunicator(id, 1, 0, 0), std::runtime_error);
  }
  const std::string why = thrown_by([&id] { NcclCommunicator comm(id, 1, 0, 4096); });
  EXPECT_NE(why.find(probe_cuda().usable ? "CUDA devices" : "no usable CUDA device"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("rank 0 of 1"), std::string::npos) << why;
}

TEST(NcclBuild, IdsAreFresh) {
  if (!built_with_nccl()) GTEST_SKIP() << "Manta was built without NCCL";
  // ncclGetUniqueId needs no GPU: the rendezvous is a socket of this process.
  const NcclId first = nccl_new_id();
  const NcclId second = nccl_new_id();
  EXPECT_NE(first, NcclId{});
  EXPECT_NE(first, second);
}

#if MANTA_HAVE_CUDA

// ---- Device buffers and the ranks' threads ---------------------------------------------------

constexpr auto kPatience = std::chrono::seconds(60);

Clock::time_point patient() { return Clock::now() + kPatience; }

template <class T>
NcclElement element_of() {
  if constexpr (std::is_same_v<T, std::int8_t>) {
    return NcclElement::i8;
  } else if constexpr (std::is_same_v<T, std::uint8_t>) {
    return NcclElement::u8;
  } else if constexpr (std::is_same_v<T, std::int32_t>) {
    return NcclElement::i32;
  } else if constexpr (std::is_same_v<T, std::uint32_t>) {
    return NcclElement::u32;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return NcclElement::i64;
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    return NcclElement::u64;
  } else if constexpr (std::is_same_v<T, float>) {
    return NcclElement::f32;
  } else {
    static_assert(std::is_same_v<T, double>, "an element type NCCL carries");
    return NcclElement::f64;
  }
}

void check_cuda(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(call) + ": " + cudaGetErrorString(e));
}

// count elements of T on one device, filled from and read back into host vectors.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer(int device, std::size_t count) : device_(device), count_(count) {
    ScopedDevice current(device);
    if (!current.ok()) throw std::runtime_error(current.error());
    check_cuda(cudaMalloc(&ptr_, (count == 0 ? 1 : count) * sizeof(T)), "cudaMalloc");
  }
  DeviceBuffer(int device, const std::vector<T>& values) : DeviceBuffer(device, values.size()) {
    upload(values);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    ScopedDevice current(device_);
    cudaFree(ptr_);
  }

  T* get() const { return static_cast<T*>(ptr_); }

  void upload(const std::vector<T>& values) {
    ScopedDevice current(device_);
    check_cuda(cudaMemcpy(ptr_, values.data(), count_ * sizeof(T), cudaMemcpyHostToDevice),
               "cudaMemcpy");
    // A copy from pageable memory may return before it lands; the communicator's own stream
    // does not wait for the default stream.
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  std::vector<T> download() const {
    ScopedDevice current(device_);
    std::vector<T> values(count_);
    check_cuda(cudaMemcpy(values.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost),
               "cudaMemcpy");
    return values;
  }

 private:
  int device_;
  std::size_t count_;
  void* ptr_ = nullptr;
};

// Rank r's contribution: small integers, exact in every element type and under products of two.
template <class T>
std::vector<T> values_of(int rank, std::size_t count) {
  std::vector<T> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<T>(rank * 3 + 1 + (i * 7) % 11);
  return v;
}

template <class T>
T reduce_host(NcclReduction op, T a, T b) {
  switch (op) {
    case NcclReduction::sum:
      return static_cast<T>(a + b);
    case NcclReduction::prod:
      return static_cast<T>(a * b);
    case NcclReduction::min:
      return a < b ? a : b;
    case NcclReduction::max:
      return a > b ? a : b;
  }
  return a;
}

// The element-wise reduction of every rank's values_of.
template <class T>
std::vector<T> expected_reduction(NcclReduction op, int size, std::size_t count) {
  std::vector<T> result = values_of<T>(0, count);
  for (int r = 1; r < size; ++r) {
    const std::vector<T> v = values_of<T>(r, count);
    for (std::size_t i = 0; i < count; ++i) result[i] = reduce_host(op, result[i], v[i]);
  }
  return result;
}

// Makes a communicator of devices.size() ranks, one thread each, and runs body on every rank.
// Returns the first set-up error ("" when every rank joined); errors in body fail the test.
std::string on_ranks(const std::vector<int>& devices,
                     const std::function<void(NcclCommunicator&)>& body) {
  const NcclId id = nccl_new_id();
  const int n = static_cast<int>(devices.size());
  std::vector<std::string> setup_errors(devices.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<NcclCommunicator> comm;
      try {
        comm = std::make_unique<NcclCommunicator>(id, n, r, devices[static_cast<std::size_t>(r)],
                                                  patient());
      } catch (const std::exception& e) {
        setup_errors[static_cast<std::size_t>(r)] = e.what();
        return;
      }
      EXPECT_EQ(comm->rank(), r);
      EXPECT_EQ(comm->size(), n);
      try {
        body(*comm);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << r << " of " << n << ": " << e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& e : setup_errors) {
    if (!e.empty()) return e;
  }
  return "";
}

class NcclOnGpu : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!built_with_nccl()) GTEST_SKIP() << "Manta was built without NCCL";
    if (!probe_cuda().usable) GTEST_SKIP() << "no usable CUDA device: " << probe_cuda().error;
  }

  // Distinct GPUs where there are enough, else GPU 0 for every rank.
  static std::vector<int> devices_for(int n) {
    const int count = static_cast<int>(probe_cuda().devices.size());
    std::vector<int> devices;
    for (int r = 0; r < n; ++r) devices.push_back(count >= n ? r : 0);
    return devices;
  }

  // body on every rank of a communicator of GetParam() ranks. Several ranks on one GPU are not
  // something every NCCL does (2.28 refuses them): then the test skips with NCCL's words.
  void run(const std::function<void(NcclCommunicator&)>& body) {
    const std::vector<int> devices = devices_for(GetParam());
    const std::string error = on_ranks(devices, body);
    if (error.empty()) return;
    if (devices.size() > 1 && devices.front() == devices.back()) {
      GTEST_SKIP() << devices.size() << " ranks on one GPU refused: " << error;
    }
    FAIL() << "set-up: " << error;
  }
};

template <class T>
void check_allreduce(NcclCommunicator& comm, NcclReduction op, std::size_t count) {
  const int device = comm.device();
  DeviceBuffer<T> in(device, values_of<T>(comm.rank(), count));
  DeviceBuffer<T> out(device, count);
  comm.allreduce(in.get(), out.get(), count, element_of<T>(), op, patient());
  EXPECT_EQ(out.download(), expected_reduction<T>(op, comm.size(), count))
      << "op " << static_cast<int>(op) << ", rank " << comm.rank();
  EXPECT_EQ(in.download(), values_of<T>(comm.rank(), count)) << "the input is unchanged";
}

TEST_P(NcclOnGpu, AllreduceEveryReductionAndElementType) {
  run([](NcclCommunicator& comm) {
    for (const NcclReduction op :
         {NcclReduction::sum, NcclReduction::prod, NcclReduction::min, NcclReduction::max}) {
      check_allreduce<std::int32_t>(comm, op, 1001);
      check_allreduce<float>(comm, op, 1001);
      check_allreduce<double>(comm, op, 3);
    }
    check_allreduce<std::int8_t>(comm, NcclReduction::max, 17);
    check_allreduce<std::uint8_t>(comm, NcclReduction::min, 17);
    check_allreduce<std::uint32_t>(comm, NcclReduction::sum, 1);
    check_allreduce<std::int64_t>(comm, NcclReduction::prod, 5);
    check_allreduce<std::uint64_t>(comm, NcclReduction::sum, 1u << 20);
  });
}

TEST_P(NcclOnGpu, AllreduceInPlace) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kCount = 4099;
    DeviceBuffer<float> data(comm.device(), values_of<float>(comm.rank(), kCount));
    comm.allreduce(data.get(), data.get(), kCount, NcclElement::f32, NcclReduction::sum, patient());
    EXPECT_EQ(data.download(), expected_reduction<float>(NcclReduction::sum, comm.size(), kCount));
  });
}

TEST_P(NcclOnGpu, ReduceLandsOnTheRootOnly) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kCount = 333;
    const std::vector<std::int64_t> untouched(kCount, -5);
    for (int root = 0; root < comm.size(); ++root) {
      DeviceBuffer<std::int64_t> in(comm.device(), values_of<std::int64_t>(comm.rank(), kCount));
      DeviceBuffer<std::int64_t> out(comm.device(), untouched);
      comm.reduce(in.get(), out.get(), kCount, NcclElement::i64, NcclReduction::sum, root,
                  patient());
      const auto expected = comm.rank() == root ? expected_reduction<std::int64_t>(
                                                      NcclReduction::sum, comm.size(), kCount)
                                                : untouched;
      EXPECT_EQ(out.download(), expected) << "root " << root << ", rank " << comm.rank();
    }
  });
}

TEST_P(NcclOnGpu, BroadcastFromEveryRoot) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kCount = 77777;
    for (int root = 0; root < comm.size(); ++root) {
      DeviceBuffer<double> in(comm.device(), values_of<double>(comm.rank(), kCount));
      DeviceBuffer<double> out(comm.device(), std::vector<double>(kCount, -1.0));
      comm.broadcast(in.get(), out.get(), kCount, NcclElement::f64, root, patient());
      EXPECT_EQ(out.download(), values_of<double>(root, kCount)) << "root " << root;
      // In place, and a non-root need not name an input.
      DeviceBuffer<double> data(comm.device(), values_of<double>(comm.rank() + 10, kCount));
      comm.broadcast(comm.rank() == root ? data.get() : nullptr, data.get(), kCount,
                     NcclElement::f64, root, patient());
      EXPECT_EQ(data.download(), values_of<double>(root + 10, kCount)) << "root " << root;
    }
  });
}

TEST_P(NcclOnGpu, AllgatherConcatenatesInRankOrder) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kPerRank = 1025;
    DeviceBuffer<std::int32_t> in(comm.device(), values_of<std::int32_t>(comm.rank(), kPerRank));
    DeviceBuffer<std::int32_t> out(comm.device(), kPerRank * static_cast<std::size_t>(comm.size()));
    comm.allgather(in.get(), out.get(), kPerRank, NcclElement::i32, patient());
    std::vector<std::int32_t> expected;
    for (int r = 0; r < comm.size(); ++r) {
      const auto v = values_of<std::int32_t>(r, kPerRank);
      expected.insert(expected.end(), v.begin(), v.end());
    }
    EXPECT_EQ(out.download(), expected);
  });
}

TEST_P(NcclOnGpu, ReduceScatterGivesEachRankItsBlock) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kPerRank = 513;
    const std::size_t total = kPerRank * static_cast<std::size_t>(comm.size());
    DeviceBuffer<float> in(comm.device(), values_of<float>(comm.rank(), total));
    DeviceBuffer<float> out(comm.device(), kPerRank);
    comm.reduce_scatter(in.get(), out.get(), kPerRank, NcclElement::f32, NcclReduction::max,
                        patient());
    const auto all = expected_reduction<float>(NcclReduction::max, comm.size(), total);
    const auto begin = all.begin() + static_cast<std::ptrdiff_t>(kPerRank) * comm.rank();
    EXPECT_EQ(out.download(), std::vector<float>(begin, begin + kPerRank));
  });
}

TEST_P(NcclOnGpu, SendAndRecvArriveInOrder) {
  if (GetParam() < 2) GTEST_SKIP() << "needs two ranks";
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kCount = 100001;
    const int peer = 1 - comm.rank();
    for (int round = 0; round < 3; ++round) {
      const int sender = round % 2;
      if (comm.rank() == sender) {
        DeviceBuffer<std::uint8_t> first(comm.device(), values_of<std::uint8_t>(round, kCount));
        DeviceBuffer<std::uint8_t> second(comm.device(), values_of<std::uint8_t>(round + 5, 9));
        comm.send(first.get(), kCount, NcclElement::u8, peer, patient());
        comm.send(second.get(), 9, NcclElement::u8, peer, patient());
      } else {
        DeviceBuffer<std::uint8_t> first(comm.device(), kCount);
        DeviceBuffer<std::uint8_t> second(comm.device(), 9);
        comm.recv(first.get(), kCount, NcclElement::u8, peer, patient());
        comm.recv(second.get(), 9, NcclElement::u8, peer, patient());
        EXPECT_EQ(first.download(), values_of<std::uint8_t>(round, kCount)) << round;
        EXPECT_EQ(second.download(), values_of<std::uint8_t>(round + 5, 9)) << round;
      }
    }
  });
}

TEST_P(NcclOnGpu, ZeroCountsReturnAtOnce) {
  run([](NcclCommunicator& comm) {
    const Clock::time_point past = Clock::now() - std::chrono::seconds(1);
    const NcclElement e = NcclElement::f32;
    comm.allreduce(nullptr, nullptr, 0, e, NcclReduction::sum, past);
    comm.reduce(nullptr, nullptr, 0, e, NcclReduction::sum, 0, past);
    comm.broadcast(nullptr, nullptr, 0, e, 0, past);
    comm.allgather(nullptr, nullptr, 0, e, past);
    comm.reduce_scatter(nullptr, nullptr, 0, e, NcclReduction::sum, past);
    comm.send(nullptr, 0, e, 0, past);
    comm.recv(nullptr, 0, e, 0, past);
    check_allreduce<float>(comm, NcclReduction::sum, 10);  // still usable
  });
}

TEST_P(NcclOnGpu, WrongArgumentsAreRefusedAndLeaveItUsable) {
  run([](NcclCommunicator& comm) {
    constexpr std::size_t kCount = 64;
    std::vector<float> host(kCount, 1.0f);
    DeviceBuffer<float> device(comm.device(), kCount);
    const std::string why = thrown_by([&] {
      comm.allreduce(host.data(), device.get(), kCount, NcclElement::f32, NcclReduction::sum,
                     patient());
    });
    EXPECT_NE(why.find("host memory"), std::string::npos) << why;
    EXPECT_THROW(comm.broadcast(device.get(), device.get(), kCount, NcclElement::f32, comm.size(),
                                patient()),
                 std::invalid_argument);
    EXPECT_THROW(comm.send(device.get(), kCount, NcclElement::f32, comm.rank(), patient()),
                 std::invalid_argument);
    check_allreduce<float>(comm, NcclReduction::sum, kCount);
  });
}

TEST_P(NcclOnGpu, AnAbsentPeerTimesOutAndAbortsTheCommunicator) {
  if (GetParam() < 2) GTEST_SKIP() << "needs two ranks";
  std::atomic<bool> rank0_done{false};
  run([&rank0_done](NcclCommunicator& comm) {
    DeviceBuffer<float> data(comm.device(), 1000);
    if (comm.rank() == 1) {
      // Takes no part; then its peer is gone, so it ends without waiting for it.
      const Clock::time_point give_up = patient();
      while (!rank0_done && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      comm.cancel();
      EXPECT_THROW(comm.allreduce(data.get(), data.get(), 1000, NcclElement::f32,
                                  NcclReduction::sum, patient()),
                   std::runtime_error);
      return;
    }
    struct Done {  // however rank 0's part ends, rank 1 stops waiting
      std::atomic<bool>& flag;
      ~Done() { flag = true; }
    } done{rank0_done};
    const Clock::time_point start = Clock::now();
    try {
      comm.allreduce(data.get(), data.get(), 1000, NcclElement::f32, NcclReduction::sum,
                     start + std::chrono::seconds(1));
      ADD_FAILURE() << "the allreduce completed without its peer";
    } catch (const NcclTimeout& e) {
      const std::string why = e.what();
      EXPECT_NE(why.find("allreduce of 1000 f32"), std::string::npos) << why;
      EXPECT_NE(why.find("did not take part"), std::string::npos) << why;
    }
    EXPECT_GE(Clock::now() - start, std::chrono::seconds(1));
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(20)) << "the abort is bounded";
    const std::string again = thrown_by([&] {
      comm.allreduce(data.get(), data.get(), 1000, NcclElement::f32, NcclReduction::sum, patient());
    });
    EXPECT_NE(again.find("aborted"), std::string::npos) << again;
  });
}

TEST_P(NcclOnGpu, CancelFromAnotherThreadEndsTheOperationInFlight) {
  if (GetParam() < 2) GTEST_SKIP() << "needs two ranks";
  std::atomic<NcclCommunicator*> rank0{nullptr};
  std::atomic<bool> rank0_done{false};
  run([&](NcclCommunicator& comm) {
    DeviceBuffer<double> data(comm.device(), 4096);
    if (comm.rank() == 1) {
      // Takes no part, and cancels rank 0's wait (as the engine does when a member dies).
      const Clock::time_point give_up = patient();
      while (rank0.load() == nullptr && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (NcclCommunicator* other = rank0.load()) other->cancel();
      while (!rank0_done && Clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      comm.cancel();  // its destructor then aborts instead of waiting to finalize with rank 0
      return;
    }
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag = true; }
    } done{rank0_done};
    rank0 = &comm;
    const Clock::time_point start = Clock::now();
    const std::string why = thrown_by([&] {
      comm.allreduce(data.get(), data.get(), 4096, NcclElement::f64, NcclReduction::sum, patient());
    });
    EXPECT_NE(why.find("cancelled"), std::string::npos) << why;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(20)) << "long before the deadline";
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, NcclOnGpu, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::to_string(param.param) + "_ranks";
                         });

TEST(NcclSetUp, TimesOutWhenTheOtherRanksNeverJoin) {
  if (!built_with_nccl()) GTEST_SKIP() << "Manta was built without NCCL";
  if (!probe_cuda().usable) GTEST_SKIP() << "no usable CUDA device: " << probe_cuda().error;
  const Clock::time_point start = Clock::now();
  try {
    NcclCommunicator comm(nccl_new_id(), 2, 0, 0, start + std::chrono::seconds(2));
    ADD_FAILURE() << "a communicator of 2 was made by 1";
  } catch (const NcclTimeout& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("set-up"), std::string::npos) << why;
    EXPECT_NE(why.find("rank 0 of 2"), std::string::npos) << why;
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30)) << "the abort is bounded";
}

TEST(NcclSetUp, TheThreadsDeviceIsRestored) {
  if (!built_with_nccl()) GTEST_SKIP() << "Manta was built without NCCL";
  if (!probe_cuda().usable) GTEST_SKIP() << "no usable CUDA device: " << probe_cuda().error;
  const int last = static_cast<int>(probe_cuda().devices.size()) - 1;
  std::thread([last] {
    ScopedDevice outer(0);
    ASSERT_TRUE(outer.ok()) << outer.error();
    NcclCommunicator comm(nccl_new_id(), 1, 0, last, patient());
    EXPECT_EQ(current_device(), 0);
    DeviceBuffer<std::int32_t> data(last, values_of<std::int32_t>(0, 8));
    comm.allreduce(data.get(), data.get(), 8, NcclElement::i32, NcclReduction::sum, patient());
    EXPECT_EQ(current_device(), 0);
    EXPECT_EQ(data.download(), values_of<std::int32_t>(0, 8));
  }).join();
}

#endif  // MANTA_HAVE_CUDA

}  // namespace
}  // namespace manta::gpu
