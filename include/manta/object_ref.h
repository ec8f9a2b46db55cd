// ObjectRef<T>: a future for an immutable value held in some rank's object store.
#pragma once

#include <boost/serialization/split_member.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <manta/buffer.h>
#include <manta/ids.h>
#include <manta/serialization.h>

namespace manta {
namespace detail {

/// One per object per rank while any ObjectRef to it lives there; its destruction tells the
/// runtime that this rank holds no more references (on the owner, the object is then freed).
class RefToken {
 public:
  explicit RefToken(ObjectId id) noexcept : id_(id) {}
  ~RefToken();
  RefToken(const RefToken&) = delete;
  RefToken& operator=(const RefToken&) = delete;
  [[nodiscard]] const ObjectId& id() const noexcept { return id_; }

 private:
  ObjectId id_;
};

/// The local token for `id`, made if this rank has none (a ref that arrived from another rank).
std::shared_ptr<RefToken> acquire_ref(const ObjectId& id);

/// While alive, collects the token of every ObjectRef encoded on this thread, so that a value
/// that carries references (a task argument, a put, a result) keeps their objects alive for as
/// long as the value itself lives. Nests: the innermost capture collects.
class RefCapture {
 public:
  explicit RefCapture(std::vector<std::shared_ptr<RefToken>>& into) noexcept
      : into_(&into), outer_(current()) {
    current() = this;
  }
  ~RefCapture() { current() = outer_; }
  RefCapture(const RefCapture&) = delete;
  RefCapture& operator=(const RefCapture&) = delete;

  static void note(const std::shared_ptr<RefToken>& token) {
    if (RefCapture* c = current(); c && token) c->into_->push_back(token);
  }

 private:
  static RefCapture*& current() noexcept {
    thread_local RefCapture* capture = nullptr;
    return capture;
  }
  std::vector<std::shared_ptr<RefToken>>* into_;
  RefCapture* outer_;
};

}  // namespace detail

template <class T>
class ObjectRef {
 public:
  using value_type = T;
  ObjectRef() = default;
  explicit ObjectRef(std::shared_ptr<detail::RefToken> token) noexcept : token_(std::move(token)) {}

  [[nodiscard]] bool valid() const noexcept { return token_ != nullptr; }
  [[nodiscard]] ObjectId id() const noexcept { return token_ ? token_->id() : ObjectId{}; }
  /// The rank that owns (tracks) this object.
  [[nodiscard]] int owner() const noexcept { return id().owner; }
  [[nodiscard]] const std::shared_ptr<detail::RefToken>& token() const noexcept { return token_; }

  /// The value, as manta::get(ref, timeout) returns it: waits for it, throws the task's error
  /// or GetTimeoutError. Defined in objects.h (<manta/manta.h> includes it), after manta::get.
  auto get(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) const;
  /// The same with a timeout in milliseconds, as Ray takes it; a negative one waits forever.
  auto get(int timeout_ms) const;

  friend bool operator==(const ObjectRef& a, const ObjectRef& b) noexcept {
    return a.id() == b.id();
  }

 private:
  friend class boost::serialization::access;
  template <class Archive>
  void save(Archive& ar, unsigned) const {
    detail::RefCapture::note(token_);
    ObjectId i = id();
    ar& i.owner& i.index& i.seq;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    ObjectId i;
    ar& i.owner& i.index& i.seq;
    token_ = i.valid() ? detail::acquire_ref(i) : nullptr;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

  std::shared_ptr<detail::RefToken> token_;
};

/// A reference travels as its id; the receiving rank gets (or makes) its local token.
template <class T>
struct Codec<ObjectRef<T>> {
  static void encode(const ObjectRef<T>& ref, Buffer& out) {
    detail::RefCapture::note(ref.token());
    ObjectId id = ref.id();
    out.append(&id, sizeof id);
  }
  static ObjectRef<T> decode(const std::byte* data, std::size_t size) {
    if (size != sizeof(ObjectId)) detail::throw_serialization_error("malformed ObjectRef bytes");
    ObjectId id;
    std::memcpy(&id, data, sizeof id);
    return id.valid() ? ObjectRef<T>(detail::acquire_ref(id)) : ObjectRef<T>();
  }
};

}  // namespace manta
