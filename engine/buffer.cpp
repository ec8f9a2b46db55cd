#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include <manta/buffer.h>

namespace manta::detail {
namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}

std::byte* allocate_bytes(std::size_t n) {
  if (n < 2 * kHugePage) {
    void* p = std::malloc(n);
    if (!p) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
  }
  const std::size_t rounded = (n + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (!p) throw std::bad_alloc();
  madvise(p, rounded, MADV_HUGEPAGE);  // advice only: ignored where huge pages are off
  return static_cast<std::byte*>(p);
}

void release_bytes(std::byte* p) noexcept { std::free(p); }

}  // namespace manta::detail
