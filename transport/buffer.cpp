#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include <manta/buffer.h>

namespace manta::detail {
namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
// Freed large blocks kept for reuse, up to this many bytes per process. A fresh block costs a
// page fault and a kernel zero-fill per page before the first byte lands, which halves the
// speed of a transfer into it; a reused block is already mapped. The runtime lowers the limit
// to a share of the object store's capacity, so the pool never rivals the store.
std::atomic<std::size_t> g_pool_limit{std::size_t{512} << 20};
std::atomic<void (*)(void*, std::size_t)> g_fresh_block_hook{nullptr};

struct Pool {
  std::mutex mutex;
  std::deque<std::pair<std::size_t, void*>> blocks;  // oldest first
  std::size_t bytes = 0;
};
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: buffers may be freed by static destructors
  return *p;
}

std::size_t rounded(std::size_t n) { return (n + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

void set_fresh_block_hook(void (*hook)(void*, std::size_t)) {
  g_fresh_block_hook.store(hook, std::memory_order_release);
}

void set_buffer_pool_limit(std::size_t bytes) {
  g_pool_limit.store(bytes, std::memory_order_relaxed);
}

std::byte* allocate_bytes(std::size_t n) {
  if (n < 2 * kHugePage) {
    void* p = std::malloc(n);
    if (!p) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
  }
  const std::size_t size = rounded(n);
  {
    Pool& pl = pool();
    std::lock_guard lock(pl.mutex);
    for (auto it = pl.blocks.rbegin(); it != pl.blocks.rend(); ++it) {
      if (it->first == size) {
        void* p = it->second;
        pl.bytes -= size;
        pl.blocks.erase(std::next(it).base());
        return static_cast<std::byte*>(p);
      }
    }
  }
  void* p = std::aligned_alloc(kHugePage, size);
  if (!p) throw std::bad_alloc();
  madvise(p, size, MADV_HUGEPAGE);  // advice only: ignored where huge pages are off
  if (auto hook = g_fresh_block_hook.load(std::memory_order_acquire)) hook(p, size);
  return static_cast<std::byte*>(p);
}

void release_bytes(std::byte* p, std::size_t n) noexcept {
  if (!p) return;
  if (n < 2 * kHugePage) {
    std::free(p);
    return;
  }
  const std::size_t size = rounded(n);
  std::vector<void*> drop;
  {
    Pool& pl = pool();
    std::lock_guard lock(pl.mutex);
    const std::size_t limit = g_pool_limit.load(std::memory_order_relaxed);
    if (size <= limit) {
      pl.blocks.emplace_back(size, p);
      pl.bytes += size;
    } else {
      drop.push_back(p);
    }
    while (pl.bytes > limit) {
      pl.bytes -= pl.blocks.front().first;
      drop.push_back(pl.blocks.front().second);
      pl.blocks.pop_front();
    }
  }
  for (void* d : drop) std::free(d);
}

}  // namespace manta::detail
