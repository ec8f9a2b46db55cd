// ResourceSet: requests and offers of CPU, GPU, memory and custom resources.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/resources.h"

namespace {

using manta::engine::ResourceSet;
using Items = std::vector<std::pair<std::string, double>>;

TEST(ResourceSet, FromMapAddsOneCpuWhenAbsent) {
  EXPECT_EQ(ResourceSet::from_map({}).items(), (Items{{"CPU", 1}}));
  EXPECT_EQ(ResourceSet::from_map({{"GPU", 1}}).items(), (Items{{"CPU", 1}, {"GPU", 1}}));
  EXPECT_EQ(ResourceSet::from_map({{"CPU", 4}}).items(), (Items{{"CPU", 4}}));
  // An explicit zero CPU is respected (and not stored).
  EXPECT_EQ(ResourceSet::from_map({{"CPU", 0}, {"GPU", 2}}).items(), (Items{{"GPU", 2}}));
  EXPECT_EQ(ResourceSet::from_map({{"CPU", 0}, {"GPU", 2}}).get("CPU"), 0.0);
}

TEST(ResourceSet, CpusAndGet) {
  const ResourceSet r = ResourceSet::cpus(2.5);
  EXPECT_EQ(r.get("CPU"), 2.5);
  EXPECT_EQ(r.get("GPU"), 0.0);
  EXPECT_EQ(r.items().size(), 1u);
  EXPECT_TRUE(ResourceSet::cpus(0).items().empty());
}

TEST(ResourceSet, ItemsStaySortedByName) {
  ResourceSet r;
  r.set("ssd", 2);
  r.set("GPU", 1);
  r.set("CPU", 4);
  r.set("memory", 1e9);
  EXPECT_EQ(r.items(), (Items{{"CPU", 4}, {"GPU", 1}, {"memory", 1e9}, {"ssd", 2}}));
  r.set("GPU", 3);  // replaces, does not duplicate
  EXPECT_EQ(r.get("GPU"), 3.0);
  EXPECT_EQ(r.items().size(), 4u);
}

TEST(ResourceSet, FitsIn) {
  const ResourceSet offer = ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}});
  EXPECT_TRUE(ResourceSet::cpus(1).fits_in(offer));
  EXPECT_TRUE(ResourceSet::cpus(2).fits_in(offer));
  EXPECT_FALSE(ResourceSet::cpus(3).fits_in(offer));
  EXPECT_TRUE(ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}}).fits_in(offer));
  EXPECT_FALSE(ResourceSet::from_map({{"GPU", 2}}).fits_in(offer));
  EXPECT_FALSE(ResourceSet::from_map({{"ssd", 1}}).fits_in(offer));  // offer has no ssd
  EXPECT_FALSE(ResourceSet::from_map({{"GPU", 1}}).fits_in(ResourceSet::cpus(64)));
  EXPECT_TRUE(ResourceSet().fits_in(ResourceSet()));
  EXPECT_FALSE(ResourceSet::cpus(1).fits_in(ResourceSet()));
  // Sums of fractions that are not exact in binary still fit.
  ResourceSet fractions;
  fractions.set("CPU", 0.1 + 0.2);
  EXPECT_TRUE(fractions.fits_in(ResourceSet::cpus(0.3)));
}

TEST(ResourceSet, AddAndSubtract) {
  ResourceSet r = ResourceSet::from_map({{"CPU", 4}, {"GPU", 2}});
  r.subtract(ResourceSet::from_map({{"CPU", 1}, {"GPU", 1}}));
  EXPECT_EQ(r.get("CPU"), 3.0);
  EXPECT_EQ(r.get("GPU"), 1.0);
  r.add(ResourceSet::from_map({{"CPU", 0.5}, {"ssd", 1}}));
  EXPECT_EQ(r.get("CPU"), 3.5);
  EXPECT_EQ(r.get("ssd"), 1.0);
  EXPECT_EQ(r.items(), (Items{{"CPU", 3.5}, {"GPU", 1}, {"ssd", 1}}));
}

TEST(ResourceSet, ZeroEntriesAreRemoved) {
  ResourceSet r = ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}});
  r.subtract(ResourceSet::from_map({{"CPU", 0}, {"GPU", 1}}));
  EXPECT_EQ(r.items(), (Items{{"CPU", 2}}));
  r.subtract(ResourceSet::cpus(2));
  EXPECT_TRUE(r.items().empty());
  EXPECT_EQ(r, ResourceSet());
  // Floating-point leftovers count as zero.
  ResourceSet f = ResourceSet::cpus(0.3);
  f.subtract(ResourceSet::cpus(0.1));
  f.subtract(ResourceSet::cpus(0.2));
  EXPECT_TRUE(f.items().empty()) << f.to_string();
  ResourceSet s = ResourceSet::cpus(1);
  s.set("CPU", 0);
  EXPECT_TRUE(s.items().empty());
}

TEST(ResourceSet, SubtractThenAddRestores) {
  const ResourceSet total = ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}});
  ResourceSet avail = total;
  const ResourceSet req = ResourceSet::from_map({{"GPU", 1}});
  avail.subtract(req);
  EXPECT_FALSE(req.fits_in(avail));
  avail.add(req);
  EXPECT_EQ(avail, total);
}

TEST(ResourceSet, ToString) {
  EXPECT_EQ(ResourceSet().to_string(), "{}");
  EXPECT_EQ(ResourceSet::cpus(2).to_string(), "{CPU: 2}");
  EXPECT_EQ(ResourceSet::from_map({{"GPU", 0.5}, {"ssd", 3}}).to_string(),
            "{CPU: 1, GPU: 0.5, ssd: 3}");
}

}  // namespace
