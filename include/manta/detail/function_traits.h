// Compile-time facts about a callable's signature.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace manta::detail {

template <class F>
struct function_traits;

template <class R, class... A>
struct function_traits<R (*)(A...)> {
  using result = R;
  using params = std::tuple<A...>;
  static constexpr std::size_t arity = sizeof...(A);
};
template <class R, class... A>
struct function_traits<R (*)(A...) noexcept> : function_traits<R (*)(A...)> {};
template <class R, class... A>
struct function_traits<R(A...)> : function_traits<R (*)(A...)> {};
template <class R, class... A>
struct function_traits<R(A...) noexcept> : function_traits<R (*)(A...)> {};

template <class F, std::size_t I>
using param_t = std::tuple_element_t<I, typename function_traits<F>::params>;

}  // namespace manta::detail
