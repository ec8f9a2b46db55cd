// Between the large-block allocator (buffer.cpp, which owns the reuse pool) and the shared
// segments (shared_segments.cpp, which owns the files and the registry of mapped ranges).
// Lock order: the pool's mutex, then the registry's; never the other way round.
#pragma once

#include <cstddef>
#include <vector>

namespace manta::transport::segment_blocks {

/// Whether a request of n bytes should get a segment now (enabled, and n is large enough).
[[nodiscard]] bool wanted(std::size_t n) noexcept;
/// Requests smaller than this were never segments, so freeing them needs no registry look-up.
[[nodiscard]] std::size_t floor() noexcept;
/// A fresh segment of `size` bytes (a multiple of 2 MiB), `hook` run on it before its pages are
/// allocated; null when none can be made now (no room, no descriptors: counted as a fallback).
[[nodiscard]] void* create(std::size_t size, void (*hook)(void*, std::size_t));

enum class Kind {
  none,      // not a segment of this process: private memory
  live,      // a segment whose name exists: may be pooled for reuse
  unlinked,  // a segment whose name was removed (disabled): unmap it when freed
};
/// What the block starting at p is.
[[nodiscard]] Kind kind_of(const void* p) noexcept;
/// Unmaps an own segment block and removes its name (unless already gone).
void destroy(void* p) noexcept;

}  // namespace manta::transport::segment_blocks

namespace manta::detail {
/// Takes every pooled segment block out of the reuse pool (for disable_shared_segments).
std::vector<void*> take_pooled_segments();
}  // namespace manta::detail
