// SpillReader and checksums: damaged bytes on disk are reported as CorruptSpillError (raw and
// compressed files, through a reader and through the writer's own handle), a file that is
// missing names its path, and a reader in another process sees what the writer writes while
// it keeps writing (SWMR), including chunks it rewrites after a release.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "spill/spill_file.h"
#include "spill_test_support.h"

namespace {

using manta::spill::CorruptSpillError;
using manta::spill::Extent;
using manta::spill::Piece;
using manta::spill::SpillError;
using manta::spill::SpillFile;
using manta::spill::SpillOptions;
using manta::spill::SpillReader;
using spill_test::pattern;
using spill_test::TempDir;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

SpillOptions chunked(std::uint64_t chunk_bytes, int compression = 0) {
  SpillOptions o;
  o.chunk_bytes = chunk_bytes;
  o.compression = compression;
  return o;
}

// Bytes no random pattern produces, to find a piece's data in the file.
std::vector<std::byte> marked(std::size_t size) {
  const std::string mark = "<<manta corruption test>>";
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>(mark[i % mark.size()]);
  return out;
}

void flip_byte_at(const std::string& path, std::uint64_t at) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(at)), 1);
  b ^= 0x20;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
}

// Where the marked bytes lie in the file.
std::uint64_t find_mark(const std::string& path) {
  const auto bytes = spill_test::file_bytes(path);
  const std::string needle = "<<manta corruption test>><<manta";
  const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << "marked piece not found in " << path;
  return static_cast<std::uint64_t>(it - bytes.begin());
}

template <class Read>
void expect_corrupt(Read read, const std::string& path) {
  try {
    read();
    ADD_FAILURE() << "damaged chunk read without error";
  } catch (const CorruptSpillError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find("checksum mismatch"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
}

TEST(SpillReader, DamagedBytesFailTheChecksum) {
  TempDir dir;
  const std::string path = dir.file("rank-1.h5");
  const auto good = pattern(1, 200 * KiB);
  const auto target = marked(100 * KiB);
  const auto after = pattern(2, 3000);
  Extent good_e, target_e, after_e;
  {
    auto f = SpillFile::create(path, chunked(64 * KiB));
    const Piece g{1, 1, good.data(), good.size()};
    good_e = f->write({&g, 1})[0];
    const std::vector<Piece> batch = {{2, 2, target.data(), target.size()},
                                      {3, 3, after.data(), after.size()}};
    const auto e = f->write(batch);
    target_e = e[0];
    after_e = e[1];
  }
  flip_byte_at(path, find_mark(path) + 10);

  SpillReader reader;
  std::vector<std::byte> out(target.size());
  expect_corrupt([&] { reader.read(path, target_e, out.data()); }, path);
  // The other chunks still read, including a piece of the same write in another chunk.
  std::vector<std::byte> g(good.size());
  reader.read(path, good_e, g.data());
  EXPECT_EQ(g, good);
  std::vector<std::byte> a(after.size());
  reader.read(path, after_e, a.data());
  EXPECT_EQ(a, after);
  // And the damage is still reported on the next try.
  expect_corrupt([&] { reader.read(path, Extent{target_e.offset, 100}, out.data()); }, path);
}

TEST(SpillReader, WriterSeesDamageInItsOwnOpenFile) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  auto f = SpillFile::create(path, chunked(64 * KiB));
  const auto target = marked(64 * KiB + 100);
  const auto other = pattern(2, 5000);
  const Piece t{1, 1, target.data(), target.size()};
  const Piece o{2, 2, other.data(), other.size()};
  const Extent te = f->write({&t, 1})[0];
  const Extent oe = f->write({&o, 1})[0];
  flip_byte_at(path, find_mark(path) + 100);
  std::vector<std::byte> out(target.size());
  expect_corrupt([&] { f->read(te, out.data()); }, path);
  std::vector<std::byte> back(other.size());
  f->read(oe, back.data());
  EXPECT_EQ(back, other);
}

TEST(SpillReader, DamagedCompressedChunkFailsTheChecksum) {
  TempDir dir;
  const std::string path = dir.file("rank-2.h5");
  const auto first = pattern(1, 64 * KiB);
  const auto second = pattern(2, 64 * KiB);
  Extent e1, e2;
  {
    auto f = SpillFile::create(path, chunked(64 * KiB, 4));
    const Piece p1{1, 1, first.data(), first.size()};
    const Piece p2{2, 2, second.data(), second.size()};
    e1 = f->write({&p1, 1})[0];
    e2 = f->write({&p2, 1})[0];
  }
  // Compressed bytes cannot be searched for: ask HDF5 where the first chunk is.
  haddr_t address = 0;
  hsize_t stored = 0;
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
    const hsize_t origin = 0;
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(objects, &origin, &mask, &address, &stored), 0);
    H5Dclose(objects);
    H5Fclose(file);
  }
  ASSERT_GT(stored, 100u);
  flip_byte_at(path, address + stored / 2);
  SpillReader reader;
  std::vector<std::byte> out(first.size());
  expect_corrupt([&] { reader.read(path, e1, out.data()); }, path);
  reader.read(path, e2, out.data());
  EXPECT_EQ(out, second);
}

TEST(SpillReader, MissingFileNamesItsPath) {
  TempDir dir;
  const std::string path = dir.file("rank-9.h5");
  SpillReader reader;
  std::byte b{};
  try {
    reader.read(path, Extent{0, 1}, &b);
    FAIL() << "read a missing file";
  } catch (const CorruptSpillError&) {
    FAIL() << "a missing file is not damage";
  } catch (const SpillError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  reader.read(path, Extent{0, 0}, &b);  // nothing to read, nothing opened
}

TEST(SpillReader, ReadsAFileThisProcessIsWriting) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  auto f = SpillFile::create(path, chunked(64 * KiB));
  std::vector<std::vector<std::byte>> a, b;
  std::vector<Piece> pa, pb;
  for (std::uint64_t i = 0; i < 8; ++i) {
    a.push_back(pattern(10 + i, 1000));
    b.push_back(pattern(20 + i, 1000));
  }
  for (std::uint64_t i = 0; i < 8; ++i) {
    pa.push_back(Piece{i, 0, a[i].data(), a[i].size()});
    pb.push_back(Piece{i, 1, b[i].data(), b[i].size()});
  }
  const auto ea = f->write(pa);
  SpillReader reader;
  std::vector<std::byte> out(1000);
  for (std::size_t i = 0; i < 8; ++i) {
    reader.read(path, ea[i], out.data());
    EXPECT_EQ(out, a[i]) << i;
  }
  for (const auto& e : ea) f->release(e);
  const auto eb = f->write(pb);
  ASSERT_EQ(eb[0].offset, ea[0].offset);
  for (std::size_t i = 0; i < 8; ++i) {
    reader.read(path, eb[i], out.data());
    EXPECT_EQ(out, b[i]) << "rewritten chunk, piece " << i;
  }
}

TEST(SpillReader, ExtentPastTheEndThrows) {
  TempDir dir;
  const std::string path = dir.file("rank-1.h5");
  {
    auto f = SpillFile::create(path, chunked(4 * KiB));
    const auto bytes = pattern(1, 10);
    const Piece p{1, 1, bytes.data(), bytes.size()};
    f->write({&p, 1});
  }
  SpillReader reader;
  std::vector<std::byte> out(8 * KiB);
  EXPECT_THROW(reader.read(path, Extent{0, 8 * KiB}, out.data()), SpillError);
  reader.read(path, Extent{0, 10}, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 10, pattern(1, 10).begin()));
  reader.close_all();
  reader.read(path, Extent{2, 3}, out.data());
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 3, pattern(1, 10).begin() + 2));
}

// Seeds with this bit make bytes that compress well, others random bytes that do not.
constexpr std::uint64_t kCompressible = std::uint64_t{1} << 63;

std::vector<std::byte> bytes_for(std::uint64_t seed, std::uint64_t size) {
  if ((seed & kCompressible) == 0) return pattern(seed, size);
  std::vector<std::byte> out(size);
  const std::string words = "spilled objects come back " + std::to_string(seed & 0xffff);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>(words[i % words.size()]);
  return out;
}

// What the writer tells the reading process: an extent and the seed of its bytes.
struct Job {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t seed = 0;
};

bool write_all(int fd, const void* data, std::size_t n) {
  return ::write(fd, data, n) == static_cast<ssize_t>(n);
}
bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// The reading process: for each batch of jobs, read every extent and answer 1 if all bytes
// match, 0 otherwise; a batch of none ends it.
int reader_process(const std::string& path, int in, int out) {
  SpillReader reader;
  for (;;) {
    std::uint32_t n = 0;
    if (!read_all(in, &n, sizeof n)) return 10;
    if (n == 0) return 0;
    std::vector<Job> jobs(n);
    if (!read_all(in, jobs.data(), n * sizeof(Job))) return 11;
    char ok = 1;
    for (const Job& j : jobs) {
      std::vector<std::byte> bytes(j.size);
      try {
        reader.read(path, Extent{j.offset, j.size}, bytes.data());
        if (bytes != bytes_for(j.seed, j.size)) ok = 0;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "reader process: %s\n", e.what());
        ok = 0;
      }
    }
    if (!write_all(out, &ok, 1)) return 12;
  }
}

class CrossProcess : public testing::TestWithParam<int> {};

TEST_P(CrossProcess, AnotherProcessReadsWhileTheWriterWrites) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  int to_child[2];
  int to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  // Fork before the file is open: a child must not inherit HDF5's handle to it.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    ::_exit(reader_process(path, to_child[0], to_parent[1]));
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);

  auto f = SpillFile::create(path, chunked(256 * KiB, GetParam()));
  std::vector<std::vector<std::byte>> keep;  // pieces stay alive while written
  auto write = [&](const std::vector<std::pair<std::uint64_t, std::uint64_t>>& seeds_sizes) {
    std::vector<Piece> pieces;
    for (const auto& [seed, size] : seeds_sizes) {
      keep.push_back(bytes_for(seed, size));
      pieces.push_back(Piece{seed, 0, keep.back().data(), size});
    }
    const auto extents = f->write(pieces);
    std::vector<Job> jobs;
    for (std::size_t i = 0; i < extents.size(); ++i) {
      jobs.push_back({extents[i].offset, extents[i].size, seeds_sizes[i].first});
    }
    return jobs;
  };
  auto ask = [&](const std::vector<Job>& jobs) {
    const auto n = static_cast<std::uint32_t>(jobs.size());
    EXPECT_TRUE(write_all(to_child[1], &n, sizeof n));
    EXPECT_TRUE(write_all(to_child[1], jobs.data(), n * sizeof(Job)));
    char ok = 0;
    EXPECT_TRUE(read_all(to_parent[0], &ok, 1));
    return ok == 1;
  };

  const auto first = write({{1, 100}, {2, 300 * KiB}, {3, 5}, {4, 1 * MiB + 7}});
  EXPECT_TRUE(ask(first)) << "reader sees the first write";
  // The reader has the file open now; the dataset grows under it.
  const auto second = write({{5, 2 * MiB}, {6, 1234}});
  EXPECT_TRUE(ask(second)) << "reader refreshes to see a later write";
  EXPECT_TRUE(ask(first)) << "earlier extents still read";
  // Chunks reused after a release hold new bytes; the reader must not serve old ones.
  f->release(Extent{first[0].offset, first[0].size});
  f->release(Extent{first[1].offset, first[1].size});
  f->release(Extent{first[2].offset, first[2].size});
  f->release(Extent{first[3].offset, first[3].size});
  const auto third = write({{7, 1 * MiB + 200 * KiB}});
  EXPECT_EQ(third[0].offset, first[0].offset);
  EXPECT_TRUE(ask(third)) << "reader sees chunks rewritten in place";
  // Compressed, these chunks shrink and move within the file.
  f->release(Extent{third[0].offset, third[0].size});
  const auto fourth = write({{kCompressible | 8, 1 * MiB}, {9, 100}});
  EXPECT_EQ(fourth[0].offset, first[0].offset);
  EXPECT_TRUE(ask(fourth)) << "reader sees chunks of another size";
  EXPECT_TRUE(ask(second)) << "and the untouched ones";
  // Small pieces of one batch share a chunk, which the reader keeps after the first of them;
  // once the batch is released and its chunk rewritten, the reader must not keep the old one.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> small_a, small_b;
  for (std::uint64_t i = 0; i < 8; ++i) small_a.emplace_back(100 + i, 1000 + i);
  for (std::uint64_t i = 0; i < 8; ++i) small_b.emplace_back(200 + i, 1000 + i);
  const auto batch_a = write(small_a);
  EXPECT_TRUE(ask(batch_a)) << "small pieces";
  const auto unrelated = write({{10, 3000}});  // rows to skip over, in another chunk
  EXPECT_TRUE(ask(batch_a)) << "small pieces again, after an unrelated write";
  for (const Job& j : batch_a) f->release(Extent{j.offset, j.size});
  const auto batch_b = write(small_b);
  EXPECT_EQ(batch_b[0].offset, batch_a[0].offset);
  EXPECT_TRUE(ask(batch_b)) << "small pieces written over released ones";
  EXPECT_TRUE(ask(unrelated));

  const std::uint32_t done = 0;
  EXPECT_TRUE(write_all(to_child[1], &done, sizeof done));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ::close(to_child[1]);
  ::close(to_parent[0]);
}

INSTANTIATE_TEST_SUITE_P(SpillReader, CrossProcess, testing::Values(0, 6),
                         [](const testing::TestParamInfo<int>& p) {
                           return p.param == 0 ? std::string("Raw") : std::string("Deflate");
                         });

}  // namespace
