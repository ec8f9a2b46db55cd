// Codecs: raw memory for plain values and vectors of them, Boost.Serialization for the rest,
// type tags, and ObjectRefs travelling as ids.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/object_ref.h>
#include <manta/serialization.h>

namespace {

using manta::Buffer;
using manta::Codec;
using manta::ObjectId;
using manta::ObjectRef;
using manta::SerializationError;

struct Point {
  double x;
  std::int32_t y;
  char label[4];
};

struct Experiment {
  std::string name;
  std::map<std::string, int> counts;
  std::vector<std::string> tags;
  double scale = 0;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name& counts& tags& scale;
  }
  friend bool operator==(const Experiment&, const Experiment&) = default;
};

/// Writes an int but reads a string back: the bytes cannot be decoded as what they claim.
struct Mismatched {
  int n = 7;
  std::string s;
  template <class A>
  void serialize(A& ar, unsigned) {
    if constexpr (A::is_saving::value) {
      ar& n;
    } else {
      ar& s;
    }
  }
};

struct WithRefs {
  std::vector<ObjectRef<int>> refs;
  ObjectRef<double> single;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& refs& single;
  }
};

template <class T>
T round_trip(const T& value) {
  Buffer b = manta::encode_value(value);
  return Codec<T>::decode(b.data(), b.size());
}

template <class T>
std::string error_of_decode(const Buffer& b) {
  try {
    (void)Codec<T>::decode(b.data(), b.size());
  } catch (const SerializationError& e) {
    return e.what();
  }
  return "no SerializationError";
}

TEST(RawCodec, TriviallyCopyableStructRoundTrips) {
  static_assert(manta::detail::is_raw_v<Point>);
  const Point p{3.25, -17, {'a', 'b', 'c', '\0'}};
  Buffer b = manta::encode_value(p);
  EXPECT_EQ(b.size(), sizeof(Point));
  const Point q = Codec<Point>::decode(b.data(), b.size());
  EXPECT_EQ(q.x, 3.25);
  EXPECT_EQ(q.y, -17);
  EXPECT_STREQ(q.label, "abc");
}

TEST(RawCodec, WrongSizeThrowsSerializationError) {
  const Point p{1.0, 2, {}};
  Buffer b = manta::encode_value(p);
  EXPECT_THROW((void)Codec<Point>::decode(b.data(), b.size() - 1), SerializationError);
  EXPECT_THROW((void)Codec<Point>::decode(b.data(), 0), SerializationError);
  Buffer longer(sizeof(Point) + 8);
  EXPECT_THROW((void)Codec<Point>::decode(longer.data(), longer.size()), SerializationError);

  Buffer four = manta::encode_value(std::int32_t{5});
  const std::string what = error_of_decode<double>(four);
  EXPECT_NE(what.find("expected 8 bytes"), std::string::npos) << what;
  EXPECT_NE(what.find("got 4"), std::string::npos) << what;
  // A SerializationError is a manta::Error: catchable as the base too.
  EXPECT_THROW((void)Codec<double>::decode(four.data(), four.size()), manta::Error);
}

TEST(RawCodec, LargeVectorOfDoublesIsOneRawCopy) {
  static_assert(manta::detail::is_raw_vector<std::vector<double>>::value);
  constexpr std::size_t n = 1'000'000;
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 0.5 - 1000.0;
  Buffer b = manta::encode_value(v);
  EXPECT_EQ(b.size(), n * sizeof(double));
  const auto w = Codec<std::vector<double>>::decode(b.data(), b.size());
  ASSERT_EQ(w.size(), n);
  EXPECT_EQ(w, v);
  EXPECT_EQ(w[0], -1000.0);
  EXPECT_EQ(w[n - 1], static_cast<double>(n - 1) * 0.5 - 1000.0);
}

TEST(RawCodec, EmptyVectorAndPartialElement) {
  EXPECT_TRUE(round_trip(std::vector<double>{}).empty());
  Buffer b(12);  // one and a half doubles
  EXPECT_THROW((void)Codec<std::vector<double>>::decode(b.data(), b.size()), SerializationError);
}

TEST(StringCodec, RoundTripsBytesExactly) {
  const std::string s = std::string("hello\0world", 11) + " \xe2\x9c\x93";
  Buffer b = manta::encode_value(s);
  EXPECT_EQ(b.size(), s.size());  // raw characters, no length prefix
  EXPECT_EQ(round_trip(s), s);
  EXPECT_EQ(round_trip(std::string()), "");
  const std::string big(1 << 20, 'x');
  EXPECT_EQ(round_trip(big), big);
}

TEST(BoostCodec, UserStructWithMapAndVectorOfStrings) {
  static_assert(!manta::detail::is_raw_v<Experiment>);
  Experiment e;
  e.name = "run-42";
  e.counts = {{"alpha", 1}, {"beta", -2}, {"gamma", 300000}};
  e.tags = {"", "hot", std::string(1000, 'z')};
  e.scale = 0.125;
  const Experiment f = round_trip(e);
  EXPECT_EQ(f, e);
  EXPECT_EQ(f.counts.at("gamma"), 300000);
  EXPECT_EQ(f.tags.size(), 3u);
  EXPECT_EQ(f.tags[2].size(), 1000u);
}

TEST(BoostCodec, NestedVectors) {
  static_assert(!manta::detail::is_raw_vector<std::vector<std::vector<int>>>::value);
  const std::vector<std::vector<int>> v = {{1, 2, 3}, {}, {-4}, std::vector<int>(500, 9)};
  const auto w = round_trip(v);
  EXPECT_EQ(w, v);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_TRUE(w[1].empty());
  EXPECT_EQ(w[3].size(), 500u);
}

TEST(BoostCodec, TruncatedBytesThrowSerializationError) {
  Experiment e;
  e.name = "truncated";
  e.tags = {"a", "b"};
  Buffer b = manta::encode_value(e);
  ASSERT_GT(b.size(), 8u);
  EXPECT_THROW((void)Codec<Experiment>::decode(b.data(), b.size() / 2), SerializationError);
}

TEST(BoostCodec, ReadingAnotherTypeThanWasWrittenIsASerializationError) {
  Buffer b = manta::encode_value(Mismatched{});
  const std::string what = error_of_decode<Mismatched>(b);
  EXPECT_NE(what.find("cannot decode"), std::string::npos) << what;
  EXPECT_NE(what.find("Mismatched"), std::string::npos) << what;
}

TEST(DecodeTagged, MatchingTagDecodes) {
  Buffer b = manta::encode_value(std::string("tagged"));
  EXPECT_EQ(
      manta::decode_tagged<std::string>(manta::detail::type_tag<std::string>(), b.data(), b.size()),
      "tagged");
}

TEST(DecodeTagged, WrongTagNamesExpectedAndFoundTypes) {
  Buffer b = manta::encode_value(1.5);
  const std::uint64_t tag = manta::detail::type_tag<double>();
  EXPECT_NE(tag, manta::detail::type_tag<int>());
  try {
    (void)manta::decode_tagged<Point>(tag, b.data(), b.size());
    FAIL() << "decode_tagged accepted the tag of another type";
  } catch (const SerializationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("expected"), std::string::npos) << what;
    EXPECT_NE(what.find("Point"), std::string::npos) << what;
    EXPECT_NE(what.find("double"), std::string::npos) << what;
    EXPECT_EQ(e.info().kind, manta::ErrorKind::serialization);
  }
  // An unknown tag is reported as such.
  try {
    (void)manta::decode_tagged<double>(0x1234, b.data(), b.size());
    FAIL() << "decode_tagged accepted an unknown tag";
  } catch (const SerializationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("double"), std::string::npos) << what;
    EXPECT_NE(what.find("unknown"), std::string::npos) << what;
  }
}

TEST(DecodeTagged, TagsAreStablePerType) {
  EXPECT_EQ(manta::detail::type_tag<Experiment>(), manta::detail::type_tag<Experiment>());
  EXPECT_NE(manta::detail::type_tag<Experiment>(), manta::detail::type_tag<Point>());
  EXPECT_NE(manta::detail::type_tag<std::vector<int>>(),
            manta::detail::type_tag<std::vector<double>>());
  EXPECT_EQ(manta::detail::type_name_of_tag(manta::detail::type_tag<std::vector<int>>()),
            manta::detail::type_name<std::vector<int>>());
}

TEST(ObjectRefCodec, RoundTripsTheIdWithoutARuntime) {
  const ObjectId id{2, 0, 77};
  ObjectRef<int> ref(manta::detail::acquire_ref(id));
  ASSERT_TRUE(ref.valid());
  EXPECT_EQ(ref.id(), id);
  EXPECT_EQ(ref.owner(), 2);

  Buffer b = manta::encode_value(ref);
  EXPECT_EQ(b.size(), sizeof(ObjectId));
  const ObjectRef<int> back = Codec<ObjectRef<int>>::decode(b.data(), b.size());
  EXPECT_TRUE(back.valid());
  EXPECT_EQ(back.id(), id);
  EXPECT_EQ(back, ref);
}

TEST(ObjectRefCodec, EmptyRefStaysEmptyAndMalformedBytesThrow) {
  const ObjectRef<int> empty;
  EXPECT_FALSE(empty.valid());
  Buffer b = manta::encode_value(empty);
  const ObjectRef<int> back = Codec<ObjectRef<int>>::decode(b.data(), b.size());
  EXPECT_FALSE(back.valid());
  EXPECT_FALSE(back.id().valid());
  EXPECT_THROW((void)Codec<ObjectRef<int>>::decode(b.data(), b.size() - 1), SerializationError);
}

TEST(ObjectRefCodec, RefsInsideBoostSerializedValues) {
  WithRefs w;
  for (std::uint64_t s = 1; s <= 3; ++s) {
    w.refs.emplace_back(manta::detail::acquire_ref(ObjectId{1, 0, s * 10}));
  }
  w.refs.emplace_back();  // an empty ref in the middle of a vector
  w.single = ObjectRef<double>(manta::detail::acquire_ref(ObjectId{3, 0, 5}));
  const WithRefs r = round_trip(w);
  ASSERT_EQ(r.refs.size(), 4u);
  EXPECT_EQ(r.refs[0].id(), (ObjectId{1, 0, 10}));
  EXPECT_EQ(r.refs[2].id(), (ObjectId{1, 0, 30}));
  EXPECT_FALSE(r.refs[3].valid());
  EXPECT_EQ(r.single.id(), (ObjectId{3, 0, 5}));
}

}  // namespace
