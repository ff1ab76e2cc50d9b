// StateMachine::LockViews() and PeekString(): the read-only accessors the
// simulation's lock checkers use (tests/testlib/sim_lock_audit.cc).

#include <gtest/gtest.h>

#include "sm/state_machine.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

TEST(LockViewTest, ListsRecordsAndAllHoldersInOrder) {
  SmHarness h(1000);
  EXPECT_TRUE(h.sm().LockViews().empty());
  h.Run({"LOCK.ACQUIRE", "b", "SHARED", "TTL", "100", "OWNER", "x"});  // token 1
  h.Run({"LOCK.ACQUIRE", "b", "SHARED", "TTL", "300"});                // token 2
  h.Run({"LOCK.ACQUIRE", "a", "TTL", "50"});                           // token 3
  h.AdvanceTime(200);
  h.Run({"GET", "nothing"});  // the clock moves to 1200: token 1 expired, not removed
  std::vector<LockView> v = h.sm().LockViews();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "a");
  EXPECT_FALSE(v[0].shared);
  EXPECT_EQ(v[0].last_grant, 3u);
  ASSERT_EQ(v[0].holders.size(), 1u);
  EXPECT_EQ(v[0].holders[0].deadline_ms, 1050u);
  EXPECT_EQ(v[1].name, "b");
  EXPECT_TRUE(v[1].shared);
  EXPECT_EQ(v[1].last_grant, 2u);
  ASSERT_EQ(v[1].holders.size(), 2u);  // expired holders are listed too
  EXPECT_EQ(v[1].holders[0].token, 1u);
  EXPECT_EQ(v[1].holders[0].owner, "x");
  EXPECT_EQ(v[1].holders[0].since_ms, 1000u);
  EXPECT_EQ(v[1].holders[0].lease_ms, 100u);
  EXPECT_EQ(v[1].holders[0].deadline_ms, 1100u);
  EXPECT_EQ(v[1].holders[1].token, 2u);
  // Released: the holder goes, and so does the expired one (a write on a
  // lock drops its expired holders); the record keeps its newest grant.
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "b", "2"}), Reply::Int(1));
  v = h.sm().LockViews();
  EXPECT_EQ(v[1].last_grant, 2u);
  EXPECT_TRUE(v[1].holders.empty());
}

TEST(LockViewTest, PeekStringReadsAtTheStateMachineClock) {
  SmHarness h(1000);
  EXPECT_EQ(h.sm().PeekString("k"), std::nullopt);
  h.Run({"SET", "k", "v", "PX", "100"});
  h.Run({"SET", "n", "1"});
  EXPECT_EQ(h.sm().PeekString("k"), "v");
  h.AdvanceTime(100);
  h.Run({"GET", "n"});
  EXPECT_EQ(h.sm().PeekString("k"), std::nullopt);  // expired at now
  EXPECT_EQ(h.sm().PeekString("n"), "1");
}

}  // namespace
}  // namespace lockq::sm
