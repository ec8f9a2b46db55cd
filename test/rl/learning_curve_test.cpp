// The window of recent returns; the learning curve's CSV read back, its PNG decoded again and
// looked at panel by panel, their errors on paths that cannot be written; and both surviving a
// Boost.Serialization round trip as a checkpoint takes them.
#include "learning_curve.h"

#include <cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <boost/archive/text_iarchive.hpp>
#include <boost/archive/text_oarchive.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using rl::CurvePoint;
using rl::LearningCurve;
using rl::RecentReturns;

// A fresh directory per test, removed afterwards.
class LearningCurveFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::temp_directory_path() / ("rl_curve_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

CurvePoint point(int iteration, std::int64_t steps, double seconds, double mean,
                 std::int64_t episodes) {
  CurvePoint p;
  p.iteration = iteration;
  p.env_steps = steps;
  p.seconds = seconds;
  p.mean_return = mean;
  p.episodes = episodes;
  return p;
}

// A curve shaped like a run that learns: returns rise from about 20 to past the target.
LearningCurve learning_run(int n) {
  LearningCurve c;
  for (int i = 1; i <= n; ++i) {
    const double frac = static_cast<double>(i) / n;
    c.add(point(i, static_cast<std::int64_t>(i) * 10240, 1.7 * i, 20 + 470 * frac * frac,
                static_cast<std::int64_t>(i) * 9));
  }
  return c;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (const char ch : s) {
    if (ch == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Counts of the pixel kinds that matter, in the left and right halves (the two panels).
struct PanelPixels {
  long curve = 0;   // the curve's blue
  long target = 0;  // the target line's red
  long ink = 0;     // anything not white
};

struct Decoded {
  int width = 0, height = 0;
  PanelPixels left, right;
};

Decoded decode_png(const std::string& path) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS)
      << cairo_status_to_string(cairo_surface_status(s));
  Decoded d;
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    return d;
  }
  cairo_surface_flush(s);
  d.width = cairo_image_surface_get_width(s);
  d.height = cairo_image_surface_get_height(s);
  const int stride = cairo_image_surface_get_stride(s);
  const unsigned char* data = cairo_image_surface_get_data(s);
  for (int y = 0; y < d.height; ++y) {
    const auto* row = reinterpret_cast<const std::uint32_t*>(data + static_cast<long>(y) * stride);
    for (int x = 0; x < d.width; ++x) {
      const std::uint32_t px = row[x];  // 0xAARRGGBB in either of cairo's 32-bit formats
      const int r = static_cast<int>((px >> 16) & 0xFF);
      const int g = static_cast<int>((px >> 8) & 0xFF);
      const int b = static_cast<int>(px & 0xFF);
      PanelPixels& p = x < d.width / 2 ? d.left : d.right;
      if (r < 250 || g < 250 || b < 250) ++p.ink;
      if (b > 130 && b - r > 80 && b - g > 30) ++p.curve;
      if (r > 160 && r - g > 80 && r - b > 80) ++p.target;
    }
  }
  cairo_surface_destroy(s);
  return d;
}

bool has_png_signature(const std::string& path) {
  const std::string bytes = read_all(path);
  return bytes.size() > 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

void expect_error_naming(const std::function<void()>& call, const std::string& path,
                         const std::string& cause) {
  try {
    call();
    ADD_FAILURE() << "expected std::runtime_error for " << path;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(cause), std::string::npos) << what;
  }
}

TEST(RecentReturns, KeepsTheLastCapacityReturns) {
  EXPECT_EQ(RecentReturns().capacity(), 100U);
  RecentReturns r(3);
  EXPECT_EQ(r.capacity(), 3U);
  EXPECT_EQ(r.count(), 0U);
  EXPECT_EQ(r.mean(), 0.0);
  r.add(1);
  r.add(2);
  EXPECT_EQ(r.count(), 2U);
  EXPECT_DOUBLE_EQ(r.mean(), 1.5);
  r.add(3);
  r.add(4);  // evicts 1
  EXPECT_EQ(r.count(), 3U);
  EXPECT_DOUBLE_EQ(r.mean(), 3.0);
  r.add(10);  // evicts 2
  EXPECT_DOUBLE_EQ(r.mean(), 17.0 / 3.0);
  EXPECT_THROW(RecentReturns(0), std::invalid_argument);
}

TEST(RecentReturns, HundredEpisodeMeanAsGymReportsIt) {
  RecentReturns r;
  for (int i = 1; i <= 250; ++i) r.add(static_cast<float>(i));
  EXPECT_EQ(r.count(), 100U);
  EXPECT_DOUBLE_EQ(r.mean(), 200.5);  // mean of 151..250
}

TEST_F(LearningCurveFiles, CsvReadsBackExactly) {
  LearningCurve c;
  const std::vector<CurvePoint> pts = {point(1, 2048, 0.1 + 0.2, 1.0 / 3.0, 7),
                                       point(2, 5'000'000'000, 123.456789012345678, 475.25, 1),
                                       point(3, 0, 1e-9, -2.5e-7, 0)};
  for (const auto& p : pts) c.add(p);
  ASSERT_EQ(c.points().size(), 3U);
  const std::string file = path("curve.csv");
  c.write_csv(file);

  std::istringstream in(read_all(file));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "iteration,env_steps,seconds,mean_return,episodes");
  for (const auto& want : pts) {
    ASSERT_TRUE(std::getline(in, line));
    const auto f = split(line, ',');
    ASSERT_EQ(f.size(), 5U) << line;
    EXPECT_EQ(std::stoi(f[0]), want.iteration);
    EXPECT_EQ(std::stoll(f[1]), want.env_steps);
    EXPECT_EQ(std::stod(f[2]), want.seconds) << f[2];  // exact: the text round-trips
    EXPECT_EQ(std::stod(f[3]), want.mean_return) << f[3];
    EXPECT_EQ(std::stoll(f[4]), want.episodes);
  }
  EXPECT_FALSE(std::getline(in, line)) << "extra line: " << line;

  LearningCurve empty;
  empty.write_csv(file);  // overwrites
  EXPECT_EQ(read_all(file), "iteration,env_steps,seconds,mean_return,episodes\n");
}

TEST_F(LearningCurveFiles, PngHasTheCurveAndTargetInBothPanels) {
  const std::string file = path("curve.png");
  learning_run(60).write_png(file, "PPO on CartPole-v1", 475);
  ASSERT_TRUE(has_png_signature(file));
  const Decoded d = decode_png(file);
  EXPECT_EQ(d.width, 1200);
  EXPECT_EQ(d.height, 450);
  for (const PanelPixels* p : {&d.left, &d.right}) {
    EXPECT_GT(p->curve, 300) << "the curve is drawn as a line across the panel";
    EXPECT_GT(p->target, 100) << "the dashed target line";
    EXPECT_GT(p->ink, p->curve + p->target) << "axes, ticks and labels";
  }
}

TEST_F(LearningCurveFiles, PngWithNoPointsHasAxesAndNoCurve) {
  const std::string file = path("empty.png");
  LearningCurve().write_png(file, "nothing yet", 475);
  ASSERT_TRUE(has_png_signature(file));
  const Decoded d = decode_png(file);
  EXPECT_EQ(d.width, 1200);
  EXPECT_EQ(d.height, 450);
  for (const PanelPixels* p : {&d.left, &d.right}) {
    EXPECT_EQ(p->curve, 0);
    EXPECT_GT(p->target, 100);
    EXPECT_GT(p->ink, 1000);
  }
}

TEST_F(LearningCurveFiles, PngWithOnePointShowsIt) {
  LearningCurve c;
  c.add(point(1, 4096, 2.5, 22.0, 180));
  const std::string file = path("one.png");
  c.write_png(file, "one iteration", 475);
  const Decoded d = decode_png(file);
  EXPECT_EQ(d.width, 1200);
  EXPECT_GT(d.left.curve, 20);
  EXPECT_GT(d.right.curve, 20);
}

TEST_F(LearningCurveFiles, UnwritablePathsThrowNamingPathAndCause) {
  const std::string missing = path("no/such/dir/curve");
  LearningCurve c = learning_run(5);
  expect_error_naming([&] { c.write_csv(missing + ".csv"); }, missing + ".csv",
                      "No such file or directory");
  expect_error_naming([&] { c.write_png(missing + ".png", "t", 475); }, missing + ".png",
                      "No such file or directory");
  // A directory where the file should be.
  const std::string dir = path("a_directory");
  fs::create_directories(dir);
  expect_error_naming([&] { c.write_csv(dir); }, dir, "Is a directory");
  expect_error_naming([&] { c.write_png(dir, "t", 475); }, dir, "Is a directory");
}

TEST(LearningCurveArchive, RoundTripsThroughBoostTextArchive) {
  LearningCurve curve = learning_run(7);
  curve.add(point(8, 1234567890123, 0.1 + 0.2, 1.0 / 3.0, 42));
  RecentReturns window(5);
  for (int i = 0; i < 7; ++i) window.add(static_cast<float>(10 * i) + 0.25F);

  std::stringstream buf;
  {
    boost::archive::text_oarchive out(buf);
    out << curve << window;
  }
  LearningCurve curve2;
  RecentReturns window2(100);
  {
    boost::archive::text_iarchive in(buf);
    in >> curve2 >> window2;
  }
  ASSERT_EQ(curve2.points().size(), curve.points().size());
  for (std::size_t i = 0; i < curve.points().size(); ++i) {
    const CurvePoint &a = curve.points()[i], &b = curve2.points()[i];
    EXPECT_EQ(a.iteration, b.iteration);
    EXPECT_EQ(a.env_steps, b.env_steps);
    EXPECT_EQ(a.seconds, b.seconds);
    EXPECT_EQ(a.mean_return, b.mean_return);
    EXPECT_EQ(a.episodes, b.episodes);
  }
  EXPECT_EQ(window2.capacity(), 5U);
  EXPECT_EQ(window2.count(), 5U);
  EXPECT_DOUBLE_EQ(window2.mean(), window.mean());
  // The restored window goes on evicting where the saved one would.
  window.add(1000);
  window2.add(1000);
  EXPECT_DOUBLE_EQ(window2.mean(), window.mean());
  EXPECT_EQ(window2.count(), 5U);
}

}  // namespace
