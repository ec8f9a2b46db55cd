// A contiguous byte buffer that grows without zero-filling, so large payloads are written once.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

namespace manta {
namespace detail {
/// Uninitialised bytes; large blocks are aligned for and advised to use huge pages, so filling
/// them takes far fewer page faults, and recently freed large blocks are reused. Free with
/// release_bytes, giving the size asked for.
std::byte* allocate_bytes(std::size_t n);
void release_bytes(std::byte* p, std::size_t n) noexcept;
/// Freed large blocks kept for reuse are capped at this many bytes per process.
void set_buffer_pool_limit(std::size_t bytes);
/// Called with each freshly mapped large block before its first touch (NUMA placement); null:
/// none.
void set_fresh_block_hook(void (*hook)(void*, std::size_t));
struct ReleaseBytes {
  std::size_t size = 0;
  std::shared_ptr<const void> keep;  // set for a view of memory owned elsewhere: nothing to free
  void operator()(std::byte* p) const noexcept {
    if (!keep) release_bytes(p, size);
  }
};
}  // namespace detail

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t size) : data_(allocate(size)), size_(size), capacity_(size) {}
  Buffer(const void* src, std::size_t size) : Buffer(size) {
    if (size) std::memcpy(data_.get(), src, size);
  }
  /// A read-only view of `size` bytes at `data` that someone else owns; `keep` holds them alive
  /// and is dropped with the buffer. Never written through (buffers in the store are const).
  static std::shared_ptr<const Buffer> view_of(const std::byte* data, std::size_t size,
                                               std::shared_ptr<const void> keep) {
    auto b = std::make_shared<Buffer>();
    b->data_ = Storage(const_cast<std::byte*>(data), detail::ReleaseBytes{size, std::move(keep)});
    b->size_ = size;
    b->capacity_ = size;
    return b;
  }
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  [[nodiscard]] std::byte* data() noexcept { return data_.get(); }
  [[nodiscard]] const std::byte* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data_.get(), size_}; }

  void reserve(std::size_t capacity) {
    if (capacity <= capacity_) return;
    auto bigger = allocate(capacity);
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }
  /// Grows by n bytes (uninitialised) and returns where they start.
  std::byte* extend(std::size_t n) {
    if (size_ + n > capacity_) reserve(std::max(size_ + n, capacity_ * 2 + 64));
    std::byte* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void append(const void* src, std::size_t n) {
    if (n) std::memcpy(extend(n), src, n);
  }
  void resize(std::size_t n) {
    reserve(n);
    size_ = n;
  }
  void clear() noexcept { size_ = 0; }

 private:
  using Storage = std::unique_ptr<std::byte[], detail::ReleaseBytes>;
  static Storage allocate(std::size_t n) {
    return Storage(n ? detail::allocate_bytes(n) : nullptr, detail::ReleaseBytes{n, nullptr});
  }
  Storage data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

using SharedBuffer = std::shared_ptr<const Buffer>;

}  // namespace manta
