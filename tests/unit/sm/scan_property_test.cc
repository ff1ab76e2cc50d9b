// SCAN guarantee (docs/state-machine.md "SCAN cursor"): a key present for a
// whole iteration is returned, whatever is inserted or deleted between
// calls; no key is returned twice.

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "testlib/sm_harness.h"
#include "sm/parse.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

void RunOneIteration(uint32_t seed) {
  std::mt19937 rng(seed);
  SmHarness h;
  std::set<std::string> live;
  for (int i = 0; i < 300; i++) {
    std::string k = "key" + std::to_string(rng() % 1000);
    h.Run({"SET", k, "v"});
    live.insert(k);
  }
  std::set<std::string> stable = live;  // present the whole time
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    Reply r = h.Run({"SCAN", cursor, "COUNT", std::to_string(1 + rng() % 20)});
    ASSERT_EQ(r.elems.size(), 2u);
    cursor = r.elems[0].str;
    uint64_t as_int;
    ASSERT_TRUE(ParseUint64(cursor, &as_int));  // redis-py parses it as an int
    ASSERT_LE(as_int, static_cast<uint64_t>(INT64_MAX));
    for (const Reply& k : r.elems[1].elems) {
      EXPECT_TRUE(seen.insert(k.str).second) << "duplicate " << k.str << " seed " << seed;
    }
    // Concurrent churn between calls.
    for (int j = 0; j < 10; j++) {
      std::string k = "key" + std::to_string(rng() % 1500);
      if (rng() % 2) {
        h.Run({"DEL", k});
        live.erase(k);
        stable.erase(k);
      } else {
        h.Run({"SET", k, "w", "PX", std::to_string(1 + rng() % 5000)});
        live.insert(k);
        stable.erase(k);  // may expire: no longer guaranteed
      }
    }
    h.AdvanceTime(rng() % 5);
    ASSERT_LT(++calls, 5000);
  } while (cursor != "0");
  for (const std::string& k : stable) {
    EXPECT_EQ(seen.count(k), 1u) << "missed " << k << " seed " << seed;
  }
}

TEST(ScanPropertyTest, CompleteUnderConcurrentInsertsAndDeletes) {
  uint32_t base = 12345;
  if (const char* env = std::getenv("LOCKQ_SEED")) base = static_cast<uint32_t>(std::stoul(env));
  for (uint32_t i = 0; i < 20; i++) {
    SCOPED_TRACE("seed " + std::to_string(base + i) + " (replay with LOCKQ_SEED)");
    RunOneIteration(base + i);
  }
}

}  // namespace
}  // namespace lockq::sm
