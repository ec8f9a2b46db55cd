// put, get and wait: moving values in and out of the object store.
#pragma once

#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/detail/runtime_api.h>
#include <manta/detail/store_encode.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace manta {

using Timeout = detail::Timeout;

namespace detail {
/// Ray's timeouts are milliseconds as an int, negative meaning none.
inline Timeout timeout_of_ms(int timeout_ms) noexcept {
  if (timeout_ms < 0) return std::nullopt;
  return std::chrono::milliseconds(timeout_ms);
}
}  // namespace detail

/// Stores a value in this rank's object store; this rank owns it. A manta::Array is adopted
/// without a copy; ObjectRefs inside the value keep their objects alive while it lives. A value
/// larger than the whole store fails with ObjectStoreFullError before it is copied (or, for
/// types encoded through Boost, once its encoding passes the store's size).
template <class T>
ObjectRef<std::decay_t<T>> put(T&& value) {
  using V = std::decay_t<T>;
  if constexpr (SharesBuffer<V>) {
    if (SharedBuffer shared = Codec<V>::share(value)) {
      return ObjectRef<V>(detail::put_object(std::move(shared), detail::type_tag<V>(), {}));
    }
  }
  auto bytes = std::make_shared<Buffer>();
  std::vector<std::shared_ptr<detail::RefToken>> contained;
  {
    detail::RefCapture capture(contained);
    detail::encode_for_store(value, *bytes, "put");
  }
  return ObjectRef<V>(
      detail::put_object(std::move(bytes), detail::type_tag<V>(), std::move(contained)));
}

/// Waits for the value (fetching it from another rank if needed). Throws the task's error,
/// or GetTimeoutError when `timeout` passes first. All threads of a rank share one decoded copy.
template <class T>
std::shared_ptr<const T> get(const ObjectRef<T>& ref, Timeout timeout = std::nullopt) {
  detail::StoredValue v = detail::get_object(ref.id(), timeout);
  const std::uint64_t tag = detail::type_tag<T>();
  if (v.decoded && v.decoded_tag == tag) return std::static_pointer_cast<const T>(v.decoded);
  check_tag<T>(v.tag);
  // Types that can view the store's memory (manta::Array) do so; others decode once per rank.
  auto value =
      std::make_shared<const T>(decode_from<T>(&v.bytes, v.bytes->data(), v.bytes->size()));
  detail::cache_decoded(ref.id(), tag, value, ViewsBuffer<T>);
  return value;
}

/// Waits for a task that returns nothing; throws its error.
inline void get(const ObjectRef<void>& ref, Timeout timeout = std::nullopt) {
  (void)detail::get_object(ref.id(), timeout);
}

/// Gets several values; the timeout bounds the whole call.
template <class T>
std::vector<std::shared_ptr<const T>> get(const std::vector<ObjectRef<T>>& refs,
                                          Timeout timeout = std::nullopt) {
  const auto deadline =
      timeout ? std::optional(std::chrono::steady_clock::now() + *timeout) : std::nullopt;
  std::vector<std::shared_ptr<const T>> out;
  out.reserve(refs.size());
  for (const auto& r : refs) {
    Timeout left;
    if (deadline)
      left = std::max(std::chrono::nanoseconds(0), *deadline - std::chrono::steady_clock::now());
    out.push_back(get(r, left));
  }
  return out;
}

/// get with a timeout in milliseconds (negative: none), as Ray's C++ API takes it.
template <class T>
auto get(const ObjectRef<T>& ref, int timeout_ms) {
  return get(ref, detail::timeout_of_ms(timeout_ms));
}
template <class T>
auto get(const std::vector<ObjectRef<T>>& refs, int timeout_ms) {
  return get(refs, detail::timeout_of_ms(timeout_ms));
}

template <class T>
auto ObjectRef<T>::get(std::optional<std::chrono::nanoseconds> timeout) const {
  return manta::get(*this, timeout);
}
template <class T>
auto ObjectRef<T>::get(int timeout_ms) const {
  return manta::get(*this, detail::timeout_of_ms(timeout_ms));
}

template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;
  std::vector<ObjectRef<T>> unready;
};

/// Returns once `num_returns` of `refs` are finished (value or error) or `timeout` passes.
/// As in Ray, `ready` holds at most `num_returns` refs; the rest are in `unready`. Order within
/// each list follows `refs`.
template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns,
                   Timeout timeout = std::nullopt) {
  std::vector<ObjectId> ids;
  ids.reserve(refs.size());
  for (const auto& r : refs) ids.push_back(r.id());
  std::vector<bool> ready = detail::wait_objects(ids, num_returns, timeout);
  WaitResult<T> result;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    (ready[i] && result.ready.size() < num_returns ? result.ready : result.unready)
        .push_back(refs[i]);
  }
  return result;
}

/// wait with a timeout in milliseconds (negative: none), as Ray's C++ API takes it.
template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns, int timeout_ms) {
  return wait(refs, num_returns, detail::timeout_of_ms(timeout_ms));
}

}  // namespace manta
