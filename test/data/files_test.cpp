// The file formats datasets read and write (manta/data/files.h), on their own: CSV, HDF5 rows,
// path patterns and directories. No MPI: every function here is called from plain threads.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <manta/data/files.h>

#include "spill/hdf5_lock.h"

namespace fs = std::filesystem;
using namespace manta::data;
using namespace manta::data::files;

namespace {

// A fresh directory for one test, removed after it.
class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("manta-files-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write_text(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
  }
  [[nodiscard]] std::string read_text(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

// The message of the DataError `f` throws; fails the test when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError thrown";
  return {};
}

// Whether `text` holds `part`, with both in the failure message.
::testing::AssertionResult Holds(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not hold '" << part << "'";
}

// ---- CSV ----

TEST_F(FilesTest, CsvRoundTripsAwkwardFields) {
  const CsvRow header{"name", "note, with comma", "empty"};
  const std::vector<CsvRow> rows{
      {"plain", "a,b", ""},
      {"say \"hi\"", "\"", "x"},
      {"two\nlines", "crlf\r\nend", "trailing\n"},
      {"", "", ""},
      {"unicode é ✓ 日本", "  spaces  ", "'single'"},
  };
  CsvOptions options;
  csv_write_file(path("a.csv"), rows, header, options);
  CsvRow header_back;
  const auto back = csv_read_file(path("a.csv"), options, &header_back);
  EXPECT_EQ(header_back, header);
  EXPECT_EQ(back, rows);

  // Without a header the header line is not written, and every line is a row.
  options.header = false;
  csv_write_file(path("b.csv"), rows, header, options);
  EXPECT_EQ(csv_read_file(path("b.csv"), options), rows);
}

TEST_F(FilesTest, CsvQuotesOnlyWhatNeedsQuotes) {
  CsvOptions options;
  options.header = false;
  csv_write_file(path("q.csv"), {{"a", "b c", "d,e", "f\"g"}}, {}, options);
  EXPECT_EQ(read_text("q.csv"), "a,b c,\"d,e\",\"f\"\"g\"\n");
  // A record of one empty field is quoted: a blank line would be no record.
  csv_write_file(path("e.csv"), {{""}, {"x"}}, {}, options);
  EXPECT_EQ(read_text("e.csv"), "\"\"\nx\n");
  EXPECT_EQ(csv_read_file(path("e.csv"), options), (std::vector<CsvRow>{{""}, {"x"}}));
}

TEST_F(FilesTest, CsvOtherDelimiter) {
  CsvOptions options;
  options.delimiter = ';';
  options.header = false;
  csv_write_file(path("s.csv"), {{"a;b", "c,d"}}, {}, options);
  EXPECT_EQ(read_text("s.csv"), "\"a;b\";c,d\n");
  EXPECT_EQ(csv_read_file(path("s.csv"), options), (std::vector<CsvRow>{{"a;b", "c,d"}}));
  options.delimiter = '"';
  EXPECT_TRUE(Holds(error_of([&] { csv_read_file(path("s.csv"), options); }), "delimiter"));
}

TEST_F(FilesTest, CsvReadsCrlfAndHeaders) {
  write_text("crlf.csv", "x,y\r\n1,\"a\r\nb\"\r\n3,4\r\n");
  CsvRow header;
  const auto rows = csv_read_file(path("crlf.csv"), CsvOptions{}, &header);
  EXPECT_EQ(header, (CsvRow{"x", "y"}));
  EXPECT_EQ(rows, (std::vector<CsvRow>{{"1", "a\r\nb"}, {"3", "4"}}));

  // Header off: the first line is a row. No final line end, a byte order mark, blank lines.
  write_text("lf.csv", "\xEF\xBB\xBFx,y\n\n1,2\n3,4");
  CsvOptions options;
  options.header = false;
  EXPECT_EQ(csv_read_file(path("lf.csv"), options),
            (std::vector<CsvRow>{{"x", "y"}, {"1", "2"}, {"3", "4"}}));
  // Header on with no header_out: skipped.
  options.header = true;
  EXPECT_EQ(csv_read_file(path("lf.csv"), options), (std::vector<CsvRow>{{"1", "2"}, {"3", "4"}}));

  // An empty file: no rows, an empty header.
  write_text("empty.csv", "");
  header = {"stale"};
  EXPECT_TRUE(csv_read_file(path("empty.csv"), options, &header).empty());
  EXPECT_TRUE(header.empty());
}

TEST_F(FilesTest, CsvWrongFieldCountNamesFileAndLine) {
  // Line 3's record spans lines 3-4; line 7 has 3 fields.
  write_text("bad.csv", "a,b,c,d\n1,2,3,4\n\"x\ny\",2,3,4\n5,6,7,8\n\n9,10,11\n");
  const std::string message = error_of([&] { csv_read_file(path("bad.csv"), CsvOptions{}); });
  EXPECT_EQ(message, path("bad.csv") + " line 7: 3 fields, expected 4 (as in line 1)");

  CsvOptions options;
  options.columns = 3;
  EXPECT_EQ(error_of([&] { csv_read_file(path("bad.csv"), options); }),
            path("bad.csv") + " line 1: 4 fields, expected 3 (the columns option)");
  options.columns = 0;
  options.header = false;
  write_text("bad2.csv", "1,2\n\"a\nb\",c,d\n");
  EXPECT_EQ(error_of([&] { csv_read_file(path("bad2.csv"), options); }),
            path("bad2.csv") + " line 2: 3 fields, expected 2 (as in line 1)");
}

TEST_F(FilesTest, CsvUnterminatedQuoteNamesItsLine) {
  write_text("open.csv", "a,b\n1,2\n3,\"never\nclosed,4\n5,6\n");
  EXPECT_EQ(error_of([&] { csv_read_file(path("open.csv"), CsvOptions{}); }),
            path("open.csv") +
                " line 3: a quoted field starts here and is never closed (a "
                "missing '\"')");
  write_text("after.csv", "a,b\n\"x\"y,2\n");
  EXPECT_TRUE(Holds(error_of([&] { csv_read_file(path("after.csv"), CsvOptions{}); }),
                    path("after.csv") + " line 2: 'y' after the closing quote"));
}

TEST_F(FilesTest, CsvMissingFileIsNamed) {
  EXPECT_TRUE(Holds(error_of([&] { csv_read_file(path("nope.csv"), CsvOptions{}); }),
                    "'" + path("nope.csv") + "' (No such file or directory)"));
  EXPECT_TRUE(
      Holds(error_of([&] { csv_write_file(path("no/dir/x.csv"), {{"1"}}, {}, CsvOptions{}); }),
            path("no/dir/x.csv")));
}

TEST_F(FilesTest, CsvFieldsOfNumbers) {
  EXPECT_EQ(csv_field(std::int64_t{-9223372036854775807LL - 1}), "-9223372036854775808");
  EXPECT_EQ(csv_field(std::uint64_t{18446744073709551615ULL}), "18446744073709551615");
  EXPECT_EQ(csv_field(0.1), "0.1");
  EXPECT_EQ(csv_field(1.0), "1");
  EXPECT_EQ(csv_field(-2.5e-300), "-2.5e-300");
  std::mt19937_64 gen(7);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t bits = gen();
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    const std::string text = csv_field(d);
    double back = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), back);
    EXPECT_TRUE(r.ec == std::errc() && r.ptr == text.data() + text.size()) << text;
    EXPECT_EQ(back, d) << text;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    EXPECT_LE(text.size(), std::strlen(buf));
  }
}

// ---- HDF5 ----

// Writes a dataset with the library, as another program would.
void make_dataset(const std::string& file, const std::string& name, hid_t type, int rank,
                  const hsize_t* dims, const void* data, hid_t dcpl = H5P_DEFAULT,
                  bool truncate = false) {
  const auto lock = manta::spill::hdf5_lock();
  hid_t f = truncate || !fs::exists(file)
                ? H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)
                : H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hid_t space = H5Screate_simple(rank, dims, nullptr);
  const hid_t d = H5Dcreate2(f, name.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  if (data != nullptr) {
    ASSERT_GE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
  }
  H5Dclose(d);
  H5Sclose(space);
  H5Pclose(lcpl);
  ASSERT_GE(H5Fclose(f), 0);
}

// The whole dataset read by the library (the file is valid HDF5 and holds these values).
template <typename T>
std::vector<T> read_with_hdf5(const std::string& file, const std::string& name, hid_t type,
                              std::size_t n) {
  const auto lock = manta::spill::hdf5_lock();
  std::vector<T> out(n);
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  const hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0);
  EXPECT_GE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

TEST_F(FilesTest, ElementNamesAndSizes) {
  EXPECT_STREQ(element_name(Element::i8), "i8");
  EXPECT_STREQ(element_name(Element::u64), "u64");
  EXPECT_STREQ(element_name(Element::f32), "f32");
  EXPECT_EQ(element_size(Element::u16), 2u);
  EXPECT_EQ(element_size(Element::f32), 4u);
  EXPECT_EQ(element_size(Element::i64), 8u);
  Hdf5Layout layout;
  layout.element = Element::i32;
  layout.row_width = 3;
  EXPECT_EQ(layout.row_bytes(), 12u);
}

TEST_F(FilesTest, Hdf5InspectsEveryElementType) {
  struct Case {
    Element element;
    hid_t file_type;
  };
  // Stored as other programs store them: the standard little-endian types.
  const std::vector<Case> cases{
      {Element::i8, H5T_STD_I8LE},    {Element::u8, H5T_STD_U8LE},   {Element::i16, H5T_STD_I16LE},
      {Element::u16, H5T_STD_U16LE},  {Element::i32, H5T_STD_I32LE}, {Element::u32, H5T_STD_U32LE},
      {Element::i64, H5T_STD_I64LE},  {Element::u64, H5T_STD_U64LE}, {Element::f32, H5T_IEEE_F32LE},
      {Element::f64, H5T_IEEE_F64LE},
  };
  const std::string file = path("types.h5");
  const hsize_t dims[2] = {5, 3};
  for (const Case& c : cases) {
    make_dataset(file, std::string("/g/") + element_name(c.element), c.file_type, 2, dims, nullptr);
  }
  for (const Case& c : cases) {
    const Hdf5Layout layout = hdf5_inspect(file, std::string("g/") + element_name(c.element));
    EXPECT_EQ(layout.element, c.element) << element_name(c.element);
    EXPECT_EQ(layout.rows, 5u);
    EXPECT_EQ(layout.row_width, 3u);
    EXPECT_EQ(layout.row_bytes(), 3 * element_size(c.element));
    EXPECT_EQ(layout.file, file);
  }
}

TEST_F(FilesTest, Hdf5RefusesWhatItCannotRead) {
  const std::string file = path("odd.h5");
  const hsize_t n[1] = {4};
  // A string dataset.
  const hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, 8);
  make_dataset(file, "/strings", str, 1, n, nullptr);
  H5Tclose(str);
  EXPECT_EQ(error_of([&] { hdf5_inspect(file, "/strings"); }),
            "HDF5 file '" + file +
                "' dataset '/strings': its elements are fixed-length string of 8 bytes; datasets "
                "read i8, u8, i16, u16, i32, u32, i64, u64, f32 and f64 (little-endian, as this "
                "machine holds them)");
  make_dataset(file, "/big", H5T_STD_I32BE, 1, n, nullptr);
  EXPECT_TRUE(Holds(error_of([&] { hdf5_inspect(file, "/big"); }),
                    "its elements are big-endian 32-bit signed integer"));
  const hsize_t cube[3] = {2, 2, 2};
  make_dataset(file, "/cube", H5T_NATIVE_DOUBLE, 3, cube, nullptr);
  EXPECT_TRUE(Holds(error_of([&] { hdf5_inspect(file, "/cube"); }), "has 3 dimensions"));

  EXPECT_EQ(error_of([&] { hdf5_inspect(file, "/missing"); }),
            "HDF5 file '" + file + "': has no dataset '/missing'");
  EXPECT_EQ(error_of([&] { hdf5_inspect(file, "/no/such"); }),
            "HDF5 file '" + file + "': has no dataset '/no/such' (no group '/no')");
  make_dataset(file, "/grp/x", H5T_NATIVE_DOUBLE, 1, n, nullptr);
  EXPECT_TRUE(Holds(error_of([&] { hdf5_inspect(file, "/grp"); }), "is a group, not a dataset"));

  EXPECT_TRUE(Holds(error_of([&] { hdf5_inspect(path("absent.h5"), "/x"); }),
                    "HDF5 file '" + path("absent.h5") + "': cannot open it (No such file"));
  write_text("text.h5", "this is not HDF5\n");
  EXPECT_EQ(error_of([&] { hdf5_inspect(path("text.h5"), "/x"); }),
            "HDF5 file '" + path("text.h5") + "': is not an HDF5 file");
}

TEST_F(FilesTest, Hdf5WritesRangesFromThreadsAtOnce) {
  for (const std::uint64_t width : {std::uint64_t{1}, std::uint64_t{3}}) {
    SCOPED_TRACE("row width " + std::to_string(width));
    Hdf5Layout layout;
    layout.file = path("out" + std::to_string(width) + ".h5");
    layout.dataset = "/deep/group/values";
    layout.element = Element::f64;
    layout.rows = 3000;
    layout.row_width = width;
    hdf5_create(layout);

    const std::size_t n = layout.rows * width;
    std::vector<double> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = static_cast<double>(i) * 0.5 - 7;
    // Three disjoint ranges, of unequal sizes, written at once.
    const std::array<std::pair<std::uint64_t, std::uint64_t>, 3> ranges{
        {{0, 1000}, {1000, 1500}, {2500, 500}}};
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (const auto& [first, count] : ranges) {
      threads.emplace_back([&, first = first, count = count] {
        try {
          hdf5_write_rows(layout, first, count,
                          reinterpret_cast<const std::byte*>(values.data() + first * width));
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(failures, 0);

    const Hdf5Layout seen = hdf5_inspect(layout.file, "deep/group/values");
    EXPECT_EQ(seen.rows, layout.rows);
    EXPECT_EQ(seen.row_width, width);
    EXPECT_EQ(seen.element, Element::f64);

    std::vector<double> back(n, -1);
    hdf5_read_rows(seen, 0, seen.rows, reinterpret_cast<std::byte*>(back.data()));
    EXPECT_EQ(back, values);
    // A range in the middle, crossing the writers' boundaries.
    std::vector<double> part(200 * width);
    hdf5_read_rows(seen, 900, 200, reinterpret_cast<std::byte*>(part.data()));
    EXPECT_EQ(part,
              std::vector<double>(values.begin() + 900 * width, values.begin() + 1100 * width));
    EXPECT_EQ(read_with_hdf5<double>(layout.file, layout.dataset, H5T_NATIVE_DOUBLE, n), values);
  }
}

TEST_F(FilesTest, Hdf5CreateEveryElementTypeRoundTrips) {
  for (const Element e : {Element::i8, Element::u8, Element::i16, Element::u16, Element::i32,
                          Element::u32, Element::i64, Element::u64, Element::f32}) {
    Hdf5Layout layout{path("t.h5"), "/v", e, 10, 2};
    hdf5_create(layout);
    std::vector<std::byte> bytes(layout.rows * layout.row_bytes());
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 37 + 1);
    hdf5_write_rows(layout, 0, layout.rows, bytes.data());
    const Hdf5Layout seen = hdf5_inspect(layout.file, layout.dataset);
    EXPECT_EQ(seen.element, e) << element_name(e);
    std::vector<std::byte> back(bytes.size());
    hdf5_read_rows(seen, 0, seen.rows, back.data());
    EXPECT_EQ(back, bytes) << element_name(e);
  }
}

TEST_F(FilesTest, Hdf5ReadsContiguousDataAfterAUserBlock) {
  // Another program's file, contiguous, behind a 512-byte user block: positioned reads must
  // start at the raw data's address in the file, not in HDF5's address space.
  const std::string file = path("userblock.h5");
  std::vector<std::uint16_t> values(777);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::uint16_t>(i * 3);
  {
    const auto lock = manta::spill::hdf5_lock();
    const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, 512);
    const hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Pclose(fcpl);
    H5Fclose(f);
  }
  const hsize_t dims[1] = {777};
  make_dataset(file, "/u", H5T_STD_U16LE, 1, dims, values.data());
  const Hdf5Layout layout = hdf5_inspect(file, "/u");
  EXPECT_EQ(layout.element, Element::u16);
  std::vector<std::uint16_t> back(300);
  hdf5_read_rows(layout, 400, 300, reinterpret_cast<std::byte*>(back.data()));
  EXPECT_EQ(back, std::vector<std::uint16_t>(values.begin() + 400, values.begin() + 700));
}

TEST_F(FilesTest, Hdf5RangesOutsideTheDatasetAreRefused) {
  Hdf5Layout layout{path("r.h5"), "/x", Element::i32, 10, 1};
  hdf5_create(layout);
  std::vector<std::int32_t> buf(20);
  auto* out = reinterpret_cast<std::byte*>(buf.data());
  EXPECT_EQ(error_of([&] { hdf5_read_rows(layout, 5, 6, out); }),
            "HDF5 file '" + layout.file +
                "' dataset '/x': rows [5, 11) are outside the dataset's 10 rows");
  EXPECT_TRUE(Holds(error_of([&] { hdf5_read_rows(layout, 11, 0, out); }), "rows [11, 11)"));
  EXPECT_TRUE(Holds(error_of([&] { hdf5_write_rows(layout, 9, 2, out); }), "rows [9, 11)"));
  EXPECT_TRUE(Holds(error_of([&] { hdf5_read_rows(layout, ~std::uint64_t{0}, 2, out); }),
                    "outside the dataset's 10 rows"));
  // An empty range at the end is fine and touches nothing.
  hdf5_read_rows(layout, 10, 0, out);

  // A file rewritten since it was inspected is not read as the old shape.
  Hdf5Layout stale = layout;
  stale.rows = 5;
  hdf5_create(Hdf5Layout{layout.file, "/x", Element::i32, 4, 1});
  EXPECT_TRUE(
      Holds(error_of([&] { hdf5_read_rows(stale, 0, 1, out); }), "changed since it was inspected"));
}

TEST_F(FilesTest, Hdf5CreateNamesTheFileWhenItCannot) {
  EXPECT_TRUE(Holds(error_of([&] {
                      hdf5_create(Hdf5Layout{path("no/such/dir/x.h5"), "/x", Element::f64, 4, 1});
                    }),
                    "HDF5 file '" + path("no/such/dir/x.h5") + "': cannot create it"));
}

TEST_F(FilesTest, Hdf5ReadsChunkedCompressedDatasets) {
  const std::string file = path("chunked.h5");
  const hsize_t dims[2] = {1000, 4};
  std::vector<std::int64_t> values(1000 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int64_t>(i * i) - 5;
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[2] = {64, 4};
  H5Pset_chunk(dcpl, 2, chunk);
  H5Pset_deflate(dcpl, 6);
  make_dataset(file, "/z", H5T_STD_I64LE, 2, dims, values.data(), dcpl);
  H5Pclose(dcpl);

  const Hdf5Layout layout = hdf5_inspect(file, "/z");
  EXPECT_EQ(layout.element, Element::i64);
  EXPECT_EQ(layout.rows, 1000u);
  EXPECT_EQ(layout.row_width, 4u);
  std::vector<std::int64_t> back(130 * 4);
  hdf5_read_rows(layout, 100, 130, reinterpret_cast<std::byte*>(back.data()));
  EXPECT_EQ(back, std::vector<std::int64_t>(values.begin() + 400, values.begin() + 920));
  // Rows cannot be written in place into chunks.
  EXPECT_TRUE(Holds(error_of([&] {
                      hdf5_write_rows(layout, 0, 1,
                                      reinterpret_cast<const std::byte*>(values.data()));
                    }),
                    "not one allocated run of bytes"));
}

TEST_F(FilesTest, Hdf5ReadsFromManyThreadsAtOnce) {
  // Chunked, so every read goes through the library: four threads at once must each get their
  // rows (the library is not thread-safe; the process-wide lock makes this work).
  const std::string file = path("shared.h5");
  const hsize_t dims[1] = {20000};
  std::vector<float> values(20000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f;
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[1] = {512};
  H5Pset_chunk(dcpl, 1, chunk);
  H5Pset_deflate(dcpl, 1);
  make_dataset(file, "/f", H5T_NATIVE_FLOAT, 1, dims, values.data(), dcpl);
  H5Pclose(dcpl);
  // And a contiguous one, read with positioned reads beside them.
  Hdf5Layout flat{path("flat.h5"), "/f", Element::f32, 20000, 1};
  hdf5_create(flat);
  hdf5_write_rows(flat, 0, flat.rows, reinterpret_cast<const std::byte*>(values.data()));

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 gen(static_cast<unsigned>(t));
      try {
        for (int i = 0; i < 60; ++i) {
          const Hdf5Layout layout = hdf5_inspect(i % 3 == 0 ? flat.file : file, "/f");
          const std::uint64_t first = gen() % 19000;
          const std::uint64_t count = 1 + gen() % 1000;
          std::vector<float> out(count);
          hdf5_read_rows(layout, first, count, reinterpret_cast<std::byte*>(out.data()));
          if (!std::equal(out.begin(), out.end(), values.begin() + static_cast<long>(first))) {
            ++wrong;
          }
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

// ---- paths ----

TEST_F(FilesTest, ExpandPathsGlobsDirectoriesAndFiles) {
  for (const char* name : {"b.csv", "a.csv", "c.txt", "a[1].csv"}) write_text(name, "x\n");
  fs::create_directories(dir_ / "sub.csv");  // a directory that matches: not a file
  write_text("sub.csv/inner.csv", "x\n");

  EXPECT_EQ(expand_paths(path("*.csv")),
            (std::vector<std::string>{path("a.csv"), path("a[1].csv"), path("b.csv")}));
  EXPECT_EQ(expand_paths(path("?.csv")), (std::vector<std::string>{path("a.csv"), path("b.csv")}));
  EXPECT_EQ(expand_paths(dir_.string()), (std::vector<std::string>{path("a.csv"), path("a[1].csv"),
                                                                   path("b.csv"), path("c.txt")}));
  EXPECT_EQ(expand_paths(path("c.txt")), (std::vector<std::string>{path("c.txt")}));
  // A file whose name reads as a glob is that file.
  EXPECT_EQ(expand_paths(path("a[1].csv")), (std::vector<std::string>{path("a[1].csv")}));

  EXPECT_EQ(error_of([&] { expand_paths(path("*.parquet")); }),
            "no files match '" + path("*.parquet") +
                "' (a glob such as data/*.csv, a directory or a file)");
  EXPECT_TRUE(Holds(error_of([&] { expand_paths(path("missing.csv")); }),
                    "no files match '" + path("missing.csv") + "'"));
  fs::create_directories(dir_ / "empty");
  EXPECT_TRUE(Holds(error_of([&] { expand_paths(path("empty")); }), "holds no files"));
}

TEST_F(FilesTest, ReadWholeFile) {
  std::string text(200000, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7);
  write_text("bin", text);
  const auto bytes = read_whole_file(path("bin"));
  ASSERT_EQ(bytes.size(), text.size());
  EXPECT_EQ(std::memcmp(bytes.data(), text.data(), text.size()), 0);
  write_text("zero", "");
  EXPECT_TRUE(read_whole_file(path("zero")).empty());
  EXPECT_EQ(error_of([&] { read_whole_file(path("gone")); }),
            "cannot read '" + path("gone") + "' (No such file or directory)");
  EXPECT_TRUE(Holds(error_of([&] { read_whole_file(dir_.string()); }), "Is a directory"));
}

TEST_F(FilesTest, MakeDirectories) {
  make_directories(path("a/b/c"));
  EXPECT_TRUE(fs::is_directory(path("a/b/c")));
  make_directories(path("a/b/c"));  // already there
  write_text("file", "x");
  EXPECT_EQ(error_of([&] { make_directories(path("file/sub")); }),
            "cannot create the directory '" + path("file/sub") + "' (Not a directory)");
  EXPECT_TRUE(Holds(error_of([&] { make_directories(path("file")); }), path("file")));
}

}  // namespace
