// What every member of a collective test group should end with, computed serially by the
// driver from the same inputs the members use: the inputs, their folds, the 64 MiB digests, and
// the expected results of each operation case by case.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <manta/collective.h>

namespace collective_reference {

using manta::collective::ReduceOp;

// The sizes every operation is run with: empty, one element, and an odd count.
constexpr std::size_t kSizes[] = {0, 1, 1001};
constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::prod, ReduceOp::min, ReduceOp::max};
// 64 MiB of floats.
constexpr std::uint64_t kBigCount = (64ull << 20) / sizeof(float);

inline const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::prod:
      return "prod";
    case ReduceOp::min:
      return "min";
    case ReduceOp::max:
      return "max";
  }
  return "?";
}

template <class T>
const char* type_label() {
  if constexpr (std::is_same_v<T, int>) return "int";
  if constexpr (std::is_same_v<T, float>) return "float";
  if constexpr (std::is_same_v<T, double>) return "double";
  if constexpr (std::is_same_v<T, std::uint64_t>) return "uint64";
  if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  return "?";
}

// ---- inputs and their serial reductions ------------------------------------------------------
// Inputs are small integers (halves for floating point) so that sums, products (of factors in
// -2..3), minima and maxima over up to four members are exact in every type: a correct result
// equals the serial fold bit for bit, whatever order the engine combines in. The 64-bit types
// use values past 32 bits.

template <class T>
T element(ReduceOp op, int seed, int member, std::size_t i) {
  const auto m = static_cast<std::size_t>(member);
  const auto s = static_cast<std::size_t>(seed);
  if (op == ReduceOp::prod) {
    static constexpr int kSigned[] = {-2, -1, 1, 2, 3};
    static constexpr int kUnsigned[] = {1, 2, 3, 1, 2};
    const std::size_t k = (i * 3 + m * 2 + s) % 5;
    if constexpr (std::is_unsigned_v<T>) {
      return static_cast<T>(kUnsigned[k]);
    } else {
      return static_cast<T>(kSigned[k]);
    }
  }
  const auto k = static_cast<long long>((i * 31 + m * 17 + s * 7) % 201);
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(k) * T(0.5) - T(50);
  } else if constexpr (std::is_unsigned_v<T>) {
    if constexpr (sizeof(T) == 8) {
      return static_cast<T>(k) + (static_cast<T>(m + 1) << 40);
    } else {
      return static_cast<T>(k);
    }
  } else if constexpr (sizeof(T) == 8) {
    return static_cast<T>(k - 100) * (T(1) << 33) - static_cast<T>(m);
  } else {
    return static_cast<T>(k - 100);
  }
}

template <class T>
std::vector<T> inputs(ReduceOp op, int seed, int member, std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = element<T>(op, seed, member, i);
  return v;
}

template <class T>
T combine(ReduceOp op, T a, T b) {
  switch (op) {
    case ReduceOp::sum:
      return static_cast<T>(a + b);
    case ReduceOp::prod:
      return static_cast<T>(a * b);
    case ReduceOp::min:
      return std::min(a, b);
    case ReduceOp::max:
      return std::max(a, b);
  }
  return a;
}

// Members 0..members-1's inputs from `offset` on, folded in member order.
template <class T>
std::vector<T> folded(ReduceOp op, int seed, int members, std::size_t n, std::size_t offset = 0) {
  std::vector<T> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    T acc = element<T>(op, seed, 0, offset + i);
    for (int m = 1; m < members; ++m) acc = combine(op, acc, element<T>(op, seed, m, offset + i));
    out[i] = acc;
  }
  return out;
}

// A value a buffer is filled with before a call that must not write it.
template <class T>
constexpr T kUntouched = static_cast<T>(111);

// 64 MiB cases: members' values are integers below 4096, so a float sum over four is exact.
inline float big_element(int member, std::size_t i) {
  return static_cast<float>((i * 7 + static_cast<std::size_t>(member) * 3) % 4096);
}

// What a member sends back of a 64 MiB result: its length, a hash of every element's bits, and
// three samples for the failure message.
struct Digest {
  std::uint64_t count = 0;
  std::uint64_t hash = 0;
  float first = 0, middle = 0, last = 0;
};

inline Digest digest_of(std::span<const float> v) {
  Digest d;
  d.count = v.size();
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (float x : v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    h = (h ^ bits) * 0x100000001b3ull;
  }
  d.hash = h;
  if (!v.empty()) {
    d.first = v.front();
    d.middle = v[v.size() / 2];
    d.last = v.back();
  }
  return d;
}

// ---- what the driver expects -----------------------------------------------------------------

template <class T>
struct Expected {
  std::vector<std::string> labels;
  std::vector<std::vector<T>> values;
  void add(std::string label, std::vector<T> v) {
    labels.push_back(std::move(label));
    values.push_back(std::move(v));
  }
};

inline std::string case_label(const char* what, std::size_t n) {
  return std::string(what) + ", " + std::to_string(n) + " elements";
}

template <class T>
Expected<T> expected_allreduce_cases(int members, int me) {
  Expected<T> e;
  int seed = 0;
  for (ReduceOp op : kOps) {
    for (std::size_t n : kSizes) {
      const std::string what = std::string("allreduce ") + op_name(op);
      e.add(case_label((what + " in place").c_str(), n), folded<T>(op, seed, members, n));
      e.add(case_label((what + " into a result").c_str(), n), folded<T>(op, seed + 1, members, n));
      e.add(case_label((what + ": input unchanged").c_str(), n), inputs<T>(op, seed + 1, me, n));
      seed += 2;
    }
  }
  return e;
}

template <class T>
Expected<T> expected_reduce_cases(int members, int me) {
  Expected<T> e;
  int seed = 0;
  for (int root : {members - 1, 0}) {
    for (std::size_t n : kSizes) {
      const std::string r = " to root " + std::to_string(root);
      e.add(case_label(("reduce sum in place" + r).c_str(), n),
            me == root ? folded<T>(ReduceOp::sum, seed, members, n)
                       : inputs<T>(ReduceOp::sum, seed, me, n));
      e.add(case_label(("reduce min into a result" + r).c_str(), n),
            me == root ? folded<T>(ReduceOp::min, seed + 1, members, n)
                       : std::vector<T>(n, kUntouched<T>));
      e.add(case_label(("reduce min: input unchanged" + r).c_str(), n),
            inputs<T>(ReduceOp::min, seed + 1, me, n));
      seed += 2;
    }
  }
  return e;
}

template <class T>
Expected<T> expected_broadcast_cases(int members) {
  Expected<T> e;
  int seed = 0;
  for (int root : {members - 1, members / 2, 0}) {
    for (std::size_t n : kSizes) {
      const std::string r = " from root " + std::to_string(root);
      e.add(case_label(("broadcast into a vector" + r).c_str(), n),
            inputs<T>(ReduceOp::sum, seed, root, n));
      e.add(case_label(("broadcast into an Array" + r).c_str(), n),
            inputs<T>(ReduceOp::sum, seed + 1, root, n));
      seed += 2;
    }
  }
  return e;
}

template <class T>
Expected<T> expected_allgather_cases(int members, int me) {
  Expected<T> e;
  int seed = 0;
  for (std::size_t n : kSizes) {
    std::vector<T> into, returned;
    for (int m = 0; m < members; ++m) {
      const auto a = inputs<T>(ReduceOp::sum, seed, m, n);
      const auto b = inputs<T>(ReduceOp::sum, seed + 1, m, n);
      into.insert(into.end(), a.begin(), a.end());
      returned.insert(returned.end(), b.begin(), b.end());
    }
    e.add(case_label("allgather into an Array", n), into);
    e.add(case_label("allgather returned", n), returned);
    e.add(case_label("allgather: input unchanged", n), inputs<T>(ReduceOp::sum, seed, me, n));
    seed += 2;
  }
  return e;
}

template <class T>
Expected<T> expected_reduce_scatter_cases(int members, int me) {
  Expected<T> e;
  int seed = 0;
  const auto block = [&](std::size_t n) { return static_cast<std::size_t>(me) * n; };
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
    for (std::size_t n : kSizes) {
      const std::string what = std::string("reduce_scatter ") + op_name(op);
      const auto total = n * static_cast<std::size_t>(members);
      e.add(case_label((what + " into a vector").c_str(), n),
            folded<T>(op, seed, members, n, block(n)));
      e.add(case_label((what + ": input unchanged").c_str(), total),
            inputs<T>(op, seed, me, total));
      e.add(case_label((what + " returned").c_str(), n),
            folded<T>(op, seed + 1, members, n, block(n)));
      seed += 2;
    }
  }
  return e;
}

template <class T>
Expected<T> expected_send_recv_cases(int members, int me) {
  Expected<T> e;
  if (me == 0) {
    for (int j = 1; j < members; ++j) {
      const std::string from = " from member " + std::to_string(j);
      e.add("first answer" + from, inputs<T>(ReduceOp::sum, 100 + j * 10 + 0, j, 1001));
      e.add("second answer" + from, inputs<T>(ReduceOp::sum, 100 + j * 10 + 1, j, 1));
    }
  } else {
    e.add("first message from member 0", inputs<T>(ReduceOp::sum, me * 10 + 0, 0, 1));
    e.add("second message from member 0", inputs<T>(ReduceOp::sum, me * 10 + 1, 0, 1001));
    e.add("third (empty) message from member 0", {});
  }
  const int prev = (me + members - 1) % members;
  e.add("ring message from member " + std::to_string(prev),
        inputs<T>(ReduceOp::sum, 200 + prev, prev, 1001));
  return e;
}

// Compares what member `who` returned with what it should have, case by case.
template <class T>
void expect_cases(const std::vector<std::vector<T>>& got, const Expected<T>& want,
                  const std::string& who) {
  ASSERT_EQ(got.size(), want.values.size()) << who << ": wrong number of results";
  for (std::size_t c = 0; c < got.size(); ++c) {
    const auto& g = got[c];
    const auto& w = want.values[c];
    const std::string where = who + ", " + type_label<T>() + ", " + want.labels[c];
    EXPECT_EQ(g.size(), w.size()) << where;
    if (g.size() != w.size()) continue;
    std::size_t wrong = 0, first = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (g[i] != w[i] && wrong++ == 0) first = i;
    }
    EXPECT_EQ(wrong, 0u) << where << ": " << wrong << " of " << g.size()
                         << " elements differ; the first at " << first << " is " << +g[first]
                         << ", expected " << +w[first];
  }
}

}  // namespace collective_reference
