// Dataset sources and sinks through the ranks: HDF5 and CSV round trips, binary files, and the
// errors a bad file gives (naming the file, and for CSV the line).
#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <manta/data.h>
#include <manta/manta.h>

namespace data = manta::data;
namespace fs = std::filesystem;

namespace {

double half(std::int64_t x) { return static_cast<double>(x) / 2; }
std::array<float, 4> quad(std::int64_t x) {
  const auto f = static_cast<float>(x);
  return {f, f + 0.25f, -f, f * f};
}
bool not_multiple_of_3(std::int64_t x) { return x % 3 != 0; }
std::pair<std::int64_t, std::string> labelled(std::int64_t x) {
  return {x, "row \"" + std::to_string(x) + "\", ok"};
}
std::pair<std::int64_t, std::string> parse(const data::CsvRow& r) {
  return {std::stoll(r.at(0)), r.at(1)};
}

/// A fresh directory every rank sees (they share this machine's file system).
class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("manta-io-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

}  // namespace

MANTA_REMOTE(half, quad, not_multiple_of_3, labelled, parse);

TEST_F(Files, Hdf5RoundTripOfNumbers) {
  auto ds = data::range(10000, 7).map(half);
  EXPECT_EQ(data::write_hdf5(ds, path("a.h5"), "/group/x"), 10000u);
  auto back = data::read_hdf5<double>(path("a.h5"), "/group/x", 5);
  EXPECT_EQ(back.count(), 10000u);  // from the file's shape, nothing read
  EXPECT_EQ(back.take_all(), ds.take_all());
  EXPECT_EQ(back.limit(3).take_all(), (std::vector<double>{0, 0.5, 1}));
}

TEST_F(Files, Hdf5RoundTripOfRowsOfFour) {
  auto ds = data::range(3001, 4).map(quad);
  EXPECT_EQ(data::write_hdf5(ds, path("b.h5"), "m"), 3001u);
  auto back = data::read_hdf5<std::array<float, 4>>(path("b.h5"), "m");
  EXPECT_EQ(back.take_all(), ds.take_all());
}

TEST_F(Files, Hdf5WriteOfUnknownRowCountMaterializesFirst) {
  auto ds = data::range(1000, 6).filter(not_multiple_of_3).map(half);
  const auto want = ds.take_all();
  EXPECT_EQ(data::write_hdf5(ds, path("c.h5"), "x"), want.size());
  EXPECT_EQ(data::read_hdf5<double>(path("c.h5"), "x").take_all(), want);
}

TEST_F(Files, Hdf5ReadOfTheWrongTypeNamesWhatTheFileHolds) {
  data::write_hdf5(data::range(10).map(half), path("d.h5"), "x");
  try {
    data::read_hdf5<std::int32_t>(path("d.h5"), "x");
    FAIL() << "expected a DataError";
  } catch (const data::DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("d.h5"), std::string::npos) << what;
    EXPECT_NE(what.find("f64"), std::string::npos) << what;
  }
  EXPECT_THROW(data::read_hdf5<double>(path("missing.h5"), "x"), data::DataError);
}

TEST_F(Files, CsvRoundTripWithHeaderAndQuotes) {
  auto ds = data::range(500, 4).map(labelled);
  EXPECT_EQ(data::write_csv(ds, path("out"), {"id", "label"}), 500u);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "out"))
    files += e.path().extension() == ".csv";
  EXPECT_EQ(files, 4u);
  auto back = data::read_csv(path("out")).map(parse);
  EXPECT_EQ(back.take_all(), ds.take_all());
}

TEST_F(Files, CsvWithABadLineFailsNamingFileAndLine) {
  {
    std::ofstream f(path("bad.csv"));
    f << "a,b\n1,2\n3,4\n5\n7,8\n";
  }
  try {
    data::read_csv(path("bad.csv")).take_all();
    FAIL() << "expected a TaskError";
  } catch (const manta::TaskError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.csv line 4"), std::string::npos) << what;
  }
  EXPECT_THROW(data::read_csv(path("nothing-*.csv")), data::DataError);
}

TEST_F(Files, BinaryFilesOneRowEach) {
  std::vector<std::string> names = {"x.bin", "y.bin", "z.bin"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::ofstream f(path(names[i]), std::ios::binary);
    f << std::string(i * 100 + 1, static_cast<char>('a' + i));
  }
  auto rows = data::read_binary_files(path("*.bin")).take_all();
  ASSERT_EQ(rows.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].path, path(names[i]));
    ASSERT_EQ(rows[i].data.size(), i * 100 + 1);
    EXPECT_EQ(rows[i].data.front(), static_cast<std::uint8_t>('a' + i));
  }
}
