// Where a buffer lives, in every build: host memory of every kind is host, and without a usable
// CUDA device every address is. Device memory itself is checked in cuda_device_test (label gpu).
#include "gpu/device_memory.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gpu/cuda_runtime.h"

namespace manta::gpu {
namespace {

int global_value = 7;

void expect_host(const void* p, const std::string& what) {
  const PointerPlace place = where_is(p);
  EXPECT_FALSE(place.device) << what;
  EXPECT_EQ(place.ordinal, -1) << what;
}

TEST(WhereIs, NullIsHost) { expect_host(nullptr, "null"); }

TEST(WhereIs, HostMemoryOfEveryKindIsHost) {
  int on_stack = 1;
  const auto on_heap = std::make_unique<double>(2.0);
  std::vector<float> large(1u << 20, 3.0f);  // mmap'ed by malloc, not from the heap arena
  const std::string text(100, 'x');
  expect_host(&on_stack, "stack");
  expect_host(on_heap.get(), "heap");
  expect_host(large.data(), "large vector");
  expect_host(large.data() + large.size() - 1, "inside a large vector");
  expect_host(text.data(), "string");
  expect_host(&global_value, "global");
  expect_host("literal", "string literal");
}

TEST(WhereIs, WithoutAUsableDeviceEveryAddressIsHost) {
  if (probe_cuda().usable) GTEST_SKIP() << "a CUDA device is usable here: cuda_device_test checks";
  // Addresses nothing allocated, which a driver would look up if one answered.
  for (const std::uintptr_t address :
       {std::uintptr_t{0x1000}, std::uintptr_t{0x7f0000000000}, ~std::uintptr_t{0} - 0xfff}) {
    expect_host(reinterpret_cast<const void*>(address), std::to_string(address));
  }
}

TEST(WhereIs, AnswersTheSameFromManyThreads) {
  std::array<int, 64> values{};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&values] {
      for (int round = 0; round < 1000; ++round) {
        const PointerPlace place = where_is(&values[static_cast<std::size_t>(round % 64)]);
        ASSERT_FALSE(place.device);
        ASSERT_EQ(place.ordinal, -1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(BuiltWithNccl, AgreesWithTheBuild) {
  EXPECT_EQ(built_with_nccl(), MANTA_HAVE_NCCL != 0);
  if (!built_with_cuda()) {
    EXPECT_FALSE(built_with_nccl()) << "NCCL needs CUDA";
  }
}

}  // namespace
}  // namespace manta::gpu
