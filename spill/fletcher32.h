// The Fletcher-32 checksum exactly as HDF5's fletcher32 filter computes it, so that chunks this
// layer checksums itself read back through the library's filter, and the other way round.
#pragma once

#include <cstddef>
#include <cstdint>

namespace manta::spill::detail {

/// Sums of 16-bit big-endian words (a trailing odd byte is the high half of a last word), folded
/// modulo 65535 into 1..65535, or 0 only when every byte is zero; returns (sum2 << 16) | sum1.
/// Uses AVX2 where the processor has it.
std::uint32_t fletcher32(const std::byte* data, std::size_t size);
/// The same sum without vector instructions beyond what the compiler chooses (for tests).
std::uint32_t fletcher32_portable(const std::byte* data, std::size_t size);

}  // namespace manta::spill::detail
