// The simulation hosting dispatch::LeaderDuties next to the Dispatcher on
// every server (SimOptions::leader_duties): the leader's own LOCKQ.ANNOUNCE,
// LOCKQ.EXPIRE and node-down declarations, every node's LOCKQ.INCARNATION
// forwarded to the leader, all under the cluster's checkers. A wall clock
// stepped back an hour on every server declares nobody down; a follower
// that stays dead past --node-down-ms is declared down.

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "testlib/sim_cluster.h"

namespace lockq::testing {
namespace {

struct Seen {
  std::set<std::string> declared_down;  // node ids in LOCKQ.INCARNATION id 0
  std::set<std::string> incarnations;   // node ids that announced an incarnation
  int announces = 0;
  int expiries = 0;
};

void RunSeed(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.leader_duties = true;
  o.node_down_ms = 3000;
  SimCluster c(o);
  Seen seen;
  c.set_reference_observer([&](uint64_t, const sm::Batch& b, const std::vector<sm::Reply>&, const sm::StateMachine&) {
    for (const sm::Argv& a : b.commands) {
      if (a[0] == "LOCKQ.INCARNATION") (a[2] == "0" ? seen.declared_down : seen.incarnations).insert(a[1]);
      seen.announces += a[0] == "LOCKQ.ANNOUNCE";
      seen.expiries += a[0] == "LOCKQ.EXPIRE";
    }
  });
  auto fail = [&] { return "seed " + std::to_string(seed) + ": " + c.failure() + "\n" + c.RecentTrace(); };
  ASSERT_TRUE(c.StepUntil([&] { return c.StableLeader() >= 0; }, 10000)) << fail();
  // Keys with short TTLs through the leader, for ~10 s of simulated time;
  // halfway, every server's wall clock steps back an hour.
  uint64_t start = c.now_ms();
  unsigned n = 0;
  bool stepped = false;
  while (c.now_ms() - start < 10000 && !c.failed()) {
    int l = c.AnyLeader();
    if (l >= 0) {
      c.Propose(static_cast<unsigned>(l), {{"SET", "k" + std::to_string(n % 8), "v", "PX", std::to_string(100 + (n * 37) % 900)}});
      n++;
    }
    if (!stepped && c.now_ms() - start >= 5000) {
      for (unsigned i = 0; i < c.size(); i++) c.SetClockSkew(i, -3'600'000);
      stepped = true;
    }
    c.StepUntil([] { return false; }, 20);
  }
  ASSERT_FALSE(c.failed()) << fail();
  EXPECT_TRUE(seen.declared_down.empty()) << "seed " << seed << ": a live node was declared down after a wall-clock step";
  for (unsigned i = 0; i < c.size(); i++) c.SetClockSkew(i, 0);
  // A follower dead for longer than --node-down-ms is declared down.
  int l = c.StableLeader();
  ASSERT_GE(l, 0) << fail();
  unsigned victim = (static_cast<unsigned>(l) + 1) % c.size();
  c.Kill(victim);
  c.StepUntil([&] { return seen.declared_down.count(std::to_string(victim + 1)) != 0; }, 20000);
  EXPECT_EQ(seen.declared_down, std::set<std::string>{std::to_string(victim + 1)}) << fail();
  c.Revive(victim);
  c.StepUntil([] { return false; }, 3000);
  ASSERT_NE(c.ConvergeAndCheck(), 0u) << fail();
  EXPECT_GE(seen.announces, 1) << "seed " << seed;
  EXPECT_GE(seen.expiries, 1) << "seed " << seed;
  EXPECT_EQ(seen.incarnations.size(), c.size()) << "seed " << seed << ": not every node announced its incarnation";
  EXPECT_FALSE(c.failed()) << fail();
}

TEST(SimLeaderDuties, RealDutiesUnderTheCheckers) {
  uint64_t seeds = std::getenv("LOCKQ_SIM_SEEDS") != nullptr ? std::strtoull(std::getenv("LOCKQ_SIM_SEEDS"), nullptr, 10) : 10;
  for (uint64_t seed = 1; seed <= seeds && !HasFatalFailure(); seed++) RunSeed(seed);
}

}  // namespace
}  // namespace lockq::testing
