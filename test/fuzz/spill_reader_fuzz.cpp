// Fuzz target: reading a damaged spill file (spill/). At start it writes two spill files with
// SpillFile (one with raw chunks, one deflated), keeps their bytes and notes where the bytes
// Manta controls lie: the chunks of `/objects` (object bytes and their checksums) and of `/index`.
// Each input damages a copy of one of them (patches, zeroed runs and bit flips inside those
// regions, truncation anywhere) and SpillReader reads every object back: each read must return
// exactly the bytes that were written or throw SpillError; nothing else, never silently wrong
// bytes. HDF5's own metadata is left alone except by truncation: fuzzing HDF5's parser would
// find HDF5's bugs, not Manta's.
//
// Input: one byte choosing the file and whether the reader opens it before the damage, then
// operations of 3-20 bytes (see damage() below).
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "spill/spill_error.h"
#include "spill/spill_file.h"

namespace {

namespace fs = std::filesystem;
using manta::spill::Extent;
using manta::spill::SpillError;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "spill reader fuzz: %s\n", what.c_str());
  std::abort();
}

struct Region {
  std::uint64_t address = 0;
  std::uint64_t size = 0;
};

struct Sample {
  std::vector<std::byte> image;  // the whole file as written
  std::vector<Region> regions;   // chunks of /objects and /index in the file
  std::uint64_t region_bytes = 0;
  std::vector<Extent> extents;
  std::vector<std::vector<std::byte>> pieces;  // what each extent must read back as
};

std::vector<std::byte> read_file(const fs::path& path) {
  std::vector<std::byte> bytes(fs::file_size(path));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr || std::fread(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    fail("cannot read back " + path.string());
  }
  std::fclose(f);
  return bytes;
}

void write_file(const fs::path& path, const std::byte* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size) || ::close(fd) != 0) {
    fail("cannot write " + path.string());
  }
}

// Where each chunk of `dataset` lies in the file.
void add_chunks(hid_t file, const char* dataset, std::vector<Region>& out) {
  const hid_t d = H5Dopen2(file, dataset, H5P_DEFAULT);
  const hid_t space = d < 0 ? -1 : H5Dget_space(d);  // HDF5 1.10 does not take H5S_ALL here
  hsize_t n = 0;
  if (space < 0 || H5Dget_num_chunks(d, space, &n) < 0) {
    fail(std::string("cannot list the chunks of ") + dataset);
  }
  for (hsize_t i = 0; i < n; ++i) {
    hsize_t offset = 0;
    unsigned mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(d, space, i, &offset, &mask, &address, &size) < 0) {
      fail(std::string("cannot locate a chunk of ") + dataset);
    }
    out.push_back({address, size});
  }
  H5Sclose(space);
  H5Dclose(d);
}

Sample make_sample(const fs::path& dir, int compression) {
  const fs::path path = dir / ("sample-" + std::to_string(compression) + ".h5");
  Sample s;
  // Pieces across chunk borders, empty ones, a write of whole chunks and a batch of small ones.
  const std::vector<std::vector<std::uint64_t>> writes = {{300, 0, 1000}, {2048}, {10, 20, 30}};
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  {
    manta::spill::SpillOptions options;
    options.chunk_bytes = 512;
    options.compression = compression;
    auto file = manta::spill::SpillFile::create(path.string(), options);
    for (const auto& sizes : writes) {
      std::vector<manta::spill::Piece> batch;
      const std::size_t first = s.pieces.size();
      for (std::uint64_t size : sizes) {
        std::vector<std::byte> bytes(size);
        for (std::uint64_t i = 0; i < size; ++i) {
          // Half patterned, half random, so that deflate has something to do.
          state = state * 6364136223846793005ull + 1442695040888963407ull;
          bytes[i] = static_cast<std::byte>(i % 64 < 32 ? i : state >> 56);
        }
        s.pieces.push_back(std::move(bytes));
      }
      for (std::size_t i = first; i < s.pieces.size(); ++i) {
        batch.push_back({0, i, s.pieces[i].data(), s.pieces[i].size()});
      }
      for (const Extent& e : file->write(batch)) s.extents.push_back(e);
    }
  }
  s.image = read_file(path);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) fail("cannot open " + path.string());
  add_chunks(file, "objects", s.regions);
  add_chunks(file, "index", s.regions);
  H5Fclose(file);
  for (const Region& r : s.regions) {
    if (r.address + r.size > s.image.size()) fail("a chunk lies past the end of its file");
    s.region_bytes += r.size;
  }
  fs::remove(path);
  return s;
}

struct Setup {
  fs::path dir;
  std::vector<Sample> samples;

  Setup() {
    std::string templ = (fs::temp_directory_path() / "manta-spill-fuzz-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) fail("cannot make a temporary directory");
    dir = templ;
    samples.push_back(make_sample(dir, 0));
    samples.push_back(make_sample(dir, 1));
  }
  ~Setup() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// Reads little-endian fields from the input; past its end, zeros.
struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos = 0;
  [[nodiscard]] bool more() const { return pos < size; }
  std::uint64_t take(int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= std::uint64_t{pos < size ? data[pos] : std::uint8_t{0}} << (8 * i);
      ++pos;
    }
    return v;
  }
};

// The file offset of byte `at` of the controlled regions, taken in order.
std::uint64_t locate(const Sample& s, std::uint64_t at) {
  at %= s.region_bytes;
  for (const Region& r : s.regions) {
    if (at < r.size) return r.address + at;
    at -= r.size;
  }
  return 0;  // unreachable: at < region_bytes
}

// Applies the operations of `in` to `image`; returns the file's new size.
std::size_t damage(const Sample& s, Input& in, std::vector<std::byte>& image) {
  std::size_t size = image.size();
  while (in.more()) {
    const auto op = in.take(1) % 4;
    if (op == 0) {  // patch: position (2), length 1-16 (1), then the bytes
      const std::uint64_t at = in.take(2);
      const std::uint64_t n = in.take(1) % 16 + 1;
      for (std::uint64_t i = 0; i < n; ++i) {
        image[locate(s, at + i)] = static_cast<std::byte>(in.take(1));
      }
    } else if (op == 1) {  // zeros: position (2), length (2)
      const std::uint64_t at = in.take(2);
      const std::uint64_t n = in.take(2) % 4096;
      for (std::uint64_t i = 0; i < n; ++i) image[locate(s, at + i)] = std::byte{0};
    } else if (op == 2) {  // truncation anywhere: the fraction of the file kept, in 2^-24 (3)
      size = std::min<std::size_t>(size, (image.size() * in.take(3)) >> 24);
    } else {  // bit flip: position (2), bit (1)
      const std::uint64_t at = locate(s, in.take(2));
      image[at] ^= static_cast<std::byte>(1u << (in.take(1) % 8));
    }
  }
  return size;
}

// Reads every piece; each must come back as written or fail with SpillError.
void read_all(const Sample& s, manta::spill::SpillReader& reader, const std::string& path,
              bool damaged) {
  // Twice: the second pass reads small pieces from the reader's chunk cache.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < s.extents.size(); ++i) {
      std::vector<std::byte> out(s.pieces[i].size());
      try {
        reader.read(path, s.extents[i], out.data());
      } catch (const SpillError& e) {
        if (!damaged) fail(std::string("an undamaged file failed to read: ") + e.what());
        if (std::string(e.what()).find(path) == std::string::npos) {
          fail(std::string("a spill error does not name the file: ") + e.what());
        }
        continue;
      }
      if (out != s.pieces[i]) {
        fail("piece " + std::to_string(i) + " (" + std::to_string(s.extents[i].size) +
             " bytes at offset " + std::to_string(s.extents[i].offset) +
             ") read back different bytes without an error");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Setup& env = setup();
  Input in{data, size};
  // Bit 0: which file; bit 1: the reader has the file open (and a chunk cached) before the
  // damage, as another rank's reader would when a spill file is cut short under it.
  const auto mode = in.take(1);
  const Sample& s = env.samples[mode % env.samples.size()];
  const bool open_before = (mode & 2) != 0;
  const fs::path path = env.dir / "damaged.h5";
  manta::spill::SpillReader reader;
  if (open_before) {
    write_file(path, s.image.data(), s.image.size());
    read_all(s, reader, path.string(), false);
  }
  std::vector<std::byte> image = s.image;
  const std::size_t length = damage(s, in, image);
  const bool damaged = length != s.image.size() || image != s.image;
  // In place, as damage on disk happens: the same file, its bytes changed or cut short.
  write_file(path, image.data(), length);
  read_all(s, reader, path.string(), damaged);
  return 0;
}
