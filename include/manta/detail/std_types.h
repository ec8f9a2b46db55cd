// Serialisation of the standard vocabulary types through Manta's archives (detail/archive.h), so
// that a value made of them travels without its user including any Boost header.
//
// Boost 1.74 serialises the containers (its headers are included here) but has nothing for
// std::tuple, std::variant, std::monostate or std::optional (its optional.hpp is boost::optional),
// and its std::shared_ptr / std::unique_ptr support serialises pointers with object tracking,
// which fails to compile for untracked types (int, std::string, std::vector...). Those are written
// below, for Manta's two archives only: a non-template archive parameter makes these overloads
// more specialised than any generic one Boost has or may add (std_variant.hpp, shared_ptr.hpp), so
// the two never collide and Manta's archives always use these.
//
// Formats: a tuple is its elements in order; a variant is its index (uint32) then the alternative;
// an optional, shared_ptr or unique_ptr is a presence byte (0 or 1) then the value. A pointer to
// a polymorphic type keeps Boost's pointer serialisation (its derived types need
// BOOST_CLASS_EXPORT): sent as a value it would be sliced.
#pragma once

#include <boost/serialization/array.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>  // boost::optional (std::optional is below)
#include <boost/serialization/set.hpp>
#include <boost/serialization/shared_ptr.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unique_ptr.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include <manta/detail/archive.h>

namespace manta::detail::std_types {

/// A presence byte: anything but 0 or 1 means the bytes are damaged (a bool read from them could
/// hold neither value).
inline bool load_presence(InArchive& ar) {
  std::uint8_t flag = 0;
  ar >> flag;
  if (flag > 1) {
    throw std::invalid_argument("damaged presence flag " + std::to_string(flag) +
                                " (expected 0 or 1)");
  }
  return flag == 1;
}

inline void save_presence(OutArchive& ar, bool present) {
  const std::uint8_t flag = present ? 1 : 0;
  ar << flag;
}

/// Pointers to polymorphic types keep Boost's own serialisation (the dynamic type, through
/// BOOST_CLASS_EXPORT); the others are sent as the value they own.
template <class T>
inline constexpr bool owned_value_v = !std::is_polymorphic_v<T> && !std::is_array_v<T>;

/// A heap value loaded in place, so that Boost never sees the address of a temporary.
template <class T>
T* load_new(InArchive& ar, std::unique_ptr<T>& out) {
  static_assert(std::is_default_constructible_v<T>,
                "a pointer's value is default-constructed, then loaded");
  out = std::make_unique<T>();
  ar >> *out;
  return out.get();
}

template <class... T, std::size_t... I>
void load_alternative(InArchive& ar, std::variant<T...>& v, std::size_t index,
                      std::index_sequence<I...>) {
  // Emplacing first and loading into the variant's own storage needs no move of the value.
  const auto load_if = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
    if (index != J) return false;
    ar >> v.template emplace<J>();
    return true;
  };
  (load_if(std::integral_constant<std::size_t, I>{}) || ...);
}

}  // namespace manta::detail::std_types

namespace boost::serialization {

// std::tuple: its elements in order.
template <class... T>
void serialize(manta::detail::OutArchive& ar, std::tuple<T...>& t, unsigned) {
  std::apply([&](const auto&... x) { ((ar << x), ...); }, t);
}
template <class... T>
void serialize(manta::detail::InArchive& ar, std::tuple<T...>& t, unsigned) {
  std::apply([&](auto&... x) { ((ar >> x), ...); }, t);
}

// std::monostate: nothing to write.
inline void serialize(manta::detail::OutArchive&, std::monostate&, unsigned) {}
inline void serialize(manta::detail::InArchive&, std::monostate&, unsigned) {}

// std::variant: the index, then the alternative it holds. An index the variant does not have is
// damaged bytes and fails the decode (Codec::decode makes it a SerializationError).
template <class... T>
void serialize(manta::detail::OutArchive& ar, std::variant<T...>& v, unsigned) {
  if (v.valueless_by_exception()) {
    throw std::invalid_argument("cannot encode a variant that is valueless by exception");
  }
  const auto index = static_cast<std::uint32_t>(v.index());
  ar << index;
  std::visit([&](const auto& x) { ar << x; }, v);
}
template <class... T>
void serialize(manta::detail::InArchive& ar, std::variant<T...>& v, unsigned) {
  static_assert((std::is_default_constructible_v<T> && ...),
                "a variant's alternative is default-constructed, then loaded");
  std::uint32_t index = 0;
  ar >> index;
  if (index >= sizeof...(T)) {
    throw std::out_of_range("variant index " + std::to_string(index) +
                            " is out of range: " + std::to_string(sizeof...(T)) + " alternatives");
  }
  manta::detail::std_types::load_alternative(ar, v, index, std::index_sequence_for<T...>{});
}

// std::optional: a presence byte, then the value.
template <class T>
void serialize(manta::detail::OutArchive& ar, std::optional<T>& o, unsigned) {
  manta::detail::std_types::save_presence(ar, o.has_value());
  if (o) ar << static_cast<const T&>(*o);
}
template <class T>
void serialize(manta::detail::InArchive& ar, std::optional<T>& o, unsigned) {
  static_assert(std::is_default_constructible_v<T>,
                "an optional's value is default-constructed, then loaded");
  if (manta::detail::std_types::load_presence(ar)) {
    ar >> o.emplace();
  } else {
    o.reset();
  }
}

// std::shared_ptr and std::unique_ptr of a non-polymorphic type: a presence byte, then the value
// they own; null stays null. Values, not pointers: nothing is tracked, so two shared_ptrs to one
// object (or a cycle of them) arrive as separate objects, and a shared_ptr<const T> arrives
// owning a new T.
template <class T>
requires manta::detail::std_types::owned_value_v<T>
void serialize(manta::detail::OutArchive& ar, std::shared_ptr<T>& p, unsigned) {
  manta::detail::std_types::save_presence(ar, p != nullptr);
  if (p) ar << static_cast<const T&>(*p);
}
template <class T>
requires manta::detail::std_types::owned_value_v<T>
void serialize(manta::detail::InArchive& ar, std::shared_ptr<T>& p, unsigned) {
  std::unique_ptr<std::remove_cv_t<T>> value;
  if (manta::detail::std_types::load_presence(ar)) {
    manta::detail::std_types::load_new(ar, value);
  }
  p = std::move(value);
}
template <class T>
requires manta::detail::std_types::owned_value_v<T>
void serialize(manta::detail::OutArchive& ar, std::unique_ptr<T>& p, unsigned) {
  manta::detail::std_types::save_presence(ar, p != nullptr);
  if (p) ar << static_cast<const T&>(*p);
}
template <class T>
requires manta::detail::std_types::owned_value_v<T>
void serialize(manta::detail::InArchive& ar, std::unique_ptr<T>& p, unsigned) {
  std::unique_ptr<std::remove_cv_t<T>> value;
  if (manta::detail::std_types::load_presence(ar)) {
    manta::detail::std_types::load_new(ar, value);
  }
  p = std::move(value);
}

}  // namespace boost::serialization
