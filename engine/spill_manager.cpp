#include "engine/spill_manager.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <vector>

#include "engine/log.h"
#include "spill/io_thread.h"
#include "spill/spill_directory.h"
#include "spill/spill_file.h"
#include "spill/stale_spill.h"

namespace manta::engine {

// What file work needs, shared with the deleters of spill slots, which may run after the
// manager stopped (they then do nothing: the file is closed).
struct SpillManager::Core {
  SpillSettings settings;
  spill::SpillDirectory directory;
  std::unique_ptr<spill::SpillFile> file;  // made by the first spill; I/O thread only
  spill::SpillReader reader;               // I/O thread only
  std::atomic<bool> queued{false};
  mutable std::mutex mutex;  // guards the fields below
  bool stopped = false;
  bool broken = false;  // a write failed: spilling stops, puts then fail with the reason
  std::string error;
  SpillStats stats;
  // File space of freed objects, given back a few pieces per I/O job: freeing thousands of
  // spilled objects at once must not hold up a spill that a put is waiting for.
  std::vector<spill::Extent> to_release;  // guarded by `mutex`
  bool release_posted = false;            // a release_some job is queued; guarded by `mutex`
  spill::IoThread io;  // last, so it stops (finishing its jobs) before the file closes

  Core(SpillSettings s) : settings(std::move(s)), directory(settings.root, settings.job) {}

  /// Queues file work unless the manager stopped.
  bool post(std::function<void()> job) {
    std::lock_guard lock(mutex);
    if (stopped) return false;
    io.post(std::move(job));
    return true;
  }

  /// A spill slot's deleter: its piece of the file is free once the I/O thread gets to it.
  void release_later(const spill::Extent& extent) {
    std::lock_guard lock(mutex);
    if (stopped) return;  // the file closes (and is removed) anyway
    to_release.push_back(extent);
    if (release_posted) return;
    release_posted = true;
    io.post([this] { release_some(); });
  }

  /// I/O thread: gives back a few pieces, then queues itself again behind the work posted since.
  void release_some() {
    constexpr std::size_t kPerJob = 8;
    std::vector<spill::Extent> now;
    {
      std::lock_guard lock(mutex);
      // Once stopping, the thread drains what is left: all of it now.
      const std::size_t n = stopped ? to_release.size() : std::min(kPerJob, to_release.size());
      now.assign(to_release.end() - static_cast<std::ptrdiff_t>(n), to_release.end());
      to_release.resize(to_release.size() - n);
    }
    for (const spill::Extent& extent : now) {
      try {
        if (file) file->release(extent);
      } catch (const std::exception& err) {
        log().error("giving back spill file space failed: {}", err.what());
      }
    }
    std::lock_guard lock(mutex);
    stats.pieces_released += now.size();
    if (to_release.empty() || stopped) {
      release_posted = false;
      return;
    }
    io.post([this] { release_some(); });
  }
};

namespace {

/// Refuses a write that the file system or the file-size limit cannot take, before HDF5 starts
/// it: a write that fails halfway leaves a file HDF5 can no longer close cleanly.
void check_room(const std::string& path, std::uint64_t bytes) {
  const std::uint64_t need = bytes + bytes / 8 + (std::uint64_t{1} << 20);  // chunks, metadata
  const std::string dir = path.substr(0, path.rfind('/'));
  struct statvfs fs {};
  if (statvfs(dir.c_str(), &fs) == 0) {
    const std::uint64_t free_bytes = std::uint64_t{fs.f_bavail} * fs.f_frsize;
    if (free_bytes < need) {
      throw spill::SpillError(
          fmt::format("no space left to write {} more bytes to {}: {} bytes free in {}; free "
                      "space there or point --manta-spill-dir at another file system",
                      bytes, path, free_bytes, dir));
    }
  }
  struct rlimit limit {};
  struct stat st {};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      ::stat(path.c_str(), &st) == 0 &&
      static_cast<std::uint64_t>(st.st_size) + need > limit.rlim_cur) {
    throw spill::SpillError(fmt::format(
        "writing {} more bytes to {} would pass the file-size limit of {} bytes (ulimit -f); "
        "raise the limit (it applies to every file this process writes)",
        bytes, path, static_cast<std::uint64_t>(limit.rlim_cur)));
  }
}

}  // namespace

SpillManager::SpillManager(SpillSettings settings, ObjectStore& store)
    : core_(std::make_shared<Core>(std::move(settings))), store_(store) {
  // A file-size limit (ulimit -f, set by some batch systems) would kill the rank in the middle of
  // a spill; ignored, it shows as a write error that names the file.
  struct sigaction old {};
  if (sigaction(SIGXFSZ, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    std::signal(SIGXFSZ, SIG_IGN);
  }
  // A full file system is known now: say so at init rather than at the first spill.
  const std::uint64_t free_bytes = core_->directory.free_bytes();
  if (free_bytes < core_->settings.min_free) {
    const std::string path = core_->directory.path();
    core_->directory.remove();
    throw spill::SpillError(fmt::format(
        "the spill directory {} has {} bytes free, less than {} needed; free space there or "
        "pass --manta-spill-dir (or MANTA_SPILL_DIR) a directory with room",
        path, free_bytes, core_->settings.min_free));
  }
  // What jobs here that ended without cleaning up (a rank killed) left behind goes now.
  const std::string root = std::filesystem::path(core_->directory.path()).parent_path().string();
  for (const auto& stale : spill::find_stale_spill_directories(root, /*remove=*/true)) {
    if (stale.removed) {
      log().info("removed {} ({} bytes), left by a job that ended: {}", stale.path, stale.bytes,
                 stale.why);
    }
  }
}

SpillManager::~SpillManager() { stop(); }

void SpillManager::run_file_work(std::function<void()> job) { core_->io.post(std::move(job)); }

std::string SpillManager::file_path() const {
  return core_->directory.file_for_rank(core_->settings.rank);
}
const std::string& SpillManager::directory() const { return core_->directory.path(); }

SpillStats SpillManager::stats() const {
  std::lock_guard lock(core_->mutex);
  SpillStats s = core_->stats;
  s.releases_waiting = core_->to_release.size();
  return s;
}

std::string SpillManager::last_error() const {
  std::lock_guard lock(core_->mutex);
  return core_->error;
}

void SpillManager::kick() {
  if (core_->queued.exchange(true)) return;
  if (!core_->post([this] { spill_pass(); })) core_->queued = false;
}

std::vector<ObjectStore::SpillHandle> SpillManager::write_batch(
    const std::vector<ObjectStore::SpillItem>& items) {
  Core& c = *core_;
  std::vector<spill::Piece> pieces;
  pieces.reserve(items.size());
  std::uint64_t total = 0;
  for (const auto& item : items) {
    const std::uint64_t hi =
        (std::uint64_t{static_cast<std::uint32_t>(item.id.owner)} << 32) | item.id.index;
    pieces.push_back({hi, item.id.seq, item.bytes->data(), item.bytes->size()});
    total += item.bytes->size();
  }
  std::vector<ObjectStore::SpillHandle> slots(items.size());
  const auto start = std::chrono::steady_clock::now();
  try {
    if (!c.file) {
      spill::SpillOptions options;
      options.compression = c.settings.compression;
      c.file = spill::SpillFile::create(file_path(), options);
    }
    check_room(c.file->path(), total);
    const std::vector<spill::Extent> extents = c.file->write(pieces);
    std::weak_ptr<Core> weak = core_;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const spill::Extent e = extents[i];
      // The file space is given back once neither the entry nor a reader needs it.
      slots[i] =
          ObjectStore::SpillHandle(new ObjectStore::SpillSlot{e.offset, e.size, e.check},
                                   [weak](const ObjectStore::SpillSlot* s) {
                                     const spill::Extent extent{s->offset, s->size, s->check};
                                     delete s;
                                     if (auto core = weak.lock()) core->release_later(extent);
                                   });
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::lock_guard lock(c.mutex);
    c.stats.bytes_spilled += total;
    c.stats.spill_seconds += seconds;
    c.stats.file_bytes = c.file->stats().file_bytes;
    c.stats.has_file = true;
  } catch (const std::exception& e) {
    log().error("spilling {} objects ({} bytes) failed: {}", items.size(), total, e.what());
    std::lock_guard lock(c.mutex);
    c.broken = true;
    c.error = e.what();
  }
  return slots;
}

void SpillManager::spill_pass() {
  Core& c = *core_;
  c.queued = false;
  for (;;) {
    bool broken = false;
    {
      std::lock_guard lock(c.mutex);
      if (c.stopped) return;
      broken = c.broken;
    }
    const std::uint64_t need = store_.spill_needed();
    if (need == 0) return;
    if (broken) {
      // Nothing more can be written; objects that are in the file already can still go, but
      // only for room someone asks for: above the high-water mark alone, a restored object
      // would leave again before its reader saw it.
      if (const std::uint64_t shortfall = store_.room_shortfall(); shortfall > 0) {
        store_.take_spill_batch(shortfall, 0, /*written_only=*/true);
        store_.serve_reservations();
      }
      return;
    }
    std::vector<ObjectStore::SpillItem> items = store_.take_spill_batch(need, c.settings.batch);
    store_.serve_reservations();  // objects written before left memory at once
    if (items.empty()) return;
    std::vector<ObjectStore::SpillHandle> slots = write_batch(items);
    std::vector<ObjectId> ids;
    ids.reserve(items.size());
    for (const auto& item : items) ids.push_back(item.id);
    items.clear();  // the store's bytes are the only holders again, unless someone read them
    { auto dropped = store_.spilled(ids, slots); }
    store_.serve_reservations();
  }
}

std::string SpillManager::lost_message(const ObjectId& id, const std::string& why) {
  return fmt::format("{} could not be restored from the spill file: {}", id.to_string(), why);
}

void SpillManager::restore(const ObjectId& id) {
  ObjectStore::SpillHandle slot = store_.start_restore(id);
  if (!slot) return;  // not spilled, or its restore is under way
  const std::uint64_t size = slot->size;
  std::shared_ptr<Core> core = core_;
  ObjectStore* store = &store_;
  auto read = [core, store, id, slot, size] {
    const bool queued = core->post([core, store, id, slot, size] {
      auto bytes = std::make_shared<Buffer>(size);
      const auto start = std::chrono::steady_clock::now();
      try {
        if (!core->file) throw spill::SpillError("this rank has no spill file");
        core->file->read({slot->offset, slot->size, slot->check}, bytes->data());
      } catch (const std::exception& e) {
        store->unreserve(size);
        store->restore_failed(id, std::make_shared<const ErrorInfo>(
                                      ErrorInfo{ErrorKind::object_lost, core->settings.rank, "", "",
                                                lost_message(id, e.what())}));
        return;
      }
      {
        std::lock_guard lock(core->mutex);
        core->stats.bytes_restored += size;
        core->stats.restore_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      store->restored(id, std::move(bytes), size);
    });
    if (!queued) store->unreserve(size);
  };
  auto give_up = [core, store, id, size] {
    // No room could be made (e.g. the disk is full and memory holds objects that cannot be
    // written): the object stays on disk and its readers read it past the store.
    ErrorInfo info = core->settings.full_error
                         ? core->settings.full_error(size)
                         : ErrorInfo{ErrorKind::store_full, core->settings.rank, "", "",
                                     "no room to restore " + id.to_string()};
    store->restore_gave_up(id, std::make_shared<const ErrorInfo>(std::move(info)));
  };
  bool broken = false;
  {
    std::lock_guard lock(core->mutex);
    broken = core->broken;
  }
  if (!broken) {
    store_.reserve_async(size, read, core->settings.room_timeout, give_up);
    return;
  }
  // Spilling has stopped, so waiting would make room only if pins went away.
  constexpr auto now = std::chrono::steady_clock::duration::zero();
  ObjectStore::Room room = store_.reserve(size, now);
  if (!room.ok) {
    store_.take_spill_batch(size, 0, /*written_only=*/true);
    room = store_.reserve(size, now);
  }
  if (room.ok) {
    read();
  } else {
    give_up();
  }
}

void SpillManager::read_spilled(const ObjectId& id, ObjectStore::SpillHandle slot,
                                SpilledDone done) {
  std::shared_ptr<Core> core = core_;
  auto job = [core, id, slot, done] {
    const auto start = std::chrono::steady_clock::now();
    std::shared_ptr<Buffer> bytes;
    try {
      bytes = std::make_shared<Buffer>(slot->size);
    } catch (const std::bad_alloc&) {
      done(nullptr, fmt::format("no memory for its {} bytes outside the store", slot->size), false);
      return;
    }
    try {
      if (!core->file) throw spill::SpillError("this rank has no spill file");
      core->file->read({slot->offset, slot->size, slot->check}, bytes->data());
    } catch (const std::exception& e) {
      done(nullptr, lost_message(id, e.what()), true);
      return;
    }
    {
      std::lock_guard lock(core->mutex);
      core->stats.bytes_restored += slot->size;
      core->stats.restore_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    done(std::move(bytes), "", false);
  };
  if (!core_->post(job)) done(nullptr, "the runtime is shutting down", false);
}

void SpillManager::read_file(const std::string& path, std::uint64_t offset, std::uint64_t size,
                             std::uint64_t check, ReadDone done) {
  std::shared_ptr<Core> core = core_;
  auto job = [core, path, offset, size, check, done] {
    auto bytes = std::make_shared<Buffer>(size);
    try {
      core->reader.read(path, {offset, size, check}, bytes->data());
    } catch (const spill::UnreachableSpillError& e) {
      done(nullptr, e.what(), true);
      return;
    } catch (const std::exception& e) {
      done(nullptr, e.what(), false);
      return;
    }
    {
      std::lock_guard lock(core->mutex);
      core->stats.bytes_read_from_files += size;
    }
    done(std::move(bytes), "", false);
  };
  if (!core_->post(job)) done(nullptr, "the runtime is shutting down", false);
}

void SpillManager::stop() {
  {
    std::lock_guard lock(core_->mutex);
    if (core_->stopped) return;
    core_->stopped = true;
  }
  core_->io.stop();  // runs what was queued; later posts are refused by Core::post
  core_->reader.close_all();
  core_->file.reset();
  if (core_->settings.keep) {
    log().warn("spill files kept in {}", core_->directory.path());
  } else {
    core_->directory.remove();
  }
}

}  // namespace manta::engine
