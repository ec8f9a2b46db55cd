// The archives Manta encodes values with: Boost's binary archive, except that an array whose
// elements are plain memory (the elements of a std::vector, std::array, C array, std::valarray or
// manta::Array) is written and read as one block of bytes instead of element by element,
// wherever it sits in the value.
//
// Plain memory is exact because every rank runs the same binary (checked at init): the bytes of a
// trivially copyable value mean the same thing on every rank. Such an element's own `serialize`
// is therefore not called, so one that writes only some members, or anything other than its
// memory, is bypassed inside arrays; and array elements are not tracked, so a pointer elsewhere
// in the value to such an element is written as a copy, not as a reference to it.
//
// Header-only: Boost's member definitions of its binary archive templates (impl/*.ipp) are
// included here, so these archives are instantiated where they are used and need no library of
// their own (libboost_serialization holds only the archive-independent parts).
#pragma once

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive_impl.hpp>
#include <boost/archive/detail/archive_serializer_map.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>
#include <boost/archive/impl/basic_binary_oarchive.ipp>
#include <boost/archive/impl/basic_binary_oprimitive.ipp>
#include <boost/mpl/bool.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/is_bitwise_serializable.hpp>
#include <streambuf>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace manta {

template <class T>
class ObjectRef;

namespace detail {

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {};

/// Raw memory is enough for this type: no pointers inside, same binary on every rank.
template <class T>
inline constexpr bool is_raw_v = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                                 !std::is_member_pointer_v<T> && !is_object_ref<T>::value;

/// Elements that the archives copy as memory: raw types, those Boost already copies so
/// (arithmetic types, types marked BOOST_IS_BITWISE_SERIALIZABLE), and pairs and tuples of
/// them. A pair or tuple is not trivially copyable (its assignment is user-provided) but it is
/// its members and nothing else, which Boost relies on for pairs too.
template <class T>
struct is_bitwise
    : std::bool_constant<is_raw_v<T> || boost::serialization::is_bitwise_serializable<T>::value> {};
template <class A, class B>
struct is_bitwise<std::pair<A, B>>
    : std::bool_constant<is_bitwise<A>::value && is_bitwise<B>::value> {};
template <class... T>
struct is_bitwise<std::tuple<T...>> : std::bool_constant<(is_bitwise<T>::value && ...)> {};

template <class T>
inline constexpr bool is_bitwise_v = is_bitwise<std::remove_cv_t<T>>::value;

/// Writes values in Boost's binary format, arrays of bitwise elements as one block.
class BOOST_SYMBOL_VISIBLE OutArchive
    : public boost::archive::binary_oarchive_impl<OutArchive, char, std::char_traits<char>> {
  using Base = boost::archive::binary_oarchive_impl<OutArchive, char, std::char_traits<char>>;

 public:
  OutArchive(std::streambuf& out, unsigned flags) : Base(out, flags) { init(flags); }

  /// Asked by Boost's serialisation of arrays, vectors and valarrays: true takes save_array,
  /// one save_binary of the whole array.
  struct use_array_optimization {
    template <class T>
    struct apply : boost::mpl::bool_<is_bitwise_v<T>> {};
  };
};

/// Reads what OutArchive wrote. Reading past the end of the bytes throws
/// boost::archive::archive_exception (input_stream_error).
class BOOST_SYMBOL_VISIBLE InArchive
    : public boost::archive::binary_iarchive_impl<InArchive, char, std::char_traits<char>> {
  using Base = boost::archive::binary_iarchive_impl<InArchive, char, std::char_traits<char>>;

 public:
  InArchive(std::streambuf& in, unsigned flags) : Base(in, flags) { init(flags); }

  struct use_array_optimization {
    template <class T>
    struct apply : boost::mpl::bool_<is_bitwise_v<T>> {};
  };
};

}  // namespace detail
}  // namespace manta

// Types exported with BOOST_CLASS_EXPORT (reached through a pointer to a base class) get
// serializers for these archives too, where the export follows the include of this header; and
// Boost's array serialisation asks the archives' use_array_optimization.
BOOST_SERIALIZATION_REGISTER_ARCHIVE(manta::detail::OutArchive)
BOOST_SERIALIZATION_REGISTER_ARCHIVE(manta::detail::InArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(manta::detail::OutArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(manta::detail::InArchive)
