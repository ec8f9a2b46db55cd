// Damaged spill files: a file cut short, a region overwritten with zeros, a chunk missing from
// the file, flipped bits. Every read of bytes under the damage fails with CorruptSpillError
// naming the file and the cause, through the writer's own handle and through readers of other
// processes' files; no read ever returns bytes that differ from those written; bytes outside
// the damage still read back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <functional>
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
using manta::spill::UnreachableSpillError;
using spill_test::pattern;
using spill_test::TempDir;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t kChunk = 256 * KiB;

// Where a chunk is stored in the file.
struct Span {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// A spill file with large pieces (several chunks each) and small ones sharing chunks.
struct Written {
  std::string path;
  std::unique_ptr<SpillFile> file;
  std::vector<std::vector<std::byte>> data;
  std::vector<Extent> extents;
};

Written write_file(const std::string& path, int compression) {
  Written w;
  w.path = path;
  SpillOptions o;
  o.chunk_bytes = kChunk;
  o.compression = compression;
  w.file = SpillFile::create(path, o);
  std::uint64_t seed = 1;
  for (int batch = 0; batch < 7; ++batch) {
    const bool small = batch == 3;  // many pieces in shared chunks, in the middle of the file
    const int count = small ? 16 : 4;
    const std::size_t size = small ? 10 * KiB + 7 : 3 * kChunk - 100;
    std::vector<Piece> pieces;
    const std::size_t first = w.data.size();
    for (int i = 0; i < count; ++i) w.data.push_back(pattern(seed++, size));
    for (int i = 0; i < count; ++i) {
      pieces.push_back({seed, static_cast<std::uint64_t>(i), w.data[first + i].data(), size});
    }
    for (const Extent& e : w.file->write(pieces)) w.extents.push_back(e);
  }
  return w;
}

// Where the chunks under `e` are stored, as HDF5 sees the file now.
std::vector<Span> chunk_spans(const std::string& path, const Extent& e) {
  std::vector<Span> spans;
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_file_locking(fapl, true, true);  // as the writer, which has it open in this process
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
  H5Pclose(fapl);
  EXPECT_GE(file, 0);
  const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
  for (std::uint64_t c = e.offset / kChunk; c * kChunk < e.offset + e.size; ++c) {
    const hsize_t offset = c * kChunk;
    unsigned mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    EXPECT_GE(H5Dget_chunk_info_by_coord(objects, &offset, &mask, &address, &size), 0);
    spans.push_back({address, address + size});
  }
  H5Dclose(objects);
  H5Fclose(file);
  return spans;
}

enum class Outcome { intact, damaged, unreachable, wrong_bytes, other_error };

struct Result {
  Outcome outcome = Outcome::other_error;
  std::string message;
};

Result try_read(const std::function<void(std::byte*)>& read, const std::vector<std::byte>& want) {
  std::vector<std::byte> out(want.size(), std::byte{0x5a});
  try {
    read(out.data());
  } catch (const CorruptSpillError& e) {
    return {Outcome::damaged, e.what()};
  } catch (const UnreachableSpillError& e) {
    return {Outcome::unreachable, e.what()};
  } catch (const SpillError& e) {
    return {Outcome::other_error, e.what()};
  }
  return {out == want ? Outcome::intact : Outcome::wrong_bytes, ""};
}

struct Tally {
  int intact = 0;
  int damaged = 0;
};

// Reads every piece with `read` and checks each outcome: intact exactly when none of its
// chunks is `hit`, else CorruptSpillError naming the file and `cause`.
Tally check_all(const Written& w, const std::vector<std::vector<Span>>& spans,
                const std::function<bool(const Span&)>& hit, const std::string& cause,
                const std::function<void(const Extent&, std::byte*)>& read, const char* via) {
  Tally t;
  for (std::size_t i = 0; i < w.extents.size(); ++i) {
    bool under_damage = false;
    for (const Span& s : spans[i]) under_damage = under_damage || hit(s);
    const Result r = try_read([&](std::byte* out) { read(w.extents[i], out); }, w.data[i]);
    SCOPED_TRACE(std::string(via) + ", piece " + std::to_string(i));
    EXPECT_NE(r.outcome, Outcome::wrong_bytes) << "bytes that differ from those written came back";
    if (under_damage) {
      EXPECT_EQ(r.outcome, Outcome::damaged) << r.message;
      EXPECT_NE(r.message.find(w.path), std::string::npos) << r.message;
      EXPECT_NE(r.message.find(cause), std::string::npos) << r.message;
      ++t.damaged;
    } else {
      EXPECT_EQ(r.outcome, Outcome::intact) << r.message;
      ++t.intact;
    }
  }
  return t;
}

std::vector<std::vector<Span>> spans_of(const Written& w) {
  std::vector<std::vector<Span>> spans;
  for (const Extent& e : w.extents) spans.push_back(chunk_spans(w.path, e));
  return spans;
}

void zero_range(const std::string& path, std::uint64_t at, std::uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::vector<char> zeros(size, 0);
  ASSERT_EQ(::pwrite(fd, zeros.data(), size, static_cast<off_t>(at)), static_cast<ssize_t>(size));
  ::close(fd);
}

class Damage : public testing::TestWithParam<int> {};

TEST_P(Damage, TruncatedFileFailsEveryPieceBeyondTheCut) {
  TempDir dir;
  Written w = write_file(dir.file("rank-0.h5"), GetParam());
  const auto spans = spans_of(w);
  SpillReader before;  // another rank's reader, opened while the file was whole
  std::vector<std::byte> first(w.data[0].size());
  before.read(w.path, w.extents[0], first.data());
  ASSERT_EQ(first, w.data[0]);

  const std::uint64_t cut = spill_test::file_size(w.path) / 2;
  ASSERT_EQ(::truncate(w.path.c_str(), static_cast<off_t>(cut)), 0);
  auto beyond = [cut](const Span& s) { return s.end > cut; };
  const Tally own = check_all(
      w, spans, beyond, "truncated", [&](const Extent& e, std::byte* out) { w.file->read(e, out); },
      "writer");
  EXPECT_GE(own.damaged, 10);
  EXPECT_GE(own.intact, 4);
  check_all(
      w, spans, beyond, "truncated",
      [&](const Extent& e, std::byte* out) { before.read(w.path, e, out); }, "open reader");
  // A reader that opens the file only now may be refused the whole file; never given bytes.
  SpillReader after;
  for (std::size_t i = 0; i < w.extents.size(); ++i) {
    const Result r =
        try_read([&](std::byte* out) { after.read(w.path, w.extents[i], out); }, w.data[i]);
    EXPECT_TRUE(r.outcome == Outcome::intact || r.outcome == Outcome::damaged ||
                r.outcome == Outcome::unreachable)
        << "piece " << i << ": " << r.message;
  }
}

TEST_P(Damage, ZeroedRegionFailsEveryPieceUnderIt) {
  TempDir dir;
  Written w = write_file(dir.file("rank-0.h5"), GetParam());
  const auto spans = spans_of(w);
  SpillReader before;
  std::vector<std::byte> first(w.data[0].size());
  before.read(w.path, w.extents[0], first.data());
  // Zeros over exactly the chunks (and their checksums) of one piece, whose checksums then
  // match the zeros, and over half a chunk further on.
  const Span whole{spans[9].front().begin, spans[9].back().end};
  const std::uint64_t part = spill_test::file_size(w.path) * 2 / 3;
  zero_range(w.path, whole.begin, whole.end - whole.begin);
  zero_range(w.path, part, kChunk / 2);
  auto hit = [&](const Span& s) {
    return (s.begin < whole.end && s.end > whole.begin) ||
           (s.begin < part + kChunk / 2 && s.end > part);
  };
  const Tally own = check_all(
      w, spans, hit, "checksum mismatch",
      [&](const Extent& e, std::byte* out) { w.file->read(e, out); }, "writer");
  EXPECT_GE(own.damaged, 2);
  EXPECT_GE(own.intact, 4);
  check_all(
      w, spans, hit, "checksum mismatch",
      [&](const Extent& e, std::byte* out) { before.read(w.path, e, out); }, "open reader");
  SpillReader after;
  check_all(
      w, spans, hit, "checksum mismatch",
      [&](const Extent& e, std::byte* out) { after.read(w.path, e, out); }, "new reader");
}

TEST_P(Damage, FlippedBitsFailThePieceInTheirChunk) {
  TempDir dir;
  Written w = write_file(dir.file("rank-0.h5"), GetParam());
  const auto spans = spans_of(w);
  // One bit in the middle of the first large piece's second chunk, one in the last chunk's
  // stored checksum (or compressed bytes).
  const Span a = spans[1][1];
  const Span b = spans.back().back();
  for (const std::uint64_t at : {(a.begin + a.end) / 2, b.end - 2}) {
    const int fd = ::open(w.path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(at)), 1);
    byte ^= 0x04;
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(at)), 1);
    ::close(fd);
  }
  auto hit = [&](const Span& s) {
    return (s.begin == a.begin && s.end == a.end) || (s.begin == b.begin && s.end == b.end);
  };
  check_all(
      w, spans, hit, "checksum mismatch",
      [&](const Extent& e, std::byte* out) { w.file->read(e, out); }, "writer");
  SpillReader reader;
  check_all(
      w, spans, hit, "checksum mismatch",
      [&](const Extent& e, std::byte* out) { reader.read(w.path, e, out); }, "reader");
}

TEST_P(Damage, MissingChunkIsNamed) {
  TempDir dir;
  Extent past;
  std::string path;
  {
    Written w = write_file(dir.file("rank-0.h5"), GetParam());
    path = w.path;
    past = {w.extents.back().offset + 3 * kChunk, 1000, 0};
  }
  // /objects grows by chunks nothing was written to, as an interrupted write leaves it.
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t objects = H5Dopen2(file, "objects", H5P_DEFAULT);
    const hid_t space = H5Dget_space(objects);
    hsize_t size = 0;
    H5Sget_simple_extent_dims(space, &size, nullptr);
    H5Sclose(space);
    const hsize_t grown = size + 8 * kChunk;
    ASSERT_GE(H5Dset_extent(objects, &grown), 0);
    H5Dclose(objects);
    H5Fclose(file);
  }
  SpillReader reader;
  const Result r = try_read([&](std::byte* out) { reader.read(path, past, out); },
                            std::vector<std::byte>(past.size));
  ASSERT_EQ(r.outcome, Outcome::damaged) << r.message;
  EXPECT_NE(r.message.find("missing chunk"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(path), std::string::npos) << r.message;
}

INSTANTIATE_TEST_SUITE_P(SpillFile, Damage, testing::Values(0, 6),
                         [](const testing::TestParamInfo<int>& p) {
                           return p.param == 0 ? std::string("Raw") : std::string("Deflate");
                         });

}  // namespace
