// Node-shared memory for large buffers. Once enabled, every large block that allocate_bytes hands
// out (the object store's objects, manta::Arrays, received transfers) lives in a file of its own
// under a tmpfs directory (/dev/shm), mapped shared, so that other ranks of the node can map it
// read-only and read the bytes in place. A segment is named by job, rank and process:
//   <prefix><pid>.<start ticks>.<seq>     e.g. manta-shm.job123.r2.4711.98765.17
// so a later job can tell the segments of a process that ended (killed, crashed) and remove them.
// Freed segments are kept for reuse like private large blocks; a segment's name is never reused,
// so a neighbour's cached mapping of a name always maps the same memory.
//
// The reading side (map_view) maps a neighbour's segment read-only once and caches the mapping;
// the views it returns are SharedBuffers that run a callback when their last reference goes (the
// holder's lease ends there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <manta/buffer.h>

namespace manta::transport {

struct SegmentSettings {
  std::string dir = "/dev/shm";  // a tmpfs every rank of the node sees
  std::string prefix;            // e.g. "manta-shm.<job>.r<rank>."; the pid part is added
  std::size_t min_bytes = std::size_t{4} << 20;  // smaller blocks stay in private memory
};

/// Large blocks allocated from now on live in shared segments. Throws std::runtime_error naming
/// the directory when it cannot be used (missing, not writable). A forked child makes private
/// blocks only and leaves the parent's segments (mapped in it too) to the parent.
void enable_shared_segments(const SegmentSettings& settings);
/// Removes the names of every segment this process made (blocks in use stay mapped until freed,
/// pooled ones are unmapped) and unmaps idle neighbour mappings; later large blocks are private.
/// Safe to call more than once and when never enabled.
void disable_shared_segments();
[[nodiscard]] bool shared_segments_enabled() noexcept;

/// Where a block lies: a segment's file name (under the directory), its size, and the offset of
/// the block's first byte in it.
struct SegmentPlace {
  std::string name;
  std::uint64_t segment_size = 0;
  std::uint64_t offset = 0;
};
/// The segment holding all of [data, data + size): one of this process's own, or a neighbour's
/// that this process mapped (so a view can be handed on). Nothing for private memory.
std::optional<SegmentPlace> find_segment(const void* data, std::size_t size);

/// Reader: a read-only view of `size` bytes at `place` in a neighbour's segment. The segment is
/// mapped on first use and the mapping cached. `on_release` runs once, on whatever thread drops
/// the view's last reference. Returns nullptr with `error` set when the segment cannot be opened
/// or is smaller than the place says (the holder then sends the bytes another way); `on_release`
/// is not called then.
SharedBuffer map_view(const SegmentPlace& place, std::uint64_t size,
                      std::function<void()> on_release, std::string* error);

struct SegmentStats {
  std::uint64_t own_segments = 0;     // segments this process made that exist now
  std::uint64_t own_bytes = 0;        // their size (in use and pooled)
  std::uint64_t mapped_segments = 0;  // neighbours' segments mapped here
  std::uint64_t mapped_bytes = 0;
  std::uint64_t views = 0;              // live views from map_view
  std::uint64_t view_bytes = 0;         // the bytes those views read
  std::uint64_t private_fallbacks = 0;  // large blocks that went to private memory: no room
};
SegmentStats segment_stats();

/// Space of the file system at `dir` (statvfs). Nothing when it cannot be read.
struct SpaceOf {
  std::uint64_t total = 0;
  std::uint64_t available = 0;
};
std::optional<SpaceOf> space_of(const std::string& dir);

/// A segment file of some process, read back from its name.
struct SegmentName {
  std::string file;  // the name under the directory
  long pid = 0;
  unsigned long long start_ticks = 0;
};
/// Segment files under `dir` whose names start with `prefix` ("manta-shm." for all jobs).
std::vector<SegmentName> list_segments(const std::string& dir, const std::string& prefix);
/// Removes those of `found` for which `ended` says their process is gone; returns the removed
/// files' names. Never throws.
std::vector<std::string> remove_segments_of_ended(
    const std::string& dir, const std::vector<SegmentName>& found,
    const std::function<bool(const SegmentName&)>& ended);

}  // namespace manta::transport
