// Collective calls on GPU memory (label `gpu`): each test skips with the reason where no usable
// GPU (or no NCCL) is present. Members allocate device buffers on their granted GPU, reduce them
// over NCCL, and the driver checks the result against the same reduction on the host.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>
#include <string>
#include <vector>

#include <manta/manta.h>

#if MANTA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

int gpu_count() {
#if MANTA_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

std::string why_not(int gpus_needed) {
#if !MANTA_HAVE_CUDA
  (void)gpus_needed;
  return "Manta was built without CUDA";
#else
#if !MANTA_HAVE_NCCL
  (void)gpus_needed;
  return "Manta was built without NCCL";
#else
  const int n = gpu_count();
  if (n < gpus_needed)
    return "needs " + std::to_string(gpus_needed) + " usable GPUs, the CUDA runtime sees " +
           std::to_string(n) + " (NCCL puts each member on its own GPU)";
  return "";
#endif
#endif
}

/// Fills a device buffer with value(member, i), runs the call, and returns it from the device.
struct Learner {
  static Learner* create() { return new Learner; }

  std::vector<float> allreduce(std::string group, int n) {
    const int me = manta::collective::rank(group);
    std::vector<float> host(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      host[static_cast<std::size_t>(i)] =
          static_cast<float>(me + 1) * 0.5f + static_cast<float>(i % 7);
    return on_device(host, [&](float* d) {
      manta::collective::allreduce(group, std::span<float>(d, host.size()));
    });
  }

  std::vector<float> broadcast(std::string group, int n, int root) {
    const int me = manta::collective::rank(group);
    std::vector<float> host(static_cast<std::size_t>(n), static_cast<float>(me * 10 + 1));
    return on_device(host, [&](float* d) {
      manta::collective::broadcast(group, std::span<float>(d, host.size()), root);
    });
  }

  std::string wrong_size(std::string group, int n) {
    std::vector<float> host(static_cast<std::size_t>(n), 1.f);
    try {
      on_device(host, [&](float* d) {
        manta::collective::allreduce(group, std::span<float>(d, host.size()));
      });
    } catch (const manta::CollectiveError& e) {
      return e.what();
    }
    return "no error";
  }

 private:
  template <class F>
  std::vector<float> on_device(std::vector<float> host, F&& call) {
#if MANTA_HAVE_CUDA
    float* d = nullptr;
    const std::size_t bytes = host.size() * sizeof(float);
    if (cudaMalloc(reinterpret_cast<void**>(&d), std::max<std::size_t>(bytes, 4)) != cudaSuccess)
      throw std::runtime_error("cudaMalloc failed");
    cudaMemcpy(d, host.data(), bytes, cudaMemcpyHostToDevice);
    try {
      call(d);
    } catch (...) {
      cudaFree(d);
      throw;
    }
    cudaMemcpy(host.data(), d, bytes, cudaMemcpyDeviceToHost);
    cudaFree(d);
#else
    call(host.data());
#endif
    return host;
  }
};

MANTA_REMOTE(Learner::create, &Learner::allreduce, &Learner::broadcast, &Learner::wrong_size);

std::vector<manta::ActorHandle<Learner>> learners(int n) {
  std::vector<manta::ActorHandle<Learner>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(manta::actor(Learner::create)
                      .resources({{"GPU", 1}})
                      .on_rank(i % manta::world_size())
                      .remote());
  }
  return out;
}

TEST(GpuCollectives, AllreduceOverNcclMatchesTheHost) {
  const int members = std::min(2, std::max(1, gpu_count()));
  if (auto why = why_not(members); !why.empty()) GTEST_SKIP() << why;
  auto group = learners(members);
  manta::collective::create_group("gpu_allreduce", group);
  for (int n : {1, 1000, 1 << 22}) {
    std::vector<manta::ObjectRef<std::vector<float>>> refs;
    for (auto& h : group) refs.push_back(h.task(&Learner::allreduce).remote("gpu_allreduce", n));
    for (auto& r : refs) {
      const auto got = manta::get(r);
      ASSERT_EQ(got->size(), static_cast<std::size_t>(n));
      for (int i = 0; i < n; i += std::max(1, n / 1000)) {
        float want = 0;
        for (int m = 0; m < members; ++m)
          want += static_cast<float>(m + 1) * 0.5f + static_cast<float>(i % 7);
        ASSERT_FLOAT_EQ((*got)[static_cast<std::size_t>(i)], want) << "element " << i;
      }
    }
  }
  manta::collective::destroy_group("gpu_allreduce");
}

TEST(GpuCollectives, BroadcastAndWrongSizeOverNccl) {
  const int members = std::min(2, std::max(1, gpu_count()));
  if (auto why = why_not(members); !why.empty()) GTEST_SKIP() << why;
  auto group = learners(members);
  manta::collective::create_group("gpu_bcast", group);
  const int root = members - 1;
  std::vector<manta::ObjectRef<std::vector<float>>> refs;
  for (auto& h : group) refs.push_back(h.task(&Learner::broadcast).remote("gpu_bcast", 4096, root));
  for (auto& r : refs) EXPECT_EQ(manta::get(r)->front(), static_cast<float>(root * 10 + 1));
  if (members > 1) {
    auto a = group[0].task(&Learner::wrong_size).remote("gpu_bcast", 10);
    auto b = group[1].task(&Learner::wrong_size).remote("gpu_bcast", 12);
    for (auto* r : {&a, &b}) {
      const std::string what = *manta::get(*r);
      EXPECT_NE(what.find("10"), std::string::npos) << what;
      EXPECT_NE(what.find("12"), std::string::npos) << what;
    }
  }
  manta::collective::destroy_group("gpu_bcast");
}

}  // namespace
