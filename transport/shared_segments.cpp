#include "transport/shared_segments.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "transport/segment_blocks.h"

namespace manta::transport {
namespace {

// Idle neighbour mappings stay cached for later views (a fresh mapping costs a page fault per
// page read), but no more than this many, nor this many bytes of address space and page tables.
constexpr std::size_t kMaxMappings = 64;
constexpr std::uint64_t kMaxMappedBytes = std::uint64_t{4} << 30;

/// A neighbour's segment mapped read-only here.
struct Mapping {
  std::string name;
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::uint64_t views = 0;  // live views: never unmapped while any
  std::uint64_t last_used = 0;
};

/// A mapped address range: one of this process's segments, or a neighbour's mapped here.
struct Region {
  std::size_t size = 0;
  std::string name;
  std::string path;  // own: the file, removed when the block is destroyed or on disable
  bool own = false;
  bool unlinked = false;  // own: the name is gone (disabled), so it is never handed out again
  long pid = 0;           // own: its maker; a forked child neither reuses, names nor removes it
};

using Unmaps = std::vector<std::pair<void*, std::size_t>>;

struct State {
  std::atomic<bool> enabled{false};
  std::atomic<std::size_t> min_bytes{std::numeric_limits<std::size_t>::max()};
  std::atomic<std::size_t> floor{std::numeric_limits<std::size_t>::max()};
  std::atomic<std::uint64_t> fallbacks{0};
  std::atomic<long> owner{-1};  // the process that enabled: a forked child makes no segments

  std::mutex mutex;  // guards the rest
  SegmentSettings settings;
  bool closed = false;           // disabled: idle mappings are unmapped at once
  std::uint64_t generation = 0;  // bumped by disable: a segment made across it loses its name
  std::uint64_t seq = 0;         // never reused, so a name always means the same memory
  long tag_pid = -1;             // whose "<pid>.<start ticks>." tag is cached (fork changes it)
  std::string tag;
  std::map<std::uintptr_t, Region> regions;                            // by first byte
  std::unordered_map<std::string, std::unique_ptr<Mapping>> mappings;  // by segment name
  std::uint64_t clock = 0;
  std::uint64_t own_segments = 0, own_bytes = 0, mapped_bytes = 0, views = 0, view_bytes = 0;
};
State& state() {
  static State* s = new State;  // never destroyed: buffers may be freed by static destructors
  return *s;
}

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

long this_pid() noexcept { return static_cast<long>(::getpid()); }

/// An own segment whose name this process may hand out, reuse and remove. After fork, the
/// parent's segments are mapped in the child too, but the memory and the name stay the parent's.
bool named_here(const Region& r) noexcept { return !r.unlinked && r.pid == this_pid(); }

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

/// Field 22 of /proc/self/stat, the process's start time in clock ticks: with the pid it names
/// this process even after the pid is reused. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last ')'.
unsigned long long start_ticks() {
  std::FILE* f = std::fopen("/proc/self/stat", "re");
  if (!f) return 0;
  char text[1024];
  const std::size_t n = std::fread(text, 1, sizeof text - 1, f);
  std::fclose(f);
  text[n] = '\0';
  const char* c = std::strrchr(text, ')');
  if (!c) return 0;
  for (int field = 2; *c; ++c) {
    if (*c == ' ' && ++field == 22) return std::strtoull(c + 1, nullptr, 10);
  }
  return 0;
}

const std::string& process_tag(State& s) {
  const long pid = this_pid();
  if (s.tag_pid != pid) {
    s.tag_pid = pid;
    s.tag = std::to_string(pid) + "." + std::to_string(start_ticks()) + ".";
  }
  return s.tag;
}

/// Creates, sizes and maps one segment file; null (and no file left) when it cannot. The pages
/// are allocated here (posix_fallocate), so a full tmpfs says so now rather than with SIGBUS at
/// the block's first write; the hook runs before that, so a NUMA policy it sets places them.
void* make_segment(const std::string& path, std::size_t size, void (*hook)(void*, std::size_t)) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  void* p = MAP_FAILED;
  if (::ftruncate(fd, static_cast<off_t>(size)) == 0) {
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (p != MAP_FAILED) {
    ::madvise(p, size, MADV_HUGEPAGE);  // advice only: ignored where tmpfs huge pages are off
    if (hook) hook(p, size);
    if (::posix_fallocate(fd, 0, static_cast<off_t>(size)) != 0) {
      ::munmap(p, size);
      p = MAP_FAILED;
    }
  }
  ::close(fd);
  if (p != MAP_FAILED) return p;
  ::unlink(path.c_str());
  return nullptr;
}

/// Drops idle neighbour mappings, least recently used first, while more than `max_count`
/// mappings or `max_bytes` are mapped. The caller unmaps what it gets after letting go of the
/// lock.
void trim_idle(State& s, std::size_t max_count, std::uint64_t max_bytes, Unmaps& unmaps) {
  while (s.mappings.size() > max_count || s.mapped_bytes > max_bytes) {
    auto oldest = s.mappings.end();
    for (auto it = s.mappings.begin(); it != s.mappings.end(); ++it) {
      if (it->second->views == 0 &&
          (oldest == s.mappings.end() || it->second->last_used < oldest->second->last_used)) {
        oldest = it;
      }
    }
    if (oldest == s.mappings.end()) return;
    const Mapping& m = *oldest->second;
    unmaps.emplace_back(m.base, m.size);
    s.mapped_bytes -= m.size;
    s.regions.erase(address(m.base));
    s.mappings.erase(oldest);
  }
}

void unmap_all(const Unmaps& unmaps) noexcept {
  for (const auto& [p, n] : unmaps) ::munmap(p, n);
}

/// The deleter of a view's keep-alive: the mapping's view count drops, then the holder's
/// callback runs, outside the lock.
struct ViewEnd {
  Mapping* mapping;
  std::uint64_t bytes;
  std::function<void()> on_release;
  void operator()(const void*) const {
    State& s = state();
    Unmaps unmaps;
    {
      std::lock_guard lock(s.mutex);
      --mapping->views;
      --s.views;
      s.view_bytes -= bytes;
      mapping->last_used = ++s.clock;
      if (s.closed) {
        trim_idle(s, 0, 0, unmaps);
      } else {
        trim_idle(s, kMaxMappings, kMaxMappedBytes, unmaps);
      }
    }
    unmap_all(unmaps);
    if (on_release) on_release();
  }
};

/// A neighbour's segment mapped read-only, with one view counted; null with `error` set.
Mapping* map_segment(State& s, const std::string& path, const std::string& name, std::uint64_t end,
                     std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "shared segments: cannot open " + path + ": " + errno_text(errno);
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < end || st.st_size == 0) {
    error = "shared segments: " + path + " holds " + std::to_string(st.st_size) +
            " bytes, fewer than the " + std::to_string(end) +
            " the view needs (the file is not the segment the holder described)";
    ::close(fd);
    return nullptr;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  // Not populated: a view costs the same whatever the segment's size, and the reader's first
  // touch of each page maps it (the mapping is cached, so a later view of the segment, such as
  // its next object from the holder's pool, faults nothing).
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    error = "shared segments: cannot map " + path + ": " + errno_text(map_errno);
    return nullptr;
  }
  Unmaps unmaps;
  Mapping* m = nullptr;
  {
    std::lock_guard lock(s.mutex);
    auto& slot = s.mappings[name];
    if (slot) {
      unmaps.emplace_back(base, size);  // another thread mapped it meanwhile: use theirs
    } else {
      slot = std::make_unique<Mapping>(Mapping{name, static_cast<std::byte*>(base), size, 0, 0});
      s.regions[address(base)] = Region{size, name, std::string(), false, false, 0};
      s.mapped_bytes += size;
    }
    m = slot.get();
    ++m->views;
    ++s.views;
    m->last_used = ++s.clock;
    trim_idle(s, kMaxMappings, kMaxMappedBytes, unmaps);
  }
  unmap_all(unmaps);
  return m;
}

}  // namespace

namespace segment_blocks {

bool wanted(std::size_t n) noexcept {
  const State& s = state();
  return s.enabled.load(std::memory_order_acquire) &&
         n >= s.min_bytes.load(std::memory_order_relaxed) &&
         s.owner.load(std::memory_order_relaxed) == this_pid();
}

std::size_t floor() noexcept { return state().floor.load(std::memory_order_acquire); }

void* create(std::size_t size, void (*hook)(void*, std::size_t)) {
  State& s = state();
  std::string name;
  std::string path;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(s.mutex);
    if (!s.enabled.load(std::memory_order_relaxed)) return nullptr;
    generation = s.generation;
    name = s.settings.prefix + process_tag(s) + std::to_string(s.seq++);
    path = s.settings.dir + "/" + name;
  }
  void* p = make_segment(path, size, hook);
  if (!p) {
    s.fallbacks.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  bool stale = false;
  {
    std::lock_guard lock(s.mutex);
    stale = generation != s.generation;
    s.regions[address(p)] = Region{size, name, path, true, stale, this_pid()};
    if (!stale) {
      ++s.own_segments;
      s.own_bytes += size;
    }
  }
  // Disabled while it was made: its name must not outlive the disable, the memory may.
  if (stale) ::unlink(path.c_str());
  return p;
}

Kind kind_of(const void* p) noexcept {
  State& s = state();
  std::lock_guard lock(s.mutex);
  const auto it = s.regions.find(address(p));
  if (it == s.regions.end() || !it->second.own) return Kind::none;
  return named_here(it->second) ? Kind::live : Kind::unlinked;
}

void destroy(void* p) noexcept {
  State& s = state();
  Region region;
  bool named = false;
  {
    std::lock_guard lock(s.mutex);
    const auto it = s.regions.find(address(p));
    if (it == s.regions.end() || !it->second.own) return;
    named = named_here(it->second);
    region = std::move(it->second);
    s.regions.erase(it);
    if (!region.unlinked) {
      --s.own_segments;
      s.own_bytes -= region.size;
    }
  }
  if (named) ::unlink(region.path.c_str());
  ::munmap(p, region.size);
}

}  // namespace segment_blocks

void enable_shared_segments(const SegmentSettings& settings) {
  struct stat st {};
  const char* dir = settings.dir.c_str();
  std::string why;
  if (settings.dir.empty()) {
    why = "no directory given";
  } else if (::stat(dir, &st) != 0) {
    why = errno_text(errno);
  } else if (!S_ISDIR(st.st_mode)) {
    why = "not a directory";
  } else if (::access(dir, W_OK | X_OK) != 0) {
    why = errno_text(errno);
  }
  if (!why.empty()) {
    throw std::runtime_error("shared segments: cannot create files in '" + settings.dir + "' (" +
                             why +
                             "); give a writable directory on a tmpfs every rank of the node "
                             "sees, such as /dev/shm");
  }
  if (settings.prefix.find('/') != std::string::npos) {
    throw std::runtime_error("shared segments: the prefix '" + settings.prefix +
                             "' holds a '/'; it must be the start of a file name");
  }
  State& s = state();
  const std::size_t min_bytes = std::max<std::size_t>(settings.min_bytes, 1);
  std::lock_guard lock(s.mutex);
  s.settings = settings;
  s.closed = false;
  s.min_bytes.store(min_bytes, std::memory_order_relaxed);
  s.owner.store(this_pid(), std::memory_order_relaxed);
  if (min_bytes < s.floor.load(std::memory_order_relaxed)) {
    s.floor.store(min_bytes, std::memory_order_release);
  }
  s.enabled.store(true, std::memory_order_release);
}

void disable_shared_segments() {
  State& s = state();
  std::vector<std::string> paths;
  Unmaps unmaps;
  {
    std::lock_guard lock(s.mutex);
    s.enabled.store(false, std::memory_order_release);
    s.closed = true;
    ++s.generation;
    for (auto& [at, region] : s.regions) {
      if (!region.own || region.unlinked) continue;
      if (named_here(region)) paths.push_back(region.path);
      region.unlinked = true;
      --s.own_segments;
      s.own_bytes -= region.size;
    }
    trim_idle(s, 0, 0, unmaps);
  }
  for (const std::string& path : paths) ::unlink(path.c_str());
  unmap_all(unmaps);
  // After the names are marked gone, so a block freed concurrently is either in the pool here or
  // destroyed by its release (release_bytes reads the mark under the pool's lock).
  for (void* p : detail::take_pooled_segments()) segment_blocks::destroy(p);
}

bool shared_segments_enabled() noexcept {
  const State& s = state();
  return s.enabled.load(std::memory_order_acquire) &&
         s.owner.load(std::memory_order_relaxed) == this_pid();
}

std::optional<SegmentPlace> find_segment(const void* data, std::size_t size) {
  State& s = state();
  const std::uintptr_t at = address(data);
  std::lock_guard lock(s.mutex);
  auto it = s.regions.upper_bound(at);
  if (it == s.regions.begin()) return std::nullopt;
  --it;
  const Region& region = it->second;
  const std::uintptr_t offset = at - it->first;
  if ((region.own && !named_here(region)) || offset >= region.size || size > region.size - offset) {
    return std::nullopt;
  }
  return SegmentPlace{region.name, region.size, offset};
}

SharedBuffer map_view(const SegmentPlace& place, std::uint64_t size,
                      std::function<void()> on_release, std::string* error) {
  std::string message;
  const std::uint64_t end = place.offset + size;
  if (place.name.empty() || place.name == "." || place.name == ".." ||
      place.name.find('/') != std::string::npos) {
    message = "shared segments: '" + place.name + "' is not a segment's file name";
  } else if (end < place.offset) {
    message = "shared segments: a view of " + std::to_string(size) + " bytes at offset " +
              std::to_string(place.offset) + " lies past any file";
  }
  State& s = state();
  Mapping* m = nullptr;
  std::string path;
  if (message.empty()) {
    std::lock_guard lock(s.mutex);
    path = s.settings.dir + "/" + place.name;
    if (auto it = s.mappings.find(place.name); it != s.mappings.end()) {
      if (it->second->size < end) {
        message = "shared segments: " + path + " is mapped with " +
                  std::to_string(it->second->size) + " bytes, fewer than the " +
                  std::to_string(end) + " the view needs";
      } else {
        m = it->second.get();
        ++m->views;
        ++s.views;
        m->last_used = ++s.clock;
      }
    }
  }
  if (!m && message.empty()) m = map_segment(s, path, place.name, end, message);
  if (!m) {
    if (error) *error = std::move(message);
    return nullptr;
  }
  // From here the deleter owns the view count and the callback: it runs exactly once, even when
  // making the view throws.
  {
    std::lock_guard lock(s.mutex);
    s.view_bytes += size;
  }
  std::shared_ptr<const void> keep(m->base, ViewEnd{m, size, std::move(on_release)});
  return Buffer::view_of(m->base + place.offset, static_cast<std::size_t>(size), std::move(keep));
}

SegmentStats segment_stats() {
  State& s = state();
  SegmentStats stats;
  std::lock_guard lock(s.mutex);
  stats.own_segments = s.own_segments;
  stats.own_bytes = s.own_bytes;
  stats.mapped_segments = s.mappings.size();
  stats.mapped_bytes = s.mapped_bytes;
  stats.views = s.views;
  stats.view_bytes = s.view_bytes;
  stats.private_fallbacks = s.fallbacks.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace manta::transport
