// Moves objects between a rank's store and its spill file: spills the least recently used
// unpinned objects when the store passes its high-water mark, restores them when they are read,
// and reads other ranks' spill files. All file work runs on one I/O thread (spill/io_thread.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/object_store.h"

namespace manta::engine {

struct SpillSettings {
  std::string root;  // --manta-spill-dir
  std::string job;   // the same on every rank
  int rank = 0;
  int compression = 0;
  std::uint64_t batch = std::uint64_t{8} << 20;
  bool keep = false;
  /// How long a restore waits for room before its waiters hear `full_error`.
  std::chrono::steady_clock::duration room_timeout = std::chrono::seconds(30);
  std::function<ErrorInfo(std::uint64_t requested)> full_error;
  /// Init fails when the spill file system has less free space than this.
  std::uint64_t min_free = std::uint64_t{16} << 20;
};

/// Throughput counters for memory_summary.
struct SpillStats {
  std::uint64_t bytes_spilled = 0;
  std::uint64_t bytes_restored = 0;
  std::uint64_t bytes_read_from_files = 0;
  double spill_seconds = 0;
  double restore_seconds = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t pieces_released = 0;   // file space of freed objects given back
  std::uint64_t releases_waiting = 0;  // freed objects whose file space waits for the I/O thread
  bool has_file = false;
};

class SpillManager {
 public:
  /// Creates the job's spill directory and this rank's file. Throws spill::SpillError naming
  /// the path when it cannot (e.g. the directory is not writable).
  SpillManager(SpillSettings settings, ObjectStore& store);
  ~SpillManager();
  SpillManager(const SpillManager&) = delete;
  SpillManager& operator=(const SpillManager&) = delete;

  /// The store is past its high-water mark: queue a spill pass (cheap; callable under the
  /// store's lock).
  void kick();
  /// Reads a spilled object of this rank back into memory (room is reserved first, so this may
  /// wait for other objects to spill). Waiters on the object wake when it is back, or failed:
  /// a damaged file region fails it with ObjectLostError naming the object, the file and the
  /// cause. Once spilling has stopped (the spill disk is full), it does not wait: objects
  /// already in the file leave memory to make room, and if that is not enough it gives up at
  /// once (the waiters then read it past the store with read_spilled).
  void restore(const ObjectId& id);
  /// `lost`: the file region is gone or damaged (`error` says how); otherwise memory ran out.
  using SpilledDone = std::function<void(SharedBuffer bytes, std::string error, bool lost)>;
  /// Reads a spilled object of this rank into a buffer of its own, not the store's: for a
  /// reader when the store cannot make room for it.
  void read_spilled(const ObjectId& id, ObjectStore::SpillHandle slot, SpilledDone done);
  /// The message of an ObjectLostError for an object this rank could not read back.
  static std::string lost_message(const ObjectId& id, const std::string& why);
  /// `unreachable`: the file could not be opened here (the rank that wrote it can still read
  /// it); otherwise a failure means the bytes are gone or damaged.
  using ReadDone = std::function<void(SharedBuffer bytes, std::string error, bool unreachable)>;
  /// Reads `size` bytes at `offset` of another rank's spill file (this rank reserved the room)
  /// and checks them against `check` (spill::Extent::check).
  void read_file(const std::string& path, std::uint64_t offset, std::uint64_t size,
                 std::uint64_t check, ReadDone done);

  /// Runs `job` on the I/O thread, after the file work queued before it: HDF5 is used from that
  /// one thread only (other modules' HDF5 work, a checkpoint say, goes through here too).
  void run_file_work(std::function<void()> job);

  /// This rank's spill file (it exists once something spilled).
  [[nodiscard]] std::string file_path() const;
  [[nodiscard]] const std::string& directory() const;
  [[nodiscard]] SpillStats stats() const;
  /// Why the last spill write failed, or empty.
  [[nodiscard]] std::string last_error() const;

  /// Finishes the queued file work, closes the file and removes the job's directory unless it
  /// is kept (--manta-keep-spill).
  void stop();

 private:
  struct Core;
  void spill_pass();
  /// Writes one batch to the spill file: the slots of the written objects (null ones when
  /// writing failed, which marks the manager broken).
  std::vector<ObjectStore::SpillHandle> write_batch(
      const std::vector<ObjectStore::SpillItem>& items);
  std::shared_ptr<Core> core_;
  ObjectStore& store_;
};

}  // namespace manta::engine
