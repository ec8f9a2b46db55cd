// Checks of task and actor options and of the store's size against the node's memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/option_checks.h"

namespace {

using manta::engine::check_actor_options;
using manta::engine::check_resources;
using manta::engine::check_store_fits_node;
using manta::engine::check_task_options;

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(OptionChecks, ResourceAmounts) {
  EXPECT_NO_THROW(check_resources({{"CPU", 0}, {"GPU", 0.25}, {"ssd", 2}}, "t"));
  const std::string neg = refusal([] { check_resources({{"CPU", -1}}, "manta::task(f)"); });
  EXPECT_NE(neg.find("manta::task(f).resources({\"CPU\", -1})"), std::string::npos) << neg;
  EXPECT_NE(neg.find("at least 0"), std::string::npos) << neg;
  EXPECT_NE(refusal([] {
              check_resources({{"GPU", std::numeric_limits<double>::quiet_NaN()}}, "t");
            }),
            "");
  EXPECT_NE(refusal([] {
              check_resources({{"GPU", std::numeric_limits<double>::infinity()}}, "t");
            }),
            "");
  EXPECT_NE(refusal([] { check_resources({{"", 1}}, "t"); }), "");
  // Above one GPU only whole GPUs: 1.5 could never be granted as devices.
  EXPECT_NO_THROW(check_resources({{"GPU", 2}}, "t"));
  const std::string frac = refusal([] { check_resources({{"GPU", 1.5}}, "manta::task(f)"); });
  EXPECT_NE(frac.find("resources({\"GPU\", 1.5})"), std::string::npos) << frac;
  EXPECT_NE(frac.find("whole GPUs"), std::string::npos) << frac;
}

TEST(OptionChecks, TaskOptions) {
  manta::TaskOptions o;
  EXPECT_NO_THROW(check_task_options(o, 4, "t"));
  for (int r : {0, 3}) {
    o.on_rank = r;
    EXPECT_NO_THROW(check_task_options(o, 4, "t"));
  }
  for (int r : {-5, -2, 4, 100}) {
    o.on_rank = r;
    const std::string why = refusal([&] { check_task_options(o, 4, "manta::task(f)"); });
    EXPECT_NE(why.find("on_rank(" + std::to_string(r) + ")"), std::string::npos) << why;
    EXPECT_NE(why.find("from 0 to 3"), std::string::npos) << why;
  }
  o.on_rank = -1;
  o.max_retries = -1;
  EXPECT_NE(refusal([&] { check_task_options(o, 4, "t"); }).find("max_retries(-1)"),
            std::string::npos);
  o.max_retries = 0;
  o.memory = static_cast<std::uint64_t>(-1);
  EXPECT_NE(refusal([&] { check_task_options(o, 4, "t"); }).find("memory("), std::string::npos);
  o.memory = std::uint64_t{64} << 30;
  EXPECT_NO_THROW(check_task_options(o, 4, "t"));
}

TEST(OptionChecks, ActorOptions) {
  manta::ActorOptions o;
  EXPECT_NO_THROW(check_actor_options(o, 2, "a"));
  o.max_concurrency = 0;
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }).find("max_concurrency(0)"),
            std::string::npos);
  o.max_concurrency = manta::engine::kMaxActorConcurrency + 1;
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }), "");
  o.max_concurrency = manta::engine::kMaxActorConcurrency;
  EXPECT_NO_THROW(check_actor_options(o, 2, "a"));
  o.max_restarts = -1;
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }).find("max_restarts(-1)"),
            std::string::npos);
  o.max_restarts = 0;
  o.on_rank = 2;
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }).find("on_rank(2)"), std::string::npos);
  o.on_rank = 1;
  o.resources = {{"CPU", -0.5}};
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }), "");
}

// A namespace set without a name (options filled in directly, not through .name(n, ns)), and
// variables that cannot be names, are refused.
TEST(OptionChecks, ActorNamespaceAndEnv) {
  manta::ActorOptions o;
  o.name_space = "ns_a";
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }).find("without a name"),
            std::string::npos);
  o.name = "svc";
  EXPECT_NO_THROW(check_actor_options(o, 2, "a"));
  o.env = {{"GOOD_1", "x"}};
  EXPECT_NO_THROW(check_actor_options(o, 2, "a"));
  o.env = {{"", "x"}};
  EXPECT_NE(refusal([&] { check_actor_options(o, 2, "a"); }).find("env("), std::string::npos);
  manta::TaskOptions t;
  t.env = {{"A=B", "x"}};
  EXPECT_NE(refusal([&] { check_task_options(t, 2, "t"); }).find("'A=B' is not a variable name"),
            std::string::npos);
}

TEST(OptionChecks, StoresMustFitTheNode) {
  const std::uint64_t gib = std::uint64_t{1} << 30;
  EXPECT_EQ(check_store_fits_node(4 * gib, "4G", 4, 23 * gib, "n1"), "");
  EXPECT_EQ(check_store_fits_node(23 * gib, "23G", 1, 23 * gib, "n1"), "");
  const std::string why =
      check_store_fits_node(std::uint64_t{100} << 40, "100T", 4, 23 * gib, "n1");
  EXPECT_NE(why.find("--manta-object-store-memory=100T"), std::string::npos) << why;
  EXPECT_NE(why.find("4 ranks on node n1"), std::string::npos) << why;
  EXPECT_NE(why.find("400.0 TiB"), std::string::npos) << why;
  EXPECT_NE(why.find("23.0 GiB"), std::string::npos) << why;
  EXPECT_NE(why.find("fewer ranks"), std::string::npos) << why;
  // Two ranks of 12G each on 23G: each fits alone, not together.
  EXPECT_NE(check_store_fits_node(12 * gib, "12G", 2, 23 * gib, "n1"), "");
  // No overflow with absurd sizes, and an unknown node size checks nothing.
  EXPECT_NE(check_store_fits_node(~std::uint64_t{0}, "huge", 8, 23 * gib, "n1"), "");
  EXPECT_EQ(check_store_fits_node(~std::uint64_t{0}, "huge", 8, 0, "n1"), "");
}

}  // namespace
