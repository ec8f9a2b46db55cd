// The checks every rank runs on the headers of a collective operation, the choice of going
// inline, and the element-wise reductions used to combine members on one rank.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "engine/collective_call.h"
#include "engine/collective_group.h"

namespace manta::engine {
namespace {

using collective::ReduceOp;
using collective::detail::Call;
using collective::detail::Element;
using collective::detail::Kind;

CallShape shape(Kind k, Element e, std::uint64_t in, std::uint64_t out, int member, int peer = -1,
                ReduceOp op = ReduceOp::sum) {
  Call c;
  c.kind = k;
  c.element = e;
  c.in_count = in;
  c.out_count = out;
  c.peer = peer;
  c.op = op;
  return shape_of(c, member);
}

std::vector<ActorId> members(int n) {
  std::vector<ActorId> out;
  for (int i = 0; i < n; ++i) out.push_back(ActorId{0, 0, static_cast<std::uint64_t>(10 + i)});
  return out;
}

LegHeader header(std::uint64_t seq, CallShape first) {
  LegHeader h;
  h.seq = seq;
  h.first = first;
  return h;
}

TEST(CollectiveCall, SameCallsPass) {
  std::vector<LegHeader> hs = {header(3, shape(Kind::allreduce, Element::f32, 10, 10, 0)),
                               header(3, shape(Kind::allreduce, Element::f32, 10, 10, 1))};
  EXPECT_FALSE(check_headers(hs, 3, members(2)));
}

TEST(CollectiveCall, DifferentSizesNameBothMembers) {
  std::vector<LegHeader> hs = {header(0, shape(Kind::allreduce, Element::f32, 10, 10, 0)),
                               header(0, shape(Kind::allreduce, Element::f32, 12, 12, 1))};
  const auto problem = check_headers(hs, 0, members(2));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("member 0 (actor:0:10) called allreduce of 10 float"), std::string::npos)
      << *problem;
  EXPECT_NE(problem->find("member 1 (actor:0:11) called allreduce of 12 float"), std::string::npos)
      << *problem;
}

TEST(CollectiveCall, DifferentTypesKindsRootsAndReductionsDiffer) {
  const auto base = shape(Kind::allreduce, Element::f32, 4, 4, 0);
  EXPECT_FALSE(same_call(base, shape(Kind::allreduce, Element::f64, 4, 4, 1)));
  EXPECT_FALSE(same_call(base, shape(Kind::allreduce, Element::f32, 4, 4, 1, -1, ReduceOp::max)));
  EXPECT_FALSE(same_call(base, shape(Kind::broadcast, Element::f32, 4, 4, 1, 0)));
  EXPECT_FALSE(same_call(shape(Kind::broadcast, Element::i32, 4, 4, 0, 0),
                         shape(Kind::broadcast, Element::i32, 4, 4, 1, 1)));
  // reduce: only the root's result buffer counts.
  EXPECT_TRUE(same_call(shape(Kind::reduce, Element::i32, 4, 4, 0, 0),
                        shape(Kind::reduce, Element::i32, 4, 0, 1, 0)));
  CallShape gpu = base;
  gpu.place = 1;
  EXPECT_FALSE(same_call(base, gpu));
}

TEST(CollectiveCall, CallsThatCannotBeRightAlone) {
  EXPECT_TRUE(invalid_call(shape(Kind::allgather, Element::i32, 3, 10, 0), 4));
  EXPECT_FALSE(invalid_call(shape(Kind::allgather, Element::i32, 3, 12, 0), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::reduce_scatter, Element::i32, 10, 3, 0), 4));
  EXPECT_FALSE(invalid_call(shape(Kind::reduce_scatter, Element::i32, 12, 3, 0), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::broadcast, Element::i32, 3, 3, 0, 4), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::broadcast, Element::i32, 3, 3, 0, -1), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::send, Element::i32, 3, 0, 2, 2), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::allreduce, Element::i32, 3, 4, 0), 4));
  EXPECT_TRUE(invalid_call(shape(Kind::reduce, Element::i32, 3, 2, 1, 1), 4));
  EXPECT_FALSE(invalid_call(shape(Kind::reduce, Element::i32, 3, 0, 2, 1), 4));
}

TEST(CollectiveCall, LocalDifferenceAndWrongNumberAreFound) {
  LegHeader h = header(5, shape(Kind::allreduce, Element::i32, 8, 8, 0));
  h.differing = shape(Kind::allreduce, Element::i32, 9, 9, 2);
  std::vector<LegHeader> hs = {h, header(5, shape(Kind::allreduce, Element::i32, 8, 8, 1))};
  auto problem = check_headers(hs, 5, members(3));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("member 2"), std::string::npos) << *problem;
  hs[1].seq = 6;
  problem = check_headers(hs, 5, members(3));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("number"), std::string::npos) << *problem;
}

TEST(CollectiveCall, InlineDecisionDependsOnTheShapeOnly) {
  EXPECT_TRUE(goes_inline(shape(Kind::allreduce, Element::f64, 1, 1, 0), 4));
  EXPECT_TRUE(goes_inline(shape(Kind::barrier, Element::none, 0, 0, 0), 64));
  EXPECT_TRUE(goes_inline(shape(Kind::allreduce, Element::f32, 0, 0, 0), 4));
  EXPECT_FALSE(goes_inline(shape(Kind::allreduce, Element::f32, kInlineBytes, kInlineBytes, 0), 4));
  // allgather: the whole result must fit, whichever rank holds how many members.
  const std::uint64_t per = kInlineBytes / 4 / 4;
  EXPECT_TRUE(goes_inline(shape(Kind::allgather, Element::i32, per, per * 4, 0), 4));
  EXPECT_FALSE(goes_inline(shape(Kind::allgather, Element::i32, per + 1, (per + 1) * 4, 0), 4));
}

TEST(CollectiveCall, CombineReducesEveryType) {
  std::vector<int> a = {1, -5, 7}, b = {2, 3, -9};
  combine(Element::i32, ReduceOp::sum, a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<int>{3, -2, -2}));
  combine(Element::i32, ReduceOp::min, a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<int>{2, -2, -9}));
  std::vector<double> x = {1.5, 2.0}, y = {2.0, -0.5};
  combine(Element::f64, ReduceOp::prod, x.data(), y.data(), 2);
  EXPECT_EQ(x, (std::vector<double>{3.0, -1.0}));
  std::vector<std::uint8_t> u = {250, 3}, v = {10, 200};
  combine(Element::u8, ReduceOp::max, u.data(), v.data(), 2);
  EXPECT_EQ(u, (std::vector<std::uint8_t>{250, 200}));
  std::vector<std::int64_t> big = {std::numeric_limits<std::int64_t>::max() - 1}, one = {1};
  combine(Element::i64, ReduceOp::sum, big.data(), one.data(), 1);
  EXPECT_EQ(big[0], std::numeric_limits<std::int64_t>::max());
}

TEST(CollectiveCall, LayoutFindsLegsAndPositions) {
  CollectiveGroup g;
  g.members = members(5);
  lay_out(g, {2, 0, 2, 3, 0}, 2);
  EXPECT_EQ(g.legs, (std::vector<int>{2, 0, 3}));
  EXPECT_EQ(g.leg_sizes, (std::vector<int>{2, 2, 1}));
  EXPECT_EQ(g.member_leg, (std::vector<int>{0, 1, 0, 2, 1}));
  EXPECT_EQ(g.member_pos, (std::vector<int>{0, 0, 1, 0, 1}));
  EXPECT_EQ(g.local, (std::vector<int>{0, 2}));
  EXPECT_EQ(g.leg, 0);
  EXPECT_FALSE(g.legs_in_member_order);
  lay_out(g, {0, 0, 1, 1, 3}, 3);
  EXPECT_TRUE(g.legs_in_member_order);
  EXPECT_EQ(g.local, (std::vector<int>{4}));
}

}  // namespace
}  // namespace manta::engine
