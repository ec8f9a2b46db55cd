// Standard vocabulary types as task arguments, task results and put objects, on every rank. Only
// <manta/manta.h> is included: no Boost header is needed to send these types.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <manta/manta.h>

namespace {

using Value = std::variant<std::monostate, int, std::string, std::vector<double>>;
using Settings = std::map<std::string, Value>;

// Echoes the tuple with the executing rank and the string's length.
std::tuple<int, std::string, std::size_t> describe(std::tuple<std::string, std::optional<int>> in) {
  const auto& [text, n] = in;
  return {manta::rank(), text + (n ? "=" + std::to_string(*n) : "=none"), text.size()};
}

// Each alternative comes back changed, so the alternative is known on arrival.
Value bump(Value v) {
  struct Visitor {
    Value operator()(std::monostate) const { return 0; }
    Value operator()(int n) const { return n + 1; }
    Value operator()(const std::string& s) const { return s + "+"; }
    Value operator()(std::vector<double> d) const {
      d.push_back(1.5);
      return d;
    }
  };
  return std::visit(Visitor{}, std::move(v));
}

std::optional<std::string> lookup(const std::unordered_map<std::string, std::string>& table,
                                  const std::string& key) {
  const auto it = table.find(key);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

std::unordered_map<std::string, int> count_words(const std::vector<std::string>& words) {
  std::unordered_map<std::string, int> counts;
  for (const auto& w : words) ++counts[w];
  return counts;
}

std::set<int> evens(const std::set<int>& in) {
  std::set<int> out;
  for (int n : in) {
    if (n % 2 == 0) out.insert(n);
  }
  return out;
}

// A null pointer stays null; otherwise a new vector scaled by k.
std::shared_ptr<std::vector<int>> scaled(const std::shared_ptr<std::vector<int>>& v, int k) {
  if (!v) return nullptr;
  auto out = std::make_shared<std::vector<int>>(*v);
  for (int& x : *out) x *= k;
  return out;
}

// "-" gives a null pointer.
std::unique_ptr<std::string> boxed(const std::string& s) {
  if (s == "-") return nullptr;
  return std::make_unique<std::string>(s);
}

// Reads a put object: the number of settings and the name held under "name".
std::pair<std::size_t, std::string> read_settings(const Settings& s) {
  const auto it = s.find("name");
  if (it == s.end() || !std::holds_alternative<std::string>(it->second)) return {s.size(), ""};
  return {s.size(), std::get<std::string>(it->second)};
}

}  // namespace

MANTA_REMOTE(describe, bump, lookup, count_words, evens, scaled, boxed, read_settings);

TEST(StdTypes, TupleAndOptionalOnEveryRank) {
  for (int r = 0; r < manta::world_size(); ++r) {
    const auto a = *manta::get(manta::task(describe).on_rank(r).remote(
        std::tuple<std::string, std::optional<int>>{"width", 7}));
    EXPECT_EQ(a, std::make_tuple(r, std::string("width=7"), std::size_t{5}));
    const auto b = *manta::get(manta::task(describe).on_rank(r).remote(
        std::tuple<std::string, std::optional<int>>{"", std::nullopt}));
    EXPECT_EQ(b, std::make_tuple(r, std::string("=none"), std::size_t{0}));
  }
}

TEST(StdTypes, VariantEachAlternativeOnEveryRank) {
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(*manta::get(manta::task(bump).on_rank(r).remote(Value{})), Value{0});
    EXPECT_EQ(*manta::get(manta::task(bump).on_rank(r).remote(Value{41})), Value{42});
    EXPECT_EQ(*manta::get(manta::task(bump).on_rank(r).remote(Value{std::string("a")})),
              Value{std::string("a+")});
    EXPECT_EQ(*manta::get(manta::task(bump).on_rank(r).remote(Value{std::vector<double>{0.5}})),
              (Value{std::vector<double>{0.5, 1.5}}));
  }
}

TEST(StdTypes, UnorderedMapSetAndOptionalResults) {
  const std::unordered_map<std::string, std::string> table{{"k", "v"}, {"empty", ""}};
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(*manta::get(manta::task(lookup).on_rank(r).remote(table, std::string("k"))), "v");
    EXPECT_EQ(*manta::get(manta::task(lookup).on_rank(r).remote(table, std::string("empty"))),
              std::optional<std::string>(""));
    EXPECT_EQ(*manta::get(manta::task(lookup).on_rank(r).remote(table, std::string("none"))),
              std::nullopt);
    const auto counts = *manta::get(manta::task(count_words)
                                        .on_rank(r)
                                        .remote(std::vector<std::string>{"a", "b", "a", "c", "a"}));
    EXPECT_EQ(counts, (std::unordered_map<std::string, int>{{"a", 3}, {"b", 1}, {"c", 1}}));
    EXPECT_EQ(*manta::get(manta::task(evens).on_rank(r).remote(std::set<int>{1, 2, 3, 4, 6})),
              (std::set<int>{2, 4, 6}));
    EXPECT_TRUE(manta::get(manta::task(evens).on_rank(r).remote(std::set<int>{}))->empty());
  }
}

TEST(StdTypes, SharedAndUniquePointersOnEveryRank) {
  const auto v = std::make_shared<std::vector<int>>(std::vector<int>{1, 2, 3});
  for (int r = 0; r < manta::world_size(); ++r) {
    const auto out = *manta::get(manta::task(scaled).on_rank(r).remote(v, 10));
    ASSERT_NE(out, nullptr) << "rank " << r;
    EXPECT_EQ(*out, (std::vector<int>{10, 20, 30}));
    EXPECT_EQ(*v, (std::vector<int>{1, 2, 3}));  // the caller's value is untouched
    const std::shared_ptr<std::vector<int>> null;
    EXPECT_EQ(*manta::get(manta::task(scaled).on_rank(r).remote(null, 10)), nullptr);
    const auto box = manta::get(manta::task(boxed).on_rank(r).remote(std::string("box")));
    ASSERT_NE(*box, nullptr);
    EXPECT_EQ(**box, "box");
    EXPECT_EQ(*manta::get(manta::task(boxed).on_rank(r).remote(std::string("-"))), nullptr);
  }
}

TEST(StdTypes, PutAndGet) {
  const Settings settings{{"n", 3},
                          {"name", std::string("run")},
                          {"weights", std::vector<double>{0.5, 0.25}},
                          {"unset", std::monostate{}}};
  const auto ref = manta::put(settings);
  EXPECT_EQ(*manta::get(ref), settings);
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(*manta::get(manta::task(read_settings).on_rank(r).remote(ref)),
              std::make_pair(std::size_t{4}, std::string("run")));
  }

  using Rows = std::vector<std::tuple<std::string, std::optional<int>>>;
  const Rows rows{{"a", 1}, {"b", std::nullopt}};
  EXPECT_EQ(*manta::get(manta::put(rows)), rows);
  const auto shared = manta::get(manta::put(std::make_shared<std::vector<int>>(2, 9)));
  ASSERT_NE(*shared, nullptr);
  EXPECT_EQ(**shared, (std::vector<int>{9, 9}));
  EXPECT_EQ(*manta::get(manta::put(std::shared_ptr<std::vector<int>>())), nullptr);
  const std::unordered_map<int, std::set<std::string>> index{{1, {"x", "y"}}, {2, {}}};
  EXPECT_EQ(*manta::get(manta::put(index)), index);
}
