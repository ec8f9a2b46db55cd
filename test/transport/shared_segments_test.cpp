// Shared segments in one process, and in a forked child standing in for a neighbour rank: where
// large blocks live, views of them, reuse, disable, clean-up of ended processes, a full tmpfs.
#include "transport/shared_segments.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <manta/buffer.h>

namespace manta::transport {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Lines of /proc/self/maps that mention `text`.
std::vector<std::string> maps_lines(const std::string& text) {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> found;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(text) != std::string::npos) found.push_back(line);
  }
  return found;
}

/// The permissions ("r--s") of the mapping that holds `p`.
std::string perms_of(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::uintptr_t from = 0, to = 0;
    char dash = 0;
    std::string perms;
    in >> std::hex >> from >> dash >> to >> perms;
    if (at >= from && at < to) return perms;
  }
  return "";
}

void fill(Buffer& b, unsigned seed) {
  for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = std::byte((i * 131 + seed) & 0xff);
}
bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

class SharedSegments : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp ? tmp : "/tmp";
    std::string pattern = base + "/manta-segment-test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override {
    disable_shared_segments();
    // Every segment this test made or mapped is unmapped once its buffers are gone.
    EXPECT_TRUE(maps_lines(dir_).empty()) << maps_lines(dir_).front();
    for (const std::string& f : files_in(dir_)) ::unlink((dir_ + "/" + f).c_str());
    ::rmdir(dir_.c_str());
  }
  void enable(std::size_t min_bytes = 4 * kMiB) {
    enable_shared_segments(SegmentSettings{dir_, prefix_, min_bytes});
  }
  std::string dir_;
  std::string prefix_ = "manta-shm.test.r0.";
};

TEST_F(SharedSegments, LargeBufferLivesInANamedSegment) {
  enable();
  Buffer b(6 * kMiB);
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  EXPECT_EQ(place->offset, 0u);
  EXPECT_EQ(place->segment_size, 6 * kMiB);
  const std::string own = prefix_ + std::to_string(::getpid()) + ".";
  EXPECT_EQ(place->name.rfind(own, 0), 0u) << place->name;
  EXPECT_EQ(files_in(dir_), std::vector<std::string>{place->name});

  const auto listed = list_segments(dir_, prefix_);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].file, place->name);
  EXPECT_EQ(listed[0].pid, static_cast<long>(::getpid()));
  EXPECT_GT(listed[0].start_ticks, 0u);

  const auto inner = find_segment(b.data() + 100, 10);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->offset, 100u);
  EXPECT_FALSE(find_segment(b.data() + 100, 6 * kMiB).has_value());  // runs past its end

  const SegmentStats stats = segment_stats();
  EXPECT_EQ(stats.own_segments, 1u);
  EXPECT_EQ(stats.own_bytes, 6 * kMiB);
}

TEST_F(SharedSegments, AViewReadsTheSameBytesAndLaterWrites) {
  enable();
  Buffer b(8 * kMiB);
  fill(b, 7);
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  std::string error;
  SharedBuffer view = map_view(*place, b.size(), nullptr, &error);
  ASSERT_NE(view, nullptr) << error;
  EXPECT_NE(view->data(), b.data());
  EXPECT_TRUE(same(*view, b));
  b.data()[5] = std::byte{0x7f};
  b.data()[b.size() - 1] = std::byte{0x11};
  EXPECT_EQ(view->data()[5], std::byte{0x7f});
  EXPECT_EQ(view->data()[b.size() - 1], std::byte{0x11});
  EXPECT_EQ(perms_of(view->data()), "r--s");
  EXPECT_EQ(perms_of(b.data()), "rw-s");

  // A view can be handed on: its bytes are found in the same segment.
  const auto again = find_segment(view->data() + 8, 16);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->name, place->name);
  EXPECT_EQ(again->offset, 8u);
  EXPECT_EQ(segment_stats().mapped_segments, 1u);
  EXPECT_EQ(segment_stats().views, 1u);
}

TEST_F(SharedSegments, AnotherProcessReadsTheSegment) {
  enable();
  Buffer b(4 * kMiB);
  fill(b, 3);
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  int mapped[2], written[2];
  ASSERT_EQ(::pipe(mapped), 0);
  ASSERT_EQ(::pipe(written), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string error;
    SharedBuffer view = map_view(*place, b.size(), nullptr, &error);
    if (!view) ::_exit(2);
    if (!same(*view, b)) ::_exit(3);
    char c = 1;
    if (::write(mapped[1], &c, 1) != 1 || ::read(written[0], &c, 1) != 1) ::_exit(4);
    ::_exit(view->data()[42] == std::byte{0xab} ? 0 : 5);
  }
  char c = 0;
  ASSERT_EQ(::read(mapped[0], &c, 1), 1);
  b.data()[42] = std::byte{0xab};  // written after the child mapped it: it sees it in place
  ASSERT_EQ(::write(written[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  for (int fd : {mapped[0], mapped[1], written[0], written[1]}) ::close(fd);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no view, 3: other bytes, 4: pipe, 5: write unseen";
}

// A forked child has the parent's segments mapped, but they stay the parent's: the child makes
// private blocks, and freeing its copies or disabling removes none of the parent's files.
TEST_F(SharedSegments, AForkedChildLeavesTheParentsSegmentsAlone) {
  enable();
  Buffer b(4 * kMiB);
  { Buffer pooled(4 * kMiB); }
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  ASSERT_EQ(files_in(dir_).size(), 2u);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (shared_segments_enabled()) ::_exit(2);
    if (find_segment(b.data(), b.size())) ::_exit(3);
    Buffer mine(4 * kMiB);  // not the parent's pooled block
    if (find_segment(mine.data(), mine.size())) ::_exit(4);
    b = Buffer();
    disable_shared_segments();
    ::_exit(files_in(dir_).size() == 2 ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: enabled, 3: parent's block named, 4: segment made, 5: parent's file removed";
  EXPECT_EQ(files_in(dir_).size(), 2u);
  EXPECT_TRUE(find_segment(b.data(), b.size()).has_value());
}

TEST_F(SharedSegments, ReleaseRunsOnceWithTheLastCopyAndTheMappingIsReused) {
  enable();
  Buffer b(4 * kMiB);
  fill(b, 1);
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  int released = 0;
  std::string error;
  SharedBuffer first = map_view(
      *place, b.size(), [&] { ++released; }, &error);
  ASSERT_NE(first, nullptr) << error;
  const std::byte* at = first->data();
  SharedBuffer copy = first;
  first.reset();
  EXPECT_EQ(released, 0);
  copy.reset();
  EXPECT_EQ(released, 1);
  EXPECT_EQ(segment_stats().views, 0u);
  EXPECT_EQ(segment_stats().mapped_segments, 1u);  // idle, kept for the next view

  int released_second = 0;
  SharedBuffer second = map_view(
      {place->name, place->segment_size, 4096}, 100, [&] { ++released_second; }, &error);
  ASSERT_NE(second, nullptr) << error;
  EXPECT_EQ(second->data(), at + 4096);  // the cached mapping, its pages already in place
  EXPECT_EQ(second->size(), 100u);
  EXPECT_EQ(segment_stats().mapped_segments, 1u);
  std::thread([view = std::move(second)]() mutable { view.reset(); }).join();
  EXPECT_EQ(released_second, 1);
  EXPECT_EQ(released, 1);
}

TEST_F(SharedSegments, IdleMappingsBeyondTheCapAreUnmappedOldestFirst) {
  enable(1);
  // 65 segments of 2 MiB, each viewed once and let go: one more than the cache keeps idle.
  std::vector<Buffer> blocks;
  std::vector<std::string> names;
  for (int i = 0; i < 65; ++i) {
    blocks.emplace_back(4096);
    const auto place = find_segment(blocks.back().data(), 4096);
    ASSERT_TRUE(place.has_value());
    names.push_back(place->name);
    std::string error;
    ASSERT_NE(map_view(*place, 4096, nullptr, &error), nullptr) << error;
  }
  EXPECT_EQ(segment_stats().mapped_segments, 64u);
  const auto read_only = [&](const std::string& name) {  // its read-only mappings here
    const std::string path = dir_ + "/" + name;
    int n = 0;
    for (const std::string& line : maps_lines(path)) {
      n += line.find(" r--s ") != line.npos && line.ends_with(path);
    }
    return n;
  };
  EXPECT_EQ(read_only(names.front()), 0);  // the least recently used went first
  EXPECT_EQ(read_only(names.back()), 1);
}

TEST_F(SharedSegments, AFreedBlockIsReusedAndADroppedNameNeverComesBack) {
  {
    Buffer before(6 * kMiB);  // private, pooled when freed: not handed out for a segment request
  }
  enable();
  Buffer b(6 * kMiB);
  const std::byte* at = b.data();
  const auto place = find_segment(b.data(), b.size());
  ASSERT_TRUE(place.has_value());
  b = Buffer();
  EXPECT_EQ(files_in(dir_), std::vector<std::string>{place->name});  // pooled, name kept
  Buffer again(6 * kMiB);
  EXPECT_EQ(again.data(), at);
  const auto reused = find_segment(again.data(), again.size());
  ASSERT_TRUE(reused.has_value());
  EXPECT_EQ(reused->name, place->name);

  detail::set_buffer_pool_limit(0);  // freed blocks are dropped instead of pooled
  again = Buffer();
  detail::set_buffer_pool_limit(std::size_t{512} << 20);
  EXPECT_TRUE(files_in(dir_).empty());
  EXPECT_EQ(segment_stats().own_segments, 0u);
  Buffer fresh(6 * kMiB);
  const auto next = find_segment(fresh.data(), fresh.size());
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(next->name, place->name);
}

TEST_F(SharedSegments, DisableRemovesEveryFileAndBlocksInUseKeepWorking) {
  enable();
  Buffer used(4 * kMiB);
  fill(used, 9);
  { Buffer pooled(4 * kMiB); }
  const auto place = find_segment(used.data(), used.size());
  ASSERT_TRUE(place.has_value());
  std::string error;
  SharedBuffer view = map_view(*place, used.size(), nullptr, &error);
  ASSERT_NE(view, nullptr) << error;
  ASSERT_EQ(files_in(dir_).size(), 2u);

  disable_shared_segments();
  EXPECT_FALSE(shared_segments_enabled());
  EXPECT_TRUE(files_in(dir_).empty());
  EXPECT_EQ(segment_stats().own_segments, 0u);
  EXPECT_FALSE(find_segment(used.data(), used.size()).has_value());  // its name is gone
  used.data()[0] = std::byte{0x5a};
  EXPECT_EQ(view->data()[0], std::byte{0x5a});  // still mapped, still shared
  view.reset();
  EXPECT_EQ(segment_stats().mapped_segments, 0u);
  used = Buffer();
  Buffer later(4 * kMiB);
  EXPECT_FALSE(find_segment(later.data(), later.size()).has_value());
  EXPECT_TRUE(files_in(dir_).empty());
  disable_shared_segments();  // again: nothing to do
}

TEST_F(SharedSegments, SmallBlocksStayPrivate) {
  enable();
  Buffer small(kMiB);
  EXPECT_FALSE(find_segment(small.data(), small.size()).has_value());
  disable_shared_segments();

  enable(kMiB);
  Buffer below(kMiB - 1);
  EXPECT_FALSE(find_segment(below.data(), below.size()).has_value());
  Buffer above(kMiB + 1);  // under the private large-block size, still a segment
  const auto place = find_segment(above.data(), above.size());
  ASSERT_TRUE(place.has_value());
  EXPECT_EQ(place->segment_size, 2 * kMiB);
  const std::byte* at = above.data();
  above = Buffer();
  Buffer reused(kMiB + 1);
  EXPECT_EQ(reused.data(), at);
}

TEST_F(SharedSegments, AMissingOrShortFileGivesNoViewAndSaysWhich) {
  enable();
  bool released = false;
  std::string error;
  EXPECT_EQ(map_view(
                {"manta-shm.gone.1.2.3", 4096, 0}, 100, [&] { released = true; }, &error),
            nullptr);
  EXPECT_NE(error.find("manta-shm.gone.1.2.3"), std::string::npos) << error;
  EXPECT_FALSE(released);

  std::ofstream(dir_ + "/short") << std::string(100, 'x');
  error.clear();
  EXPECT_EQ(map_view({"short", 4096, 0}, 4096, nullptr, &error), nullptr);
  EXPECT_NE(error.find("short"), std::string::npos) << error;
  EXPECT_NE(error.find("100"), std::string::npos) << error;

  error.clear();
  EXPECT_EQ(map_view({"../etc", 4096, 0}, 1, nullptr, &error), nullptr);
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(segment_stats().views, 0u);
}

TEST_F(SharedSegments, EnableNamesADirectoryItCannotUse) {
  try {
    enable_shared_segments(SegmentSettings{dir_ + "/missing", prefix_, kMiB});
    ADD_FAILURE() << "enabled in a missing directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/missing"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(shared_segments_enabled());
}

TEST_F(SharedSegments, ListingParsesNamesAndRemovesOnlyEndedOnes) {
  for (const char* name : {"manta-shm.j1.r0.100.555.0", "manta-shm.j1.r1.200.666.3",
                           "manta-shm.j2.r0.100.555.1", "manta-shm.1.2.3", "manta-shm.bad.x.1",
                           "manta-shm.j1.r0.12a.5.6", "manta-shm.j1.7.8", "other.1.2.3"}) {
    std::ofstream(dir_ + "/" + name) << "x";
  }
  const auto all = list_segments(dir_, "manta-shm.");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].file, "manta-shm.1.2.3");
  EXPECT_EQ(all[0].pid, 1);
  EXPECT_EQ(all[0].start_ticks, 2u);
  EXPECT_EQ(all[1].file, "manta-shm.j1.r0.100.555.0");
  EXPECT_EQ(all[1].pid, 100);
  EXPECT_EQ(all[1].start_ticks, 555u);
  EXPECT_EQ(list_segments(dir_, "manta-shm.j1.").size(), 2u);

  const auto removed = remove_segments_of_ended(dir_, all, [](const SegmentName& n) {
    if (n.pid == 1) throw std::runtime_error("cannot tell");  // that one stays, others go on
    return n.pid == 100;
  });
  EXPECT_EQ(removed,
            (std::vector<std::string>{"manta-shm.j1.r0.100.555.0", "manta-shm.j2.r0.100.555.1"}));
  const auto left = list_segments(dir_, "manta-shm.");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].file, "manta-shm.1.2.3");
  EXPECT_EQ(left[1].file, "manta-shm.j1.r1.200.666.3");
  EXPECT_FALSE(space_of(dir_ + "/missing").has_value());
  const auto space = space_of(dir_);
  ASSERT_TRUE(space.has_value());
  EXPECT_GT(space->total, 0u);
  EXPECT_LE(space->available, space->total);
}

TEST_F(SharedSegments, ThreadsAllocateViewAndFreeTogether) {
  enable();
  std::atomic<int> failures{0};
  std::atomic<int> released{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Buffer b(4 * kMiB);
        b.data()[1000] = std::byte(t * 31 + i);
        const auto place = find_segment(b.data(), b.size());
        std::string error;
        SharedBuffer view = place ? map_view(
                                        *place, b.size(), [&] { ++released; }, &error)
                                  : nullptr;
        if (!view || view->data()[1000] != b.data()[1000]) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(released.load(), 100);
  EXPECT_EQ(segment_stats().views, 0u);
}

/// A tmpfs mounted for one test, unmounted however the test ends.
struct SmallTmpfs {
  std::string dir;
  bool mounted = false;
  ~SmallTmpfs() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    ::rmdir(dir.c_str());
  }
};

// A tmpfs with room for two 8 MiB blocks: the third cannot be a segment and is private instead,
// usable at once (no SIGBUS from pages a full file system cannot supply).
TEST_F(SharedSegments, AFullFileSystemFallsBackToPrivateMemory) {
  if (::getuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  SmallTmpfs mnt{dir_ + "/small"};
  ASSERT_EQ(::mkdir(mnt.dir.c_str(), 0700), 0);
  mnt.mounted = ::mount("tmpfs", mnt.dir.c_str(), "tmpfs", 0, "size=20m") == 0;
  if (!mnt.mounted) GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  const std::uint64_t fallbacks = segment_stats().private_fallbacks;
  {
    enable_shared_segments(SegmentSettings{mnt.dir, prefix_, 4 * kMiB});
    const auto empty = space_of(mnt.dir);
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->total, 20 * kMiB);
    Buffer a(8 * kMiB), b(8 * kMiB), c(8 * kMiB);
    EXPECT_TRUE(find_segment(a.data(), a.size()).has_value());
    EXPECT_TRUE(find_segment(b.data(), b.size()).has_value());
    EXPECT_FALSE(find_segment(c.data(), c.size()).has_value());
    EXPECT_EQ(segment_stats().private_fallbacks, fallbacks + 1);
    EXPECT_EQ(files_in(mnt.dir).size(), 2u);  // the failed one left no file
    EXPECT_LT(space_of(mnt.dir)->available, 5 * kMiB);
    fill(a, 1);
    fill(b, 2);
    fill(c, 3);
    EXPECT_EQ(c.data()[c.size() - 1], std::byte(((c.size() - 1) * 131 + 3) & 0xff));
  }
  disable_shared_segments();
  EXPECT_TRUE(files_in(mnt.dir).empty());
}

}  // namespace
}  // namespace manta::transport
