// How values become bytes and back. Trivially copyable values, strings and contiguous vectors of
// trivially copyable elements travel as raw memory; everything else goes through
// Boost.Serialization (a type needs `template <class A> void serialize(A&, unsigned)`), with
// Manta's archives (detail/archive.h): inside such a value too, vectors and arrays of trivially
// copyable elements are one block of memory. The standard vocabulary types (containers, tuple,
// pair, variant, optional, shared_ptr and unique_ptr of a value...) need no include of their own:
// detail/std_types.h.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <manta/buffer.h>
#include <manta/detail/archive.h>
#include <manta/detail/std_types.h>
#include <manta/errors.h>

namespace manta {

namespace detail {

/// Demangled C++ name of a type, for messages.
std::string demangle(const char* mangled_name);

/// Records tag -> type name so that a mismatch can name the type that was found.
void remember_type_name(std::uint64_t tag, const char* mangled_name);
std::string type_name_of_tag(std::uint64_t tag);

[[noreturn]] void throw_serialization_error(std::string message);

constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

/// A stable tag per type. All ranks run the same binary (checked at init), so the mangled name
/// identifies the type on every rank.
template <class T>
std::uint64_t type_tag() {
  static const std::uint64_t tag = [] {
    const char* name = typeid(T).name();
    std::uint64_t h = fnv1a(name);
    remember_type_name(h, name);
    return h;
  }();
  return tag;
}

template <class T>
std::string type_name() {
  return demangle(typeid(T).name());
}

template <class T>
struct is_raw_vector : std::false_type {};
template <class T, class A>
struct is_raw_vector<std::vector<T, A>>
    : std::bool_constant<std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                         !std::is_same_v<T, bool>> {};

/// Thrown by an encoding that passed the EncodeLimit of its thread. Not a std::exception, so a
/// serialize function that catches those does not swallow it.
struct EncodedTooLarge {
  std::uint64_t at_least = 0;  // bytes the value takes at least
};

inline thread_local std::uint64_t t_encode_limit = 0;  // 0: none

/// While alive, an encoding through Boost on this thread stops with EncodedTooLarge once its
/// buffer would hold more than `limit` bytes (0: no limit): a value bound for the object store
/// is not built in full when the store could never hold it.
class EncodeLimit {
 public:
  explicit EncodeLimit(std::uint64_t limit) noexcept : previous_(t_encode_limit) {
    t_encode_limit = limit;
  }
  ~EncodeLimit() { t_encode_limit = previous_; }
  EncodeLimit(const EncodeLimit&) = delete;
  EncodeLimit& operator=(const EncodeLimit&) = delete;

 private:
  std::uint64_t previous_;
};

/// std::streambuf that appends to a Buffer, so Boost archives write without a std::string copy.
class BufferWriteStream : public std::streambuf {
 public:
  explicit BufferWriteStream(Buffer& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    check(static_cast<std::size_t>(n));
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      check(1);
      char ch = static_cast<char>(c);
      out_.append(&ch, 1);
    }
    return c;
  }
  void check(std::size_t n) const {
    if (t_encode_limit != 0 && out_.size() + n > t_encode_limit) {
      throw EncodedTooLarge{out_.size() + n};
    }
  }

 private:
  Buffer& out_;
};

/// std::streambuf over bytes that are only read.
class ByteReadStream : public std::streambuf {
 public:
  ByteReadStream(const std::byte* data, std::size_t size) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(data));
    setg(p, p, p + size);
  }
};

constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

}  // namespace detail

/// Encodes and decodes one type. Specialise for custom wire formats; the default picks raw
/// memory where that is exact and Boost.Serialization otherwise.
template <class T, class Enable = void>
struct Codec {
  static std::size_t encoded_size(const T&) requires detail::is_raw_v<T> { return sizeof(T); }
  static void encode(const T& value, Buffer& out) {
    if constexpr (detail::is_raw_v<T>) {
      out.append(&value, sizeof(T));
    } else {
      detail::BufferWriteStream stream(out);
      detail::OutArchive archive(stream, detail::archive_flags);
      archive << value;
    }
  }
  static T decode(const std::byte* data, std::size_t size) {
    if constexpr (detail::is_raw_v<T>) {
      static_assert(std::is_default_constructible_v<T> || std::is_trivially_copyable_v<T>);
      if (size != sizeof(T)) {
        detail::throw_serialization_error("expected " + std::to_string(sizeof(T)) + " bytes for " +
                                          detail::type_name<T>() + ", got " + std::to_string(size));
      }
      alignas(T) unsigned char storage[sizeof(T)];
      std::memcpy(storage, data, sizeof(T));
      return *std::launder(reinterpret_cast<T*>(storage));
    } else {
      static_assert(std::is_default_constructible_v<T>,
                    "types sent through Boost.Serialization need a default constructor");
      T value{};
      try {
        detail::ByteReadStream stream(data, size);
        detail::InArchive archive(stream, detail::archive_flags);
        archive >> value;
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        detail::throw_serialization_error("cannot decode " + detail::type_name<T>() + " from " +
                                          std::to_string(size) + " bytes: " + e.what());
      }
      return value;
    }
  }
};

/// Contiguous vectors of plain values: one memcpy each way.
template <class T>
struct Codec<T, std::enable_if_t<detail::is_raw_vector<T>::value>> {
  using E = typename T::value_type;
  static std::size_t encoded_size(const T& value) { return value.size() * sizeof(E); }
  static void encode(const T& value, Buffer& out) {
    out.append(value.data(), value.size() * sizeof(E));
  }
  static T decode(const std::byte* data, std::size_t size) {
    if (size % sizeof(E) != 0) {
      detail::throw_serialization_error(std::to_string(size) + " bytes is not a whole number of " +
                                        detail::type_name<E>() + " elements");
    }
    const std::size_t n = size / sizeof(E);
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(E) == 0) {
      // One pass: copy-construct from the bytes instead of zero-filling and then copying.
      const E* first = reinterpret_cast<const E*>(data);
      return T(first, first + n);
    }
    T value(n);
    if (size) std::memcpy(value.data(), data, size);
    return value;
  }
};

template <>
struct Codec<std::string> {
  static std::size_t encoded_size(const std::string& value) { return value.size(); }
  static void encode(const std::string& value, Buffer& out) {
    out.append(value.data(), value.size());
  }
  static std::string decode(const std::byte* data, std::size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
  }
};

/// Zero-copy hooks a Codec may offer (manta::Array does). `share(value)` returns the buffer that
/// holds exactly the value's encoded bytes, or nullptr, so put and task results adopt it instead
/// of copying; `view(buffer, data, size)` builds a value that reads [data, data + size) inside
/// `buffer` and keeps it alive, so get and task arguments decode without copying.
template <class T>
concept SharesBuffer = requires(const T& value) {
  { Codec<T>::share(value) } -> std::same_as<SharedBuffer>;
};
template <class T>
concept ViewsBuffer = requires(const SharedBuffer& b, const std::byte* data, std::size_t size) {
  { Codec<T>::view(b, data, size) } -> std::same_as<T>;
};

/// Codecs that know a value's encoded size before encoding it (raw values, vectors of them,
/// strings, manta::Array): put and submissions check it against the store before copying.
template <class T>
concept KnowsEncodedSize = requires(const T& value) {
  { Codec<T>::encoded_size(value) } -> std::convertible_to<std::size_t>;
};

/// Decodes bytes that live inside `owner`: a view where the type allows one, else a copy.
template <class T>
T decode_from(const SharedBuffer* owner, const std::byte* data, std::size_t size) {
  if constexpr (ViewsBuffer<T>) {
    if (owner) return Codec<T>::view(*owner, data, size);
  }
  return Codec<T>::decode(data, size);
}

/// Convenience: a whole value into a fresh buffer.
template <class T>
Buffer encode_value(const T& value) {
  Buffer out;
  Codec<T>::encode(value, out);
  return out;
}

/// Fails with SerializationError when `tag` is not T's.
template <class T>
void check_tag(std::uint64_t tag) {
  if (tag != detail::type_tag<T>()) {
    detail::throw_serialization_error("type mismatch: expected " + detail::type_name<T>() +
                                      ", the bytes hold " + detail::type_name_of_tag(tag));
  }
}

/// Decodes bytes that carry `tag`, failing with SerializationError when the tag is not T's.
template <class T>
T decode_tagged(std::uint64_t tag, const std::byte* data, std::size_t size) {
  check_tag<T>(tag);
  return Codec<T>::decode(data, size);
}

}  // namespace manta
