// Little binary writer/reader for control messages. Ranks run the same binary on the same
// architecture, so fields travel in native byte order.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <manta/buffer.h>

namespace manta::transport {

class WireWriter {
 public:
  explicit WireWriter(Buffer& out) : out_(out) {}
  template <class T>
  WireWriter& put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(&v, sizeof v);
    return *this;
  }
  WireWriter& bytes(std::span<const std::byte> b) {
    put<std::uint64_t>(b.size());
    out_.append(b.data(), b.size());
    return *this;
  }
  WireWriter& str(std::string_view s) {
    return bytes({reinterpret_cast<const std::byte*>(s.data()), s.size()});
  }
  Buffer& buffer() noexcept { return out_; }

 private:
  Buffer& out_;
};

class WireReader {
 public:
  explicit WireReader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::span<const std::byte> bytes() {
    auto n = get<std::uint64_t>();
    need(n);
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::string str() {
    auto b = bytes();
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  /// Reads a count (a T) of items that each take at least `min_bytes` here. A count the rest of
  /// the message cannot hold is the truncation error, so a damaged count never sizes a buffer.
  template <class T>
  std::size_t count(std::size_t min_bytes) {
    const auto n = get<T>();
    if (n > (in_.size() - pos_) / min_bytes) {
      throw std::runtime_error("manta: truncated control message (it counts more than it holds)");
    }
    return static_cast<std::size_t>(n);
  }
  [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }

 private:
  void need(std::size_t n) const {
    if (n > in_.size() - pos_) throw std::runtime_error("manta: truncated control message");
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

}  // namespace manta::transport
