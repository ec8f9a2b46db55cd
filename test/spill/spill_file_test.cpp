// SpillFile: round trips of pieces of many sizes, batching, release and reuse of regions, the
// /index table and attributes as HDF5 sees them, compression, file mode, and the errors of
// create, release and a full disk.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "spill/spill_file.h"
#include "spill_test_support.h"

namespace {

using manta::spill::Extent;
using manta::spill::Piece;
using manta::spill::SpillError;
using manta::spill::SpillFile;
using manta::spill::SpillOptions;
using spill_test::pattern;
using spill_test::TempDir;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;

Piece piece_of(const std::vector<std::byte>& bytes, std::uint64_t key) {
  return Piece{key, ~key, bytes.data(), bytes.size()};
}

std::vector<std::byte> read_back(SpillFile& f, const Extent& e) {
  std::vector<std::byte> out(e.size);
  f.read(e, out.data());
  return out;
}

SpillOptions chunked(std::uint64_t chunk_bytes, int compression = 0) {
  SpillOptions o;
  o.chunk_bytes = chunk_bytes;
  o.compression = compression;
  return o;
}

TEST(SpillFile, RoundTripsPiecesOfManySizes) {
  TempDir dir;
  auto f = SpillFile::create(dir.file("rank-0.h5"), SpillOptions{});
  const std::vector<std::uint64_t> sizes = {0,           1,       2,           3,
                                            4095,        4096,    4097,        12345,
                                            1 * MiB + 1, 4 * MiB, 4 * MiB + 1, 3 * 4 * MiB + 17,
                                            64 * MiB};
  std::vector<std::vector<std::byte>> data;
  for (std::size_t i = 0; i < sizes.size(); ++i) data.push_back(pattern(i, sizes[i]));

  // Each piece alone, then all of them in one write.
  std::vector<Extent> alone;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Piece p = piece_of(data[i], i);
    const auto e = f->write({&p, 1});
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].size, sizes[i]);
    if (sizes[i] > 0) {
      EXPECT_EQ(e[0].offset % (4 * MiB), 0u) << "a write starts on a chunk";
    }
    alone.push_back(e[0]);
  }
  std::vector<Piece> all;
  for (std::size_t i = 0; i < sizes.size(); ++i) all.push_back(piece_of(data[i], 100 + i));
  const auto together = f->write(all);
  ASSERT_EQ(together.size(), sizes.size());
  for (std::size_t i = 1; i < together.size(); ++i) {
    EXPECT_EQ(together[i].offset, together[i - 1].offset + together[i - 1].size);
  }

  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(read_back(*f, alone[i]), data[i]) << "piece " << i << " of " << sizes[i];
    EXPECT_EQ(read_back(*f, together[i]), data[i]) << "batched piece " << i;
  }
  // A read inside a piece, across a chunk boundary.
  const Extent middle{together.back().offset + 4 * MiB - 10, 20};
  const auto part = read_back(*f, middle);
  const auto& big = data.back();
  EXPECT_TRUE(std::equal(
      part.begin(), part.end(),
      big.begin() + static_cast<std::ptrdiff_t>(middle.offset - together.back().offset)));

  std::uint64_t total = 0;
  for (auto s : sizes) total += s;
  const auto st = f->stats();
  EXPECT_EQ(st.writes, sizes.size() + 1);
  EXPECT_EQ(st.pieces_written, 2 * sizes.size());
  EXPECT_EQ(st.bytes_written, 2 * total);
  EXPECT_EQ(st.live_bytes, 2 * total);
  EXPECT_EQ(st.reads, 2 * sizes.size() + 1);
  EXPECT_EQ(st.file_bytes % (4 * MiB), 0u);
  EXPECT_GE(st.file_bytes, 2 * total);
  EXPECT_GT(st.write_seconds, 0.0);
}

TEST(SpillFile, EmptyPiecesHaveExtentsAndReadAsNothing) {
  TempDir dir;
  auto f = SpillFile::create(dir.file("rank-0.h5"), chunked(4 * KiB));
  const Piece nothing{1, 2, nullptr, 0};
  const auto e = f->write({&nothing, 1});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].size, 0u);
  std::byte untouched{0x5a};
  f->read(e[0], &untouched);
  EXPECT_EQ(untouched, std::byte{0x5a});
  EXPECT_EQ(f->stats().file_bytes, 0u) << "no chunk for no bytes";
  f->release(e[0]);
  EXPECT_THROW(f->release(e[0]), SpillError);
}

TEST(SpillFile, SmallPiecesOfOneWriteShareChunks) {
  TempDir dir;
  auto f = SpillFile::create(dir.file("rank-0.h5"), chunked(64 * KiB));
  std::vector<std::vector<std::byte>> data;
  std::vector<Piece> pieces;
  for (int i = 0; i < 100; ++i) data.push_back(pattern(1000 + i, 1000 + i));
  for (int i = 0; i < 100; ++i) pieces.push_back(piece_of(data[i], i));
  const auto e = f->write(pieces);
  ASSERT_EQ(e.size(), 100u);
  EXPECT_EQ(e[0].offset, 0u);
  for (int i = 1; i < 100; ++i) EXPECT_EQ(e[i].offset, e[i - 1].offset + e[i - 1].size);
  // 104,950 bytes: two chunks for a hundred pieces.
  EXPECT_EQ(f->stats().file_bytes, 2 * 64 * KiB);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(read_back(*f, e[i]), data[i]) << i;
  // The next write starts on the next chunk.
  const auto more = pattern(7, 10);
  const Piece p = piece_of(more, 7);
  EXPECT_EQ(f->write({&p, 1})[0].offset, 2 * 64 * KiB);
}

TEST(SpillFile, ReleasedRegionsAreReused) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  const std::uint64_t chunk = 4 * KiB;
  auto f = SpillFile::create(path, chunked(chunk));
  auto write_one = [&](std::uint64_t seed, std::uint64_t size) {
    const auto bytes = pattern(seed, size);
    const Piece p = piece_of(bytes, seed);
    return f->write({&p, 1})[0];
  };
  const Extent a = write_one(1, 3 * chunk);      // chunks 0-2
  const Extent b = write_one(2, 2 * chunk - 5);  // chunks 3-4
  const Extent c = write_one(3, chunk);          // chunk 5
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(b.offset, 3 * chunk);
  EXPECT_EQ(c.offset, 5 * chunk);
  EXPECT_EQ(f->stats().file_bytes, 6 * chunk);
  const std::uint64_t disk_before = spill_test::file_size(path);

  f->release(b);
  const Extent d = write_one(4, 2 * chunk);
  EXPECT_EQ(d.offset, b.offset) << "first fit reuses b's chunks";
  EXPECT_EQ(f->stats().file_bytes, 6 * chunk);

  // Neighbouring free regions join: a (3 chunks) and d (2) make room for 5.
  f->release(a);
  f->release(d);
  const Extent e = write_one(5, 5 * chunk);
  EXPECT_EQ(e.offset, 0u);
  EXPECT_EQ(f->stats().file_bytes, 6 * chunk);
  EXPECT_EQ(read_back(*f, e), pattern(5, 5 * chunk));
  EXPECT_EQ(read_back(*f, c), pattern(3, chunk));
  // Chunks rewritten in place: the file on disk grows by metadata at most.
  EXPECT_LE(spill_test::file_size(path), disk_before + 64 * KiB);

  // A region stays taken until every piece in it is released.
  const auto x = pattern(6, chunk / 2);
  const auto y = pattern(7, chunk / 2);
  const auto z = pattern(8, chunk);
  const std::vector<Piece> xyz = {piece_of(x, 6), piece_of(y, 7), piece_of(z, 8)};
  const auto batch = f->write(xyz);  // chunks 6-7
  EXPECT_EQ(batch[0].offset, 6 * chunk);
  f->release(batch[0]);
  f->release(batch[2]);
  EXPECT_EQ(write_one(9, chunk).offset, 8 * chunk) << "batch still holds y";
  f->release(batch[1]);
  EXPECT_EQ(write_one(10, 2 * chunk).offset, 6 * chunk);

  // A free run at the end is extended rather than skipped.
  const Extent last = write_one(11, chunk);
  EXPECT_EQ(last.offset, 9 * chunk);
  f->release(last);
  const Extent longer = write_one(12, 3 * chunk);
  EXPECT_EQ(longer.offset, 9 * chunk);
  EXPECT_EQ(f->stats().file_bytes, 12 * chunk);
  EXPECT_EQ(read_back(*f, longer), pattern(12, 3 * chunk));

  const std::uint64_t live = e.size + c.size + 3 * chunk + longer.size;
  EXPECT_EQ(f->stats().live_bytes, live);
  EXPECT_THROW(f->release(a), SpillError) << "released twice";
}

// The chunk size and compression used by a file, from its /objects dataset.
struct Layout {
  hsize_t chunk = 0;
  bool fletcher32 = false;
  bool deflate = false;
};

Layout layout_of(hid_t dataset) {
  Layout l;
  const hid_t dcpl = H5Dget_create_plist(dataset);
  EXPECT_EQ(H5Pget_chunk(dcpl, 1, &l.chunk), 1);
  for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
    unsigned flags = 0;
    std::size_t n = 0;
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &n, nullptr, 0, nullptr, nullptr);
    l.fletcher32 = l.fletcher32 || id == H5Z_FILTER_FLETCHER32;
    l.deflate = l.deflate || id == H5Z_FILTER_DEFLATE;
  }
  H5Pclose(dcpl);
  return l;
}

struct Row {
  std::uint64_t key_hi, key_lo, offset, size;
  std::uint8_t live;
};

std::vector<Row> read_index(hid_t file) {
  const hid_t d = H5Dopen2(file, "index", H5P_DEFAULT);
  EXPECT_GE(d, 0);
  const hid_t space = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  const hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(Row));
  H5Tinsert(t, "key_hi", offsetof(Row, key_hi), H5T_NATIVE_UINT64);
  H5Tinsert(t, "key_lo", offsetof(Row, key_lo), H5T_NATIVE_UINT64);
  H5Tinsert(t, "offset", offsetof(Row, offset), H5T_NATIVE_UINT64);
  H5Tinsert(t, "size", offsetof(Row, size), H5T_NATIVE_UINT64);
  H5Tinsert(t, "live", offsetof(Row, live), H5T_NATIVE_UINT8);
  std::vector<Row> rows(n);
  if (n > 0) {
    EXPECT_GE(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
  }
  H5Tclose(t);
  H5Sclose(space);
  H5Dclose(d);
  return rows;
}

TEST(SpillFile, IndexAndAttributesAsHdf5SeesThem) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  const auto a = pattern(1, 5000);
  const auto b = pattern(2, 0);
  const auto c = pattern(3, 70000);
  std::vector<Extent> first;
  Extent second;
  {
    auto f = SpillFile::create(path, chunked(64 * KiB));
    const std::vector<Piece> ab = {{11, 12, a.data(), a.size()}, {21, 22, b.data(), b.size()}};
    first = f->write(ab);
    const Piece pc{31, 32, c.data(), c.size()};
    second = f->write({&pc, 1})[0];
    f->release(first[0]);
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const auto rows = read_index(file);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].key_hi, 11u);
  EXPECT_EQ(rows[0].key_lo, 12u);
  EXPECT_EQ(rows[0].offset, first[0].offset);
  EXPECT_EQ(rows[0].size, 5000u);
  EXPECT_EQ(rows[0].live, 0) << "released in place";
  EXPECT_EQ(rows[1].key_hi, 21u);
  EXPECT_EQ(rows[1].size, 0u);
  EXPECT_EQ(rows[1].offset, 5000u);
  EXPECT_EQ(rows[1].live, 1);
  EXPECT_EQ(rows[2].key_hi, 31u);
  EXPECT_EQ(rows[2].key_lo, 32u);
  EXPECT_EQ(rows[2].offset, second.offset);
  EXPECT_EQ(rows[2].size, 70000u);
  EXPECT_EQ(rows[2].live, 1);

  // The file says what it is.
  const hid_t format = H5Aopen(file, "format", H5P_DEFAULT);
  ASSERT_GE(format, 0);
  const hid_t type = H5Aget_type(format);
  std::string text(H5Tget_size(type), '\0');
  H5Aread(format, type, text.data());
  EXPECT_EQ(text.c_str(), std::string("manta spill file 1"));
  H5Tclose(type);
  H5Aclose(format);
  std::uint64_t chunk_attr = 0;
  const hid_t chunk = H5Aopen(file, "chunk_bytes", H5P_DEFAULT);
  H5Aread(chunk, H5T_NATIVE_UINT64, &chunk_attr);
  H5Aclose(chunk);
  EXPECT_EQ(chunk_attr, 64 * KiB);

  // /objects: chunked, Fletcher-32, and the library's own filter accepts every chunk.
  const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
  const Layout l = layout_of(objects);
  EXPECT_EQ(l.chunk, 64 * KiB);
  EXPECT_TRUE(l.fletcher32);
  EXPECT_FALSE(l.deflate);
  std::vector<std::byte> all(3 * 64 * KiB);
  ASSERT_GE(H5Dread(objects, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data()), 0);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), all.begin() + static_cast<long>(second.offset)));
  H5Dclose(objects);
  H5Fclose(file);
}

TEST(SpillFile, LibraryFilterAcceptsChunksOfOddSizesAndPlainData) {
  // Chunks this layer checksums itself must pass HDF5's Fletcher-32 check: odd chunk sizes
  // and data of all zeros or all ones are where a fold differs.
  for (const std::uint64_t chunk : {std::uint64_t{1}, std::uint64_t{4097}, 64 * KiB}) {
    TempDir dir;
    const std::string path = dir.file("rank-0.h5");
    const std::vector<std::byte> zeros(3 * chunk, std::byte{0});
    const std::vector<std::byte> ones(2 * chunk + 1, std::byte{0xff});
    const auto mixed = pattern(chunk, 5 * chunk + 3);
    std::vector<Extent> e;
    {
      auto f = SpillFile::create(path, chunked(chunk));
      for (const auto* v : {&zeros, &ones, &mixed}) {
        const Piece p = piece_of(*v, v->size());
        e.push_back(f->write({&p, 1})[0]);
      }
    }
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
    const hid_t space = H5Dget_space(objects);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    std::vector<std::byte> all(n);
    EXPECT_GE(H5Dread(objects, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data()), 0)
        << "chunk " << chunk;
    std::size_t i = 0;
    for (const auto* v : {&zeros, &ones, &mixed}) {
      EXPECT_TRUE(std::equal(v->begin(), v->end(), all.begin() + static_cast<long>(e[i].offset)))
          << "chunk " << chunk << " piece " << i;
      ++i;
    }
    H5Sclose(space);
    H5Dclose(objects);
    H5Fclose(file);
  }
}

TEST(SpillFile, CompressionRoundTripsAndShrinksTheFile) {
  TempDir dir;
  // Text-like bytes compress; random ones do not, and must survive too.
  std::vector<std::byte> text(8 * MiB);
  for (std::size_t i = 0; i < text.size(); ++i) {
    text[i] = static_cast<std::byte>("manta spills objects to HDF5 "[i % 29]);
  }
  const auto noise = pattern(5, 3 * MiB + 11);
  std::vector<std::byte> small(300, std::byte{7});
  const std::vector<Piece> pieces = {piece_of(text, 1), piece_of(noise, 2), piece_of(small, 3)};
  std::uint64_t sizes[2] = {};
  for (const int level : {0, 6}) {
    const std::string path = dir.file("level-" + std::to_string(level) + ".h5");
    {
      auto f = SpillFile::create(path, chunked(1 * MiB, level));
      const auto e = f->write(pieces);
      EXPECT_EQ(read_back(*f, e[0]), text);
      EXPECT_EQ(read_back(*f, e[1]), noise);
      EXPECT_EQ(read_back(*f, e[2]), small);
      // Reuse after release works with variable-size compressed chunks too.
      for (const auto& x : e) f->release(x);
      const auto again = f->write(pieces);
      EXPECT_EQ(again[0].offset, 0u);
      EXPECT_EQ(read_back(*f, again[1]), noise);
      EXPECT_EQ(read_back(*f, again[0]), text);
    }
    sizes[level == 0 ? 0 : 1] = spill_test::file_size(path);
    if (level > 0) {
      const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
      const Layout l = layout_of(objects);
      EXPECT_TRUE(l.deflate);
      EXPECT_TRUE(l.fletcher32);
      H5Dclose(objects);
      H5Fclose(file);
    }
  }
  EXPECT_LT(sizes[1], sizes[0] - 6 * MiB) << "8 MiB of text compresses";
}

TEST(SpillFile, FileIsPrivateToItsUser) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  const mode_t old = ::umask(0);  // whatever the umask allows, the file is 0600
  auto f = SpillFile::create(path, SpillOptions{});
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(SpillFile, CreateFailsOnAnExistingFileAndLeavesItAlone) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  auto f = SpillFile::create(path, SpillOptions{});
  const auto bytes = pattern(1, 1000);
  const Piece p = piece_of(bytes, 1);
  const Extent e = f->write({&p, 1})[0];
  try {
    SpillFile::create(path, SpillOptions{});
    FAIL() << "created over an existing file";
  } catch (const SpillError& err) {
    EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("File exists"), std::string::npos) << err.what();
  }
  EXPECT_EQ(read_back(*f, e), bytes);
}

TEST(SpillFile, CreateFailsWhereNoFileCanBeMade) {
  TempDir dir;
  const std::string path = dir.file("missing/rank-0.h5");
  try {
    SpillFile::create(path, SpillOptions{});
    FAIL() << "created a file in a missing directory";
  } catch (const SpillError& err) {
    EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("--manta-spill-dir"), std::string::npos) << err.what();
  }
  EXPECT_THROW(SpillFile::create(dir.file("x.h5"), chunked(0)), SpillError);
  EXPECT_THROW(SpillFile::create(dir.file("y.h5"), chunked(4096, 10)), SpillError);
}

TEST(SpillFile, ReadPastTheEndThrows) {
  TempDir dir;
  auto f = SpillFile::create(dir.file("rank-0.h5"), chunked(4 * KiB));
  const auto bytes = pattern(1, 100);
  const Piece p = piece_of(bytes, 1);
  f->write({&p, 1});
  std::vector<std::byte> out(8 * KiB);
  EXPECT_THROW(f->read(Extent{4 * KiB, 10}, out.data()), SpillError);
  EXPECT_THROW(f->read(Extent{0, 8 * KiB}, out.data()), SpillError);
}

// In a child process whose files may not grow past 4 MiB, a 16 MiB write fails as a full disk
// does: SpillError naming the file and the fix, and nothing recorded.
TEST(SpillFile, FullDiskThrowsAndRecordsNothing) {
  TempDir dir;
  const std::string path = dir.file("rank-0.h5");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4 * MiB, 4 * MiB};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 0;
    try {
      auto f = SpillFile::create(path, chunked(1 * MiB));
      const auto bytes = pattern(1, 16 * MiB);
      const Piece p = piece_of(bytes, 1);
      try {
        f->write({&p, 1});
        code = 1;
      } catch (const SpillError& err) {
        const std::string what = err.what();
        std::fprintf(stderr, "expected: %s\n", what.c_str());
        if (what.find(path) == std::string::npos) code = 2;
        if (what.find("--manta-spill-dir") == std::string::npos) code = 3;
        if (what.find("File too large") == std::string::npos) code = 4;
        const auto st = f->stats();
        if (st.live_bytes != 0 || st.writes != 0 || st.bytes_written != 0) code = 5;
      }
    } catch (...) {
      code = 6;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: no error, 2: no path, 3: no fix, 4: no reason, 5: recorded, 6: other error";
}

}  // namespace
