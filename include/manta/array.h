// manta::Array<T>: contiguous numeric data that moves between the program and the object store
// without copies. put adopts the array's memory, get returns a view of the store's memory, and
// between ranks the elements move as raw bytes.
#pragma once

#include <algorithm>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/split_member.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <manta/buffer.h>
#include <manta/serialization.h>

namespace manta {

/// An array of plain values (numbers, or trivially copyable structs). Copies of an Array share
/// its elements; writing through the non-const accessors first makes the array's own copy if
/// anything else (another Array, the object store, a get view) shares them. So `put(a)` never
/// copies, and later writes to `a` never change the stored object.
template <class T>
class Array {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>,
                "manta::Array holds plain values (trivially copyable, not pointers)");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using const_iterator = const T*;
  using iterator = T*;

  Array() = default;
  /// `n` elements, value-initialised (zero for numbers).
  explicit Array(std::size_t n) : Array(n, T{}) {}
  Array(std::size_t n, const T& fill) : Array(uninitialized(n)) {
    std::fill(mutable_begin(), mutable_begin() + n, fill);
  }
  Array(std::initializer_list<T> values)
      : Array(std::span<const T>(values.begin(), values.size())) {}
  explicit Array(std::span<const T> values) : Array(uninitialized(values.size())) {
    if (!values.empty()) std::memcpy(mutable_begin(), values.data(), values.size_bytes());
  }
  explicit Array(const std::vector<T>& values) : Array(std::span<const T>(values)) {}

  /// `n` elements whose values are unspecified until written: for arrays about to be filled.
  static Array uninitialized(std::size_t n) {
    Array a;
    if (n == 0) return a;
    auto storage = std::make_shared<Buffer>(n * sizeof(T));
    a.data_ = reinterpret_cast<T*>(storage->data());
    a.storage_ = std::move(storage);
    a.size_ = n;
    a.owned_ = true;
    return a;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }

  [[nodiscard]] const T* data() const noexcept { return data_; }
  [[nodiscard]] const T* begin() const noexcept { return data_; }
  [[nodiscard]] const T* end() const noexcept { return data_ + size_; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  [[nodiscard]] std::span<const T> span() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  /// Writable access; copies the elements first if they are shared.
  [[nodiscard]] T* mutable_data() {
    detach();
    return data_;
  }
  [[nodiscard]] T* mutable_begin() { return mutable_data(); }
  [[nodiscard]] T* mutable_end() { return mutable_data() + size_; }
  [[nodiscard]] std::span<T> mutable_span() { return {mutable_data(), size_}; }
  T& operator[](std::size_t i) { return mutable_data()[i]; }

  /// True when the elements live in memory this Array shares (with the store, or a copy).
  [[nodiscard]] bool is_shared() const noexcept {
    return storage_ && (!owned_ || storage_.use_count() > 1);
  }

  friend bool operator==(const Array& a, const Array& b) noexcept {
    return a.size_ == b.size_ &&
           (a.data_ == b.data_ || std::memcmp(a.data_, b.data_, a.size_bytes()) == 0);
  }

 private:
  friend struct Codec<Array<T>>;
  friend class boost::serialization::access;

  void detach() {
    if (!storage_ || (owned_ && storage_.use_count() == 1)) return;
    Array copy(span());
    *this = std::move(copy);
  }

  // Inside another serialized type an Array is its length and then its elements.
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    std::uint64_t n = size_;
    ar& n;
    if (n) ar& boost::serialization::make_array(data_, size_);
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    std::uint64_t n = 0;
    ar& n;
    *this = uninitialized(n);
    if (n) ar& boost::serialization::make_array(mutable_data(), size_);
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

  std::shared_ptr<const Buffer> storage_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
  bool owned_ = false;  // storage_ was allocated by an Array (not a view of the store)
};

/// The elements travel as raw bytes; the store adopts an array's memory and gets view it.
template <class T>
struct Codec<Array<T>> {
  static std::size_t encoded_size(const Array<T>& a) { return a.size_bytes(); }
  static void encode(const Array<T>& a, Buffer& out) { out.append(a.data(), a.size_bytes()); }

  static Array<T> decode(const std::byte* data, std::size_t size) {
    check(size);
    Array<T> a = Array<T>::uninitialized(size / sizeof(T));
    if (size) std::memcpy(a.mutable_data(), data, size);
    return a;
  }

  static SharedBuffer share(const Array<T>& a) {
    if (!a.storage_ || a.storage_->data() != reinterpret_cast<const std::byte*>(a.data_) ||
        a.storage_->size() != a.size_bytes()) {
      return nullptr;
    }
    return a.storage_;
  }

  static Array<T> view(const SharedBuffer& owner, const std::byte* data, std::size_t size) {
    check(size);
    if (!owner || reinterpret_cast<std::uintptr_t>(data) % alignof(T) != 0) {
      return decode(data, size);  // misaligned inside a message: one copy, then aligned
    }
    Array<T> a;
    if (size == 0) return a;
    a.storage_ = owner;
    // Never written through: a view is not owned_, so writes copy first.
    a.data_ = const_cast<T*>(reinterpret_cast<const T*>(data));
    a.size_ = size / sizeof(T);
    return a;
  }

 private:
  static void check(std::size_t size) {
    if (size % sizeof(T) != 0) {
      detail::throw_serialization_error(std::to_string(size) + " bytes is not a whole number of " +
                                        detail::type_name<T>() + " elements");
    }
  }
};

}  // namespace manta
