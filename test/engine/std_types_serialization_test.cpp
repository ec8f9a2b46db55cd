// The standard vocabulary types through Codec with no Boost include here (detail/std_types.h):
// tuple, variant, monostate, optional, pair, array, the containers, shared_ptr and unique_ptr of
// a value; nested, empty and null. Damaged bytes are a SerializationError, and the raw-memory
// paths are unchanged.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/serialization.h>

namespace {

using manta::Buffer;
using manta::Codec;
using manta::SerializationError;

template <class T>
T round_trip(const T& value) {
  Buffer b = manta::encode_value(value);
  return Codec<T>::decode(b.data(), b.size());
}

template <class T>
std::size_t encoded_size(const T& value) {
  return manta::encode_value(value).size();
}

/// Every strict prefix of the encoding fails to decode with a SerializationError.
template <class T>
void expect_every_truncation_fails(const T& value) {
  const Buffer whole = manta::encode_value(value);
  ASSERT_GT(whole.size(), 0u);
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_THROW((void)Codec<T>::decode(whole.data(), n), SerializationError)
        << manta::detail::type_name<T>() << ": the first " << n << " of " << whole.size()
        << " bytes";
  }
}

struct Cell {
  std::string name;
  std::vector<int> values;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name& values;
  }
  friend bool operator==(const Cell&, const Cell&) = default;
};

using Mixed = std::variant<int, std::string, std::vector<double>>;

TEST(StdTypes, Tuple) {
  const std::tuple<int, std::string, double> t{7, "seven", 7.5};
  EXPECT_EQ(round_trip(t), t);
  const std::tuple<std::string> one{"only"};
  EXPECT_EQ(round_trip(one), one);
  const std::tuple<> none;
  EXPECT_EQ(round_trip(none), none);
  const std::tuple<std::vector<std::string>, std::map<int, std::string>, Cell> nested{
      {"a", "", "c"}, {{1, "one"}, {2, "two"}}, {"cell", {1, 2, 3}}};
  EXPECT_EQ(round_trip(nested), nested);
}

TEST(StdTypes, VariantHoldingEachAlternative) {
  for (const Mixed& v : {Mixed{42}, Mixed{std::string("forty-two")}, Mixed{std::string()},
                         Mixed{std::vector<double>{4.0, 2.0}}, Mixed{std::vector<double>{}}}) {
    const Mixed r = round_trip(v);
    EXPECT_EQ(r.index(), v.index());
    EXPECT_EQ(r, v);
  }
  // Alternatives of one type are told apart by index.
  using Twins = std::variant<std::string, std::string>;
  const Twins second(std::in_place_index<1>, "second");
  EXPECT_EQ(round_trip(second).index(), 1u);
  EXPECT_EQ(std::get<1>(round_trip(second)), "second");
}

TEST(StdTypes, Monostate) {
  EXPECT_EQ(round_trip(std::monostate{}), std::monostate{});
  using Maybe = std::variant<std::monostate, std::string, Cell>;
  EXPECT_EQ(round_trip(Maybe{}), Maybe{});
  EXPECT_EQ(round_trip(Maybe{std::string("text")}), Maybe{std::string("text")});
  const Maybe cell{Cell{"c", {9}}};
  EXPECT_EQ(round_trip(cell), cell);
  const std::vector<Maybe> several{Maybe{}, Maybe{std::string("x")}, Maybe{}};
  EXPECT_EQ(round_trip(several), several);
}

TEST(StdTypes, Optional) {
  const std::optional<std::string> some{"value"};
  EXPECT_EQ(round_trip(some), some);
  const std::optional<std::string> empty;
  EXPECT_EQ(round_trip(empty), std::nullopt);
  const std::optional<int> raw{3};
  EXPECT_EQ(round_trip(raw), raw);
  const std::optional<std::vector<std::optional<std::string>>> inner{{"a", std::nullopt, "c"}};
  EXPECT_EQ(round_trip(inner), inner);
}

TEST(StdTypes, PairAndArray) {
  const std::pair<std::string, std::vector<int>> p{"p", {1, 2}};
  EXPECT_EQ(round_trip(p), p);
  const std::array<std::string, 3> words{"x", "", "z"};
  EXPECT_EQ(round_trip(words), words);
  const std::array<int, 4> ints{1, 2, 3, 4};
  EXPECT_EQ(round_trip(ints), ints);
  const std::pair<int, double> plain{1, 2.5};
  EXPECT_EQ(round_trip(plain), plain);
}

TEST(StdTypes, Containers) {
  const std::list<std::string> list{"a", "b", "c"};
  EXPECT_EQ(round_trip(list), list);
  const std::deque<int> deque{5, 6, 7};
  EXPECT_EQ(round_trip(deque), deque);
  const std::unordered_set<std::string> uset{"u", "v", "w"};
  EXPECT_EQ(round_trip(uset), uset);
  const std::unordered_map<std::string, std::vector<int>> umap{{"k", {1}}, {"l", {}}};
  EXPECT_EQ(round_trip(umap), umap);
  const std::multimap<int, std::string> mmap{{1, "a"}, {1, "b"}, {2, "c"}};
  EXPECT_EQ(round_trip(mmap), mmap);
  const std::multiset<std::string> mset{"x", "x", "y"};
  EXPECT_EQ(round_trip(mset), mset);
  const std::set<int> set{3, 1, 2};
  EXPECT_EQ(round_trip(set), set);
  const std::map<std::string, double> map{{"pi", 3.14}};
  EXPECT_EQ(round_trip(map), map);
}

TEST(StdTypes, EmptyContainers) {
  EXPECT_TRUE(round_trip(std::list<std::string>{}).empty());
  EXPECT_TRUE(round_trip(std::deque<double>{}).empty());
  EXPECT_TRUE(round_trip(std::unordered_set<int>{}).empty());
  EXPECT_TRUE(round_trip(std::unordered_map<int, std::string>{}).empty());
  EXPECT_TRUE(round_trip(std::multimap<int, int>{}).empty());
  EXPECT_TRUE(round_trip(std::multiset<int>{}).empty());
  EXPECT_TRUE(round_trip(std::vector<std::tuple<std::string, int>>{}).empty());
  EXPECT_TRUE(round_trip(std::map<std::string, Mixed>{}).empty());
}

TEST(StdTypes, SharedAndUniquePointers) {
  const auto shared = std::make_shared<std::vector<int>>(std::vector<int>{1, 2, 3});
  const auto r = round_trip(shared);
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r.get(), shared.get());
  EXPECT_EQ(*r, *shared);
  EXPECT_EQ(round_trip(std::shared_ptr<std::vector<int>>()), nullptr);
  EXPECT_EQ(*round_trip(std::make_shared<int>(5)), 5);
  EXPECT_EQ(*round_trip(std::make_shared<const std::string>("const")), "const");
  EXPECT_EQ(round_trip(std::make_shared<Cell>(Cell{"c", {1}}))->name, "c");

  const auto unique = round_trip(std::make_unique<std::string>("unique"));
  ASSERT_NE(unique, nullptr);
  EXPECT_EQ(*unique, "unique");
  EXPECT_EQ(round_trip(std::unique_ptr<std::string>()), nullptr);

  // Values, not references: two pointers to one object arrive as two objects.
  const auto one = std::make_shared<std::string>("one");
  const auto both = round_trip(std::vector<std::shared_ptr<std::string>>{one, one, nullptr});
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(*both[0], "one");
  EXPECT_EQ(*both[1], "one");
  EXPECT_NE(both[0], both[1]);
  EXPECT_EQ(both[2], nullptr);
}

TEST(StdTypes, Nested) {
  const std::vector<std::tuple<std::string, std::optional<int>>> rows{
      {"a", 1}, {"b", std::nullopt}, {"", 3}};
  EXPECT_EQ(round_trip(rows), rows);
  const std::map<std::string, Mixed> settings{
      {"n", 3}, {"name", std::string("run")}, {"weights", std::vector<double>{0.5, 0.25}}};
  EXPECT_EQ(round_trip(settings), settings);
  const std::unordered_map<int, std::shared_ptr<std::tuple<int, std::string>>> table{
      {1, std::make_shared<std::tuple<int, std::string>>(1, "x")}, {2, nullptr}};
  const auto t = round_trip(table);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(*t.at(1), *table.at(1));
  EXPECT_EQ(t.at(2), nullptr);
}

TEST(StdTypes, EveryTruncationIsASerializationError) {
  expect_every_truncation_fails(std::tuple<int, std::string, double>{1, "two", 3.0});
  expect_every_truncation_fails(Mixed{std::string("text")});
  expect_every_truncation_fails(Mixed{std::vector<double>{1, 2}});
  expect_every_truncation_fails(std::optional<std::string>{"x"});
  expect_every_truncation_fails(std::make_shared<std::vector<int>>(3, 1));
  expect_every_truncation_fails(std::shared_ptr<std::string>());
  expect_every_truncation_fails(std::make_unique<std::string>("u"));
  expect_every_truncation_fails(std::list<std::string>{"a", "b"});
  using Maybe = std::variant<std::monostate, int, std::string>;
  expect_every_truncation_fails(
      std::map<std::string, Maybe>{{"a", 1}, {"b", std::string("s")}, {"c", std::monostate{}}});
}

TEST(StdTypes, VariantIndexOutOfRangeIsASerializationError) {
  // A variant holding an int ends with its index (uint32) and the int.
  Buffer b = manta::encode_value(Mixed{7});
  ASSERT_GE(b.size(), 8u);
  std::uint32_t index = 99;
  std::memcpy(b.data() + b.size() - 8, &index, sizeof index);
  try {
    (void)Codec<Mixed>::decode(b.data(), b.size());
    FAIL() << "an index past the alternatives decoded";
  } catch (const SerializationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("variant index 99"), std::string::npos) << what;
  }
  // The first index past the end is rejected too.
  index = 3;
  std::memcpy(b.data() + b.size() - 8, &index, sizeof index);
  EXPECT_THROW((void)Codec<Mixed>::decode(b.data(), b.size()), SerializationError);
}

TEST(StdTypes, DamagedPresenceFlagIsASerializationError) {
  // A null pointer's encoding ends with its presence byte.
  Buffer b = manta::encode_value(std::shared_ptr<std::string>());
  b.data()[b.size() - 1] = std::byte{7};
  EXPECT_THROW((void)Codec<std::shared_ptr<std::string>>::decode(b.data(), b.size()),
               SerializationError);
  Buffer o = manta::encode_value(std::optional<std::string>());
  o.data()[o.size() - 1] = std::byte{2};
  EXPECT_THROW((void)Codec<std::optional<std::string>>::decode(o.data(), o.size()),
               SerializationError);
}

TEST(StdTypes, RawMemoryPathsAreUnchanged) {
  const std::vector<double> v(1000, 0.5);
  EXPECT_EQ(encoded_size(v), 8 * v.size());
  EXPECT_EQ(encoded_size(std::string(100, 's')), 100u);
  EXPECT_EQ(encoded_size(std::array<int, 4>{}), 16u);
  EXPECT_EQ(encoded_size(std::optional<double>{1.0}), sizeof(std::optional<double>));
  EXPECT_EQ(encoded_size(std::variant<int, double>{2.0}), sizeof(std::variant<int, double>));
  // Inside a Boost-encoded value, vectors of plain elements (tuples of them too) are one block:
  // each further element adds exactly its size.
  using Row = std::tuple<std::int32_t, double>;
  const auto rows = [](std::size_t n) {
    return std::tuple<std::string, std::vector<Row>>{"rows", std::vector<Row>(n, Row{1, 2.0})};
  };
  EXPECT_EQ(encoded_size(rows(100)) - encoded_size(rows(0)), 100 * sizeof(Row));
  const auto doubles = [](std::size_t n) { return std::make_shared<std::vector<double>>(n, 1.0); };
  EXPECT_EQ(encoded_size(doubles(100)) - encoded_size(doubles(0)), 100 * sizeof(double));
  const auto in_variant = [](std::size_t n) { return Mixed{std::vector<double>(n, 1.0)}; };
  EXPECT_EQ(encoded_size(in_variant(100)) - encoded_size(in_variant(0)), 100 * sizeof(double));
}

}  // namespace
