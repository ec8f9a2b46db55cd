// Manta's archives: vectors and arrays of trivially copyable elements inside a Boost-serialized
// value move as one block of memory (no call of the element's serialize, no per-element bytes);
// everything else still goes through Boost, exported polymorphic types included; damaged bytes
// are a SerializationError.
#include <gtest/gtest.h>

#include <array>
#include <boost/serialization/base_object.hpp>
#include <boost/serialization/export.hpp>
#include <boost/serialization/unique_ptr.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace {

using manta::Buffer;
using manta::Codec;
using manta::SerializationError;

/// Trivially copyable, with padding after `y`: its memory is 16 bytes, its members 12. The
/// counter shows whether Boost went through it element by element.
struct Point {
  double x = 0;
  std::int32_t y = 0;

  static inline int serialize_calls = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ++serialize_calls;
    ar& x& y;
  }
  friend bool operator==(const Point&, const Point&) = default;
};
static_assert(std::is_trivially_copyable_v<Point> && sizeof(Point) == 16);

/// Not trivially copyable: its vectors must still go element by element through serialize.
struct Named {
  std::string name;
  int n = 0;

  static inline int serialize_calls = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ++serialize_calls;
    ar& name& n;
  }
  friend bool operator==(const Named&, const Named&) = default;
};

struct Cloud {
  std::vector<Point> points;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& points;
  }
};

/// Raw containers in every position the task names, and containers that are not raw beside them.
struct Scene {
  std::string title;
  std::vector<Point> points;
  std::array<float, 3> color{};
  std::array<Point, 2> corners{};
  std::map<int, std::vector<std::pair<int, double>>> weights;
  std::vector<std::vector<Point>> rings;
  std::vector<std::pair<int, Point>> labelled;
  std::vector<std::tuple<std::int16_t, float, Point>> triples;
  std::vector<std::array<float, 3>> normals;
  std::vector<bool> flags;
  std::vector<std::string> labels;
  std::vector<Named> named;
  std::vector<std::vector<std::vector<int>>> nested;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& title& points& color& corners& weights& rings& labelled& triples& normals& flags& labels&
        named& nested;
  }
  friend bool operator==(const Scene&, const Scene&) = default;
};

Point point(int i) { return Point{i * 0.5 - 3.0, i * 7 - 1}; }

std::vector<Point> points(int n) {
  std::vector<Point> v;
  for (int i = 0; i < n; ++i) v.push_back(point(i));
  return v;
}

Scene full_scene() {
  Scene s;
  s.title = "scene";
  s.points = points(100);
  s.color = {0.25f, 0.5f, 1.0f};
  s.corners = {point(-1), point(-2)};
  s.weights = {{1, {{1, 0.5}, {2, -1.25}}}, {7, {}}, {-3, {{9, 1e300}}}};
  s.rings = {points(3), {}, points(17)};
  s.labelled = {{4, point(4)}, {5, point(5)}};
  s.triples = {{std::int16_t{-2}, 1.5f, point(8)}, {std::int16_t{3}, -0.0f, point(9)}};
  s.normals = {{0, 0, 1}, {1, 0, 0}};
  s.flags = {true, false, false, true, true};
  s.labels = {"", "a", std::string(300, 'q')};
  s.named = {{"first", 1}, {"", -2}, {"third", 3}};
  s.nested = {{}, {{}, {}}, {{1, 2}, {}, {3}}};
  return s;
}

template <class T>
T round_trip(const T& value) {
  Buffer b = manta::encode_value(value);
  return Codec<T>::decode(b.data(), b.size());
}

TEST(RawArchive, ElementTypesTheArchivesCopyAsMemory) {
  using manta::detail::is_bitwise_v;
  static_assert(is_bitwise_v<Point> && is_bitwise_v<const Point>);
  static_assert(is_bitwise_v<std::array<float, 3>> && is_bitwise_v<double>);
  static_assert(is_bitwise_v<std::pair<int, double>> && is_bitwise_v<std::pair<int, Point>>);
  static_assert(is_bitwise_v<std::tuple<std::int16_t, float, Point>>);
  static_assert(!is_bitwise_v<Named> && !is_bitwise_v<std::string>);
  static_assert(!is_bitwise_v<std::pair<int, std::string>>);
  static_assert(!is_bitwise_v<std::tuple<int, Named>>);
  static_assert(!is_bitwise_v<int*> && !is_bitwise_v<std::pair<int, int*>>);
  static_assert(!is_bitwise_v<manta::ObjectRef<int>>);
}

TEST(RawArchive, SceneRoundTripsEveryContainer) {
  const Scene s = full_scene();
  const Scene r = round_trip(s);
  EXPECT_EQ(r, s);
  EXPECT_EQ(r.rings[2].size(), 17u);
  EXPECT_TRUE(r.rings[1].empty());
  EXPECT_TRUE(r.weights.at(7).empty());
  EXPECT_EQ(r.weights.at(-3).front().second, 1e300);
  EXPECT_EQ(r.flags, (std::vector<bool>{true, false, false, true, true}));
  EXPECT_EQ(r.labels[2].size(), 300u);
  EXPECT_EQ(r.nested[2][2], std::vector<int>{3});
  EXPECT_TRUE(r.nested[1][1].empty());
}

TEST(RawArchive, EmptyContainersRoundTrip) {
  const Scene empty;
  EXPECT_EQ(round_trip(empty), empty);
  const std::vector<std::vector<std::vector<Point>>> hollow = {{}, {{}}, {{}, {}, {}}};
  EXPECT_EQ(round_trip(hollow), hollow);
}

TEST(RawArchive, PlainElementsNeverGoThroughTheirSerialize) {
  Point::serialize_calls = 0;
  Named::serialize_calls = 0;
  const Scene s = full_scene();
  EXPECT_EQ(round_trip(s), s);
  // Every Point sits in a vector, a std::array, a pair or a tuple: all copied as memory.
  EXPECT_EQ(Point::serialize_calls, 0);
  // Named is not trivially copyable: each of its 3 elements is written and read through Boost.
  EXPECT_EQ(Named::serialize_calls, 6);
}

TEST(RawArchive, VectorOfPointsInsideAStructHasNoPerElementBytes) {
  Point::serialize_calls = 0;
  const Buffer empty = manta::encode_value(Cloud{});
  Cloud cloud;
  cloud.points = points(1000);
  const Buffer full = manta::encode_value(cloud);
  // The same header (class information of the struct and of the vector, the count) and then the
  // points' memory, padding included; element by element they would take 12 bytes each.
  EXPECT_LE(empty.size(), 32u);
  EXPECT_EQ(full.size(), empty.size() + 1000 * sizeof(Point));
  EXPECT_EQ(std::memcmp(full.data() + empty.size(), cloud.points.data(), 1000 * sizeof(Point)), 0);
  const Cloud back = Codec<Cloud>::decode(full.data(), full.size());
  EXPECT_EQ(back.points, cloud.points);
  EXPECT_EQ(Point::serialize_calls, 0);
}

TEST(RawArchive, StdArrayAtTopLevelIsItsMemory) {
  static_assert(manta::detail::is_raw_v<std::array<float, 3>>);
  const std::array<float, 3> a{1.5f, -2.0f, 1e-7f};
  EXPECT_EQ(manta::encode_value(a).size(), sizeof(a));
  EXPECT_EQ(round_trip(a), a);
  // Elements that are not plain go through Boost.
  const std::array<std::string, 2> strings{"left", std::string(100, 'r')};
  EXPECT_EQ(round_trip(strings), strings);
}

TEST(RawArchive, VectorsThatAreNotRawStillGoThroughBoost) {
  const std::vector<bool> flags = {true, true, false, true, false, false, false, true, true};
  EXPECT_EQ(round_trip(flags), flags);
  EXPECT_TRUE(round_trip(std::vector<bool>{}).empty());
  const std::vector<std::string> words = {"alpha", "", std::string(5000, 'w'), "omega"};
  EXPECT_EQ(round_trip(words), words);
  Named::serialize_calls = 0;
  const std::vector<Named> named = {{"a", 1}, {"b", 2}};
  EXPECT_EQ(round_trip(named), named);
  EXPECT_EQ(Named::serialize_calls, 4);
}

/// Exported polymorphic types, reached through a base pointer, still travel (the archives are
/// registered with Boost), and raw vectors inside them move as memory.
struct Shape {
  virtual ~Shape() = default;
  [[nodiscard]] virtual std::size_t corners() const = 0;
  std::string name;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name;
  }
};

struct Polygon : Shape {
  std::vector<Point> vertices;
  [[nodiscard]] std::size_t corners() const override { return vertices.size(); }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& boost::serialization::base_object<Shape>(*this) & vertices;
  }
};

struct Drawing {
  std::vector<std::unique_ptr<Shape>> shapes;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& shapes;
  }
};

}  // namespace

BOOST_SERIALIZATION_ASSUME_ABSTRACT(Shape)
BOOST_CLASS_EXPORT(Polygon)

namespace {

TEST(RawArchive, ExportedTypesThroughABasePointer) {
  Point::serialize_calls = 0;
  Drawing d;
  auto triangle = std::make_unique<Polygon>();
  triangle->name = "triangle";
  triangle->vertices = points(3);
  d.shapes.push_back(std::move(triangle));
  auto empty = std::make_unique<Polygon>();
  empty->name = "empty";
  d.shapes.push_back(std::move(empty));
  d.shapes.push_back(nullptr);

  const Drawing r = round_trip(d);
  ASSERT_EQ(r.shapes.size(), 3u);
  const auto* first = dynamic_cast<const Polygon*>(r.shapes[0].get());
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->name, "triangle");
  EXPECT_EQ(first->vertices, points(3));
  EXPECT_EQ(r.shapes[1]->corners(), 0u);
  EXPECT_EQ(r.shapes[1]->name, "empty");
  EXPECT_EQ(r.shapes[2].get(), nullptr);
  EXPECT_EQ(Point::serialize_calls, 0);
}

TEST(RawArchive, EveryTruncationIsASerializationError) {
  const Buffer whole = manta::encode_value(full_scene());
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_THROW((void)Codec<Scene>::decode(whole.data(), n), SerializationError)
        << "decoding the first " << n << " of " << whole.size() << " bytes";
  }
  Cloud cloud;
  cloud.points = points(1000);
  const Buffer raw = manta::encode_value(cloud);
  // One byte short of the last point: the block read runs past the end.
  EXPECT_THROW((void)Codec<Cloud>::decode(raw.data(), raw.size() - 1), SerializationError);
}

TEST(RawArchive, CountBeyondTheBytesIsASerializationError) {
  Cloud cloud;
  cloud.points = points(1000);
  Buffer b = manta::encode_value(cloud);
  const std::size_t header = b.size() - 1000 * sizeof(Point);
  // The vector's element count is the header's last 8 bytes (Boost writes it as a size_t).
  ASSERT_GE(header, sizeof(std::uint64_t));
  std::uint64_t count = 0;
  std::memcpy(&count, b.data() + header - sizeof count, sizeof count);
  ASSERT_EQ(count, 1000u);
  count = 1'000'000;  // 16 MB of points claimed, 16 KB present
  std::memcpy(b.data() + header - sizeof count, &count, sizeof count);
  try {
    (void)Codec<Cloud>::decode(b.data(), b.size());
    FAIL() << "a count past the end of the bytes decoded";
  } catch (const SerializationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Cloud"), std::string::npos) << what;
  }
}

}  // namespace
