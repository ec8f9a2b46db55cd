// Whole-job checkpoints: the state of every checkpointable actor, the objects the driver chose and
// the driver's own state, written in parallel to one HDF5 file and read back by a later job, on
// the same or another number of ranks.
//
//   struct Counter { std::map<std::string, long> counts;
//                    template <class A> void serialize(A& a, unsigned) { a & counts; } };
//   manta::on_checkpoint<Step>([&] { return Step{iteration}; });   // the driver's state
//   manta::keep_in_checkpoint("table", table_ref);                   // an object
//   manta::checkpoint("/scratch/run1");                              // or on the signal:
//   manta::checkpoint_point();   // between steps: checkpoints and ends the job if it is time
//
// Started again with --manta-restore=/scratch/run1, the job recreates the named actors (found with
// manta::get_actor), and manta::restored_state<Step>() and manta::restored_object<T>("table")
// give back the rest. An actor class is checkpointable when it has save/load or serialize and a
// default constructor (detail::Checkpointable); actors are checkpointed between calls.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/actor.h>
#include <manta/detail/runtime_api.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace manta {

/// The exit code of a job that took its checkpoint on the checkpoint signal and stopped
/// (EX_TEMPFAIL): batch scripts requeue or resubmit the job when they see it.
inline constexpr int kCheckpointExitCode = 75;

/// What a checkpoint wrote.
struct CheckpointInfo {
  std::string path;                  // DIR/checkpoint.h5
  std::vector<std::string> actors;   // names of the actors saved
  std::vector<std::string> skipped;  // live actors not saved, each with the reason
  std::vector<std::string> objects;  // names given to keep_in_checkpoint
  bool driver_state = false;         // on_checkpoint gave the driver's state
  std::uint64_t bytes = 0;           // all records together
  double seconds = 0;                // from the call to the file being in place
};

namespace detail {
/// Whether a type holds ObjectRefs or ActorHandles (directly or in standard containers): they
/// name objects and actors of the job that saved them, which a restored job does not have.
template <class T>
struct holds_ids : std::false_type {};
template <class T>
struct holds_ids<ObjectRef<T>> : std::true_type {};
template <class T>
struct holds_ids<ActorHandle<T>> : std::true_type {};
template <class T, class A>
struct holds_ids<std::vector<T, A>> : holds_ids<T> {};
template <class T, std::size_t N>
struct holds_ids<std::array<T, N>> : holds_ids<T> {};
template <class T>
struct holds_ids<std::optional<T>> : holds_ids<T> {};
template <class A, class B>
struct holds_ids<std::pair<A, B>> : std::disjunction<holds_ids<A>, holds_ids<B>> {};
template <class... T>
struct holds_ids<std::tuple<T...>> : std::disjunction<holds_ids<T>...> {};
template <class K, class V, class C, class A>
struct holds_ids<std::map<K, V, C, A>> : std::disjunction<holds_ids<K>, holds_ids<V>> {};
template <class K, class V, class H, class E, class A>
struct holds_ids<std::unordered_map<K, V, H, E, A>> : std::disjunction<holds_ids<K>, holds_ids<V>> {
};

CheckpointInfo take_checkpoint(const std::string& dir);
void keep_object(const std::string& name, std::shared_ptr<RefToken> ref, std::uint64_t tag,
                 std::string type_name);
void set_driver_state(std::function<void(Buffer& out)> save, std::uint64_t tag);
/// The driver state of the checkpoint this job started from (bytes and tag), if any.
std::optional<std::pair<SharedBuffer, std::uint64_t>> restored_driver_state();
/// The restored object `name`: its token and tag; throws std::out_of_range naming what exists.
std::pair<std::shared_ptr<RefToken>, std::uint64_t> restored_object(const std::string& name);
}  // namespace detail

/// Driver only: quiesces the actors (each between two calls), writes every checkpointable
/// actor's state, the objects given to keep_in_checkpoint and the driver's state (on_checkpoint)
/// to DIR/checkpoint.h5, every rank its own part at once, then lets the actors go on. The file
/// replaces an older one only once complete. Throws CheckpointError saying what failed (an
/// actor still busy after --manta-checkpoint-timeout, a save that threw, the disk).
inline CheckpointInfo checkpoint(const std::string& dir) { return detail::take_checkpoint(dir); }

/// Driver only: a point between steps where the driver's state and every actor's agree. Returns
/// false at once unless the checkpoint signal (--manta-checkpoint-signal) has come. When it has
/// and --manta-checkpoint-dir is set, it takes the checkpoint there, shuts Manta down and ends the
/// process with kCheckpointExitCode: it does not return. Without a directory it returns true and
/// the program saves what it needs itself.
bool checkpoint_point();

/// Driver only: `ref`'s object goes into every later checkpoint under `name` (a later call with
/// the same name replaces it; an empty ref stops keeping it). After --manta-restore,
/// restored_object<T>(name) gives it back. An object that holds ObjectRefs or ActorHandles is
/// refused when the compiler can see them (a standard container of them); inside a type of your
/// own it is your part not to keep one: a restored job has other objects and actors.
template <class T>
void keep_in_checkpoint(const std::string& name, const ObjectRef<T>& ref) {
  static_assert(!detail::holds_ids<T>::value,
                "keep_in_checkpoint: the object holds ObjectRefs or ActorHandles, which a restored "
                "job cannot resolve; keep the values they refer to (or actor names) instead");
  detail::keep_object(name, ref.token(), detail::type_tag<T>(), detail::type_name<T>());
}

/// Driver only: `state()` is called at every checkpoint, on the driver's thread, and what it
/// returns is saved as the driver's state. An empty function stops saving it.
template <class S>
void on_checkpoint(std::function<S()> state) {
  static_assert(!detail::holds_ids<S>::value,
                "on_checkpoint: the state holds ObjectRefs or ActorHandles, which a restored job "
                "cannot resolve; keep_in_checkpoint the objects and find actors by name instead");
  if (!state) {
    detail::set_driver_state({}, 0);
    return;
  }
  detail::set_driver_state(
      [state = std::move(state)](Buffer& out) { Codec<S>::encode(state(), out); },
      detail::type_tag<S>());
}

/// True when this job started from a checkpoint (--manta-restore).
bool restored() noexcept;
/// The checkpoint directory this job started from, or "".
std::string restored_from();

/// The driver's state saved by the checkpoint this job started from; nullopt when the job did
/// not start from one or it holds no driver state. Throws SerializationError if it is not an S.
template <class S>
std::optional<S> restored_state() {
  auto saved = detail::restored_driver_state();
  if (!saved) return std::nullopt;
  return decode_tagged<S>(saved->second, saved->first->data(), saved->first->size());
}

/// The object kept under `name` by the checkpoint this job started from. Throws
/// std::out_of_range when there is none (naming those there are) and SerializationError when it
/// is not a T.
template <class T>
ObjectRef<T> restored_object(const std::string& name) {
  auto [token, tag] = detail::restored_object(name);
  check_tag<T>(tag);
  return ObjectRef<T>(std::move(token));
}

}  // namespace manta
