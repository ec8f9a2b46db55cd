// Where a buffer lives: on a GPU or on the host. Collectives ask it of every buffer to choose
// between MPI (host memory) and NCCL (device memory). Plain types only, so code built without
// the CUDA headers includes it.
#pragma once

#include <cstddef>

namespace manta::gpu {

struct PointerPlace {
  bool device = false;  // CUDA device memory, or managed memory (which a kernel may read)
  int ordinal = -1;     // the CUDA device it was allocated on; -1 for host memory
};

/// Device memory (cudaMalloc, the stream-ordered and virtual-memory allocators, managed memory)
/// or host memory (anything else, pinned host memory included). Always host when Manta was built
/// without CUDA, when no driver or device answers, or for a null pointer. Cheap and thread-safe:
/// one driver call (cuPointerGetAttributes) that opens no CUDA context; only a CUDA runtime
/// before 12.5, which cannot reach it, asks cudaPointerGetAttributes, which opens the current
/// device's. After the first failure every later call answers host without asking the driver.
PointerPlace where_is(const void* p) noexcept;

/// Whether Manta was built with NCCL, so device buffers can take part in collectives.
bool built_with_nccl() noexcept;

/// Copies `bytes` between any two of host and device memory (cudaMemcpy when either is on a
/// device). Throws std::runtime_error with CUDA's message.
void copy_memory(void* dst, const void* src, std::size_t bytes);

}  // namespace manta::gpu
