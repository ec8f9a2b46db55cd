#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <mutex>
#include <new>
#include <vector>

#include <manta/buffer.h>

#include "transport/segment_blocks.h"

namespace manta::detail {
namespace {
namespace segments = transport::segment_blocks;

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kLarge = 2 * kHugePage;  // smaller private blocks come from malloc
// Freed large blocks kept for reuse, up to this many bytes per process. A fresh block costs a
// page fault and a kernel zero-fill per page before the first byte lands, which halves the
// speed of a transfer into it; a reused block is already mapped. The runtime lowers the limit
// to a share of the object store's capacity, so the pool never rivals the store.
std::atomic<std::size_t> g_pool_limit{std::size_t{512} << 20};
std::atomic<void (*)(void*, std::size_t)> g_fresh_block_hook{nullptr};

struct Block {
  std::size_t size;
  void* p;
  bool segment;  // a shared segment: reused only for segment requests, destroyed when dropped
};
struct Pool {
  std::mutex mutex;
  std::deque<Block> blocks;  // oldest first
  std::size_t bytes = 0;
};
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: buffers may be freed by static destructors
  return *p;
}

std::size_t rounded(std::size_t n) { return (n + kHugePage - 1) / kHugePage * kHugePage; }

void* take_pooled(std::size_t size, bool segment) {
  Pool& pl = pool();
  std::lock_guard lock(pl.mutex);
  for (auto it = pl.blocks.rbegin(); it != pl.blocks.rend(); ++it) {
    if (it->size == size && it->segment == segment) {
      void* p = it->p;
      pl.bytes -= size;
      pl.blocks.erase(std::next(it).base());
      return p;
    }
  }
  return nullptr;
}

void drop(const std::vector<Block>& blocks) noexcept {
  for (const Block& b : blocks) {
    if (b.segment) {
      segments::destroy(b.p);
    } else {
      std::free(b.p);
    }
  }
}

std::byte* small_block(std::size_t n) {
  void* p = std::malloc(n);
  if (!p) throw std::bad_alloc();
  return static_cast<std::byte*>(p);
}
}  // namespace

void set_fresh_block_hook(void (*hook)(void*, std::size_t)) {
  g_fresh_block_hook.store(hook, std::memory_order_release);
}

void set_buffer_pool_limit(std::size_t bytes) {
  g_pool_limit.store(bytes, std::memory_order_relaxed);
}

std::byte* allocate_bytes(std::size_t n) {
  const bool segment = segments::wanted(n);
  if (!segment && n < kLarge) return small_block(n);
  const std::size_t size = rounded(n);
  if (void* p = take_pooled(size, segment)) return static_cast<std::byte*>(p);
  auto hook = g_fresh_block_hook.load(std::memory_order_acquire);
  if (segment) {
    if (void* p = segments::create(size, hook)) return static_cast<std::byte*>(p);
    if (n < kLarge) return small_block(n);  // no room for a segment: private, as if small
  }
  void* p = std::aligned_alloc(kHugePage, size);
  if (!p) throw std::bad_alloc();
  madvise(p, size, MADV_HUGEPAGE);  // advice only: ignored where huge pages are off
  if (hook) hook(p, size);
  return static_cast<std::byte*>(p);
}

void release_bytes(std::byte* p, std::size_t n) noexcept {
  if (!p) return;
  if (n < kLarge && n < segments::floor()) {
    std::free(p);
    return;
  }
  const std::size_t size = rounded(n);
  std::vector<Block> dropped;
  {
    Pool& pl = pool();
    // The kind is read under the pool's lock, so a concurrent disable either sees this block in
    // the pool (and takes it out) or this release sees the block's name already removed.
    std::lock_guard lock(pl.mutex);
    const segments::Kind kind =
        n >= segments::floor() ? segments::kind_of(p) : segments::Kind::none;
    const bool segment = kind != segments::Kind::none;
    const std::size_t limit = g_pool_limit.load(std::memory_order_relaxed);
    if (kind == segments::Kind::unlinked || size > limit || (!segment && n < kLarge)) {
      dropped.push_back({size, p, segment});
    } else {
      pl.blocks.push_back({size, p, segment});
      pl.bytes += size;
    }
    while (pl.bytes > limit) {
      pl.bytes -= pl.blocks.front().size;
      dropped.push_back(pl.blocks.front());
      pl.blocks.pop_front();
    }
  }
  drop(dropped);
}

std::vector<void*> take_pooled_segments() {
  std::vector<void*> taken;
  Pool& pl = pool();
  std::lock_guard lock(pl.mutex);
  for (auto it = pl.blocks.begin(); it != pl.blocks.end();) {
    if (it->segment) {
      taken.push_back(it->p);
      pl.bytes -= it->size;
      it = pl.blocks.erase(it);
    } else {
      ++it;
    }
  }
  return taken;
}

}  // namespace manta::detail
