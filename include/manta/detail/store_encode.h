// Encoding a value bound for this rank's object store (a put, a task's result, a large task
// argument) fails as soon as it is clear the store could never hold it: before a byte is copied
// where the codec knows the size up front, else once the encoding passes the store's capacity.
#pragma once

#include <cstddef>
#include <cstdint>

#include <manta/buffer.h>
#include <manta/serialization.h>

namespace manta::detail {

/// This rank's object store capacity in bytes; 0 when unbounded or Manta is not running.
std::uint64_t store_capacity() noexcept;

/// Throws ObjectStoreFullError: `what` ("put", "a task's result", ...) of `bytes` (or more, when
/// `at_least`) can never fit this rank's store.
[[noreturn]] void throw_larger_than_store(const char* what, std::uint64_t bytes, bool at_least);

/// Appends the encoding of `value` to `out`.
template <class V>
void encode_for_store(const V& value, Buffer& out, const char* what) {
  const std::uint64_t capacity = store_capacity();
  if constexpr (KnowsEncodedSize<V>) {
    const std::uint64_t size = Codec<V>::encoded_size(value);
    if (capacity != 0 && size > capacity) throw_larger_than_store(what, size, false);
    Codec<V>::encode(value, out);
  } else {
    const std::size_t start = out.size();
    try {
      EncodeLimit limit(capacity == 0 ? 0 : start + capacity);
      Codec<V>::encode(value, out);
    } catch (const EncodedTooLarge& e) {
      throw_larger_than_store(what, e.at_least - start, true);
    }
  }
}

}  // namespace manta::detail
