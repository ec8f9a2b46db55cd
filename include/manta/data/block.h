// A dataset's unit of data and work: a block of rows in the object store. Plain rows (trivially
// copyable) are stored as their memory, so a block read on the rank that holds it is a view;
// other rows are stored in their Boost encoding. Each block travels with its metadata (rows,
// bytes), so the driver plans and counts without reading data.
#pragma once

#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/buffer.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace manta::data {

/// Rows stored as their memory: trivially copyable, not pointers, not bool.
template <class T>
inline constexpr bool is_plain_row =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_same_v<T, bool>;

/// The bytes of one block, sharing the buffer they live in (a store view, or the buffer a task
/// encoded into), so that put and a same-rank get copy nothing.
class BlockBytes {
 public:
  BlockBytes() = default;
  explicit BlockBytes(Buffer&& bytes) {
    auto owner = std::make_shared<const Buffer>(std::move(bytes));
    data_ = owner->data();
    size_ = owner->size();
    owner_ = std::move(owner);
  }
  BlockBytes(SharedBuffer owner, const std::byte* data, std::size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  [[nodiscard]] const std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const SharedBuffer& owner() const noexcept { return owner_; }

 private:
  SharedBuffer owner_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

using BlockRef = ObjectRef<BlockBytes>;

/// A block and what the driver knows of it.
struct BlockMeta {
  BlockRef block;
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
  std::int32_t rank = -1;  // where it was made

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& block& rows& bytes& rank;
  }
};

/// What one task of an operator reports: its output blocks and what it cost.
struct TaskOutput {
  std::vector<BlockMeta> blocks;
  std::uint64_t rows_in = 0;
  double wall_s = 0;
  double cpu_s = 0;
  std::int32_t rank = -1;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& blocks& rows_in& wall_s& cpu_s& rank;
  }
};

/// Rows in memory whatever their type: a span over memory something keeps alive (a block view,
/// or a vector the rows were made into). Transforms pass Rows along a fused chain.
class Rows {
 public:
  Rows() = default;

  template <class T>
  static Rows of(std::vector<T> rows) {
    static_assert(!std::is_same_v<T, bool>, "rows of bool: use std::uint8_t or char");
    auto owned = std::make_shared<std::vector<T>>(std::move(rows));
    Rows r;
    r.data_ = owned->data();
    r.size_ = owned->size();
    r.tag_ = manta::detail::type_tag<T>();
    r.hold_ = std::move(owned);
    return r;
  }
  template <class T>
  static Rows view(std::shared_ptr<const void> hold, const T* data, std::size_t n) {
    Rows r;
    r.hold_ = std::move(hold);
    r.data_ = data;
    r.size_ = n;
    r.tag_ = manta::detail::type_tag<T>();
    return r;
  }

  /// The rows as T; a type other than the one they hold is a bug in the plan and throws.
  template <class T>
  [[nodiscard]] std::span<const T> as() const {
    if (size_ == 0) return {};
    if (tag_ != manta::detail::type_tag<T>()) throw_type_mismatch(manta::detail::type_name<T>());
    return {static_cast<const T*>(data_), size_};
  }
  /// Rows [first, first + n) sharing this memory.
  template <class T>
  [[nodiscard]] Rows slice(std::size_t first, std::size_t n) const {
    auto s = as<T>().subspan(first, n);
    return view<T>(hold_, s.data(), s.size());
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::uint64_t tag() const noexcept { return tag_; }

 private:
  [[noreturn]] void throw_type_mismatch(const std::string& wanted) const;

  std::shared_ptr<const void> hold_;
  const void* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t tag_ = 0;
};

namespace detail {

/// Encodes rows into block bytes: plain rows as their memory, others as a count and each row's
/// Boost encoding.
template <class T>
BlockBytes encode_rows(std::span<const T> rows) {
  Buffer out;
  if constexpr (is_plain_row<T>) {
    out.append(rows.data(), rows.size_bytes());
  } else {
    manta::detail::BufferWriteStream stream(out);
    manta::detail::OutArchive archive(stream, manta::detail::archive_flags);
    const std::uint64_t n = rows.size();
    archive << n;
    for (const T& row : rows) archive << row;
  }
  return BlockBytes(std::move(out));
}

/// The rows of block bytes: a view for plain rows (a copy if the bytes are misaligned), decoded
/// for others.
template <class T>
Rows decode_rows(const BlockBytes& bytes) {
  if constexpr (is_plain_row<T>) {
    if (bytes.size() % sizeof(T) != 0) {
      manta::detail::throw_serialization_error("a block of " + std::to_string(bytes.size()) +
                                               " bytes is not a whole number of " +
                                               manta::detail::type_name<T>() + " rows");
    }
    const std::size_t n = bytes.size() / sizeof(T);
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) == 0) {
      return Rows::view<T>(bytes.owner(), reinterpret_cast<const T*>(bytes.data()), n);
    }
    std::vector<T> copy(n);
    if (n) std::memcpy(copy.data(), bytes.data(), bytes.size());
    return Rows::of(std::move(copy));
  } else {
    std::vector<T> rows;
    try {
      manta::detail::ByteReadStream stream(bytes.data(), bytes.size());
      manta::detail::InArchive archive(stream, manta::detail::archive_flags);
      std::uint64_t n = 0;
      archive >> n;
      rows.resize(n);
      for (T& row : rows) archive >> row;
    } catch (const std::exception& e) {
      manta::detail::throw_serialization_error(
          "cannot decode a block of " + manta::detail::type_name<T>() + " rows: " + e.what());
    }
    return Rows::of(std::move(rows));
  }
}

}  // namespace detail
}  // namespace manta::data

namespace manta {

/// Blocks move as raw bytes; put adopts their buffer and a same-rank get views the store's.
template <>
struct Codec<data::BlockBytes> {
  static std::size_t encoded_size(const data::BlockBytes& b) { return b.size(); }
  static void encode(const data::BlockBytes& b, Buffer& out) { out.append(b.data(), b.size()); }
  static data::BlockBytes decode(const std::byte* data, std::size_t size) {
    return data::BlockBytes(Buffer(data, size));
  }
  static SharedBuffer share(const data::BlockBytes& b) {
    if (!b.owner() || b.owner()->data() != b.data() || b.owner()->size() != b.size())
      return nullptr;
    return b.owner();
  }
  static data::BlockBytes view(const SharedBuffer& owner, const std::byte* data, std::size_t size) {
    if (!owner) return decode(data, size);
    return data::BlockBytes(owner, data, size);
  }
};

}  // namespace manta
