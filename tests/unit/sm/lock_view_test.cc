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

TEST(LockViewTest, ListsWaitersSessionsAndSessionHolders) {
  SmHarness h(1000);
  uint64_t sid = static_cast<uint64_t>(h.Run({"SESSION.OPEN", "500"}).integer);
  h.Run({"LOCK.ACQUIRE", "a", "SESSION", std::to_string(sid)});  // token 1
  EXPECT_TRUE(h.RunAs(7, 1, {"LOCK.ACQUIRE", "a", "SHARED", "TTL", "40", "WAIT", "300"}).is_deferred());
  EXPECT_TRUE(h.RunAs(7, 2, {"LOCK.ACQUIRE", "a", "SESSION", std::to_string(sid), "WAIT", "0"}).is_deferred());
  std::vector<LockView> v = h.sm().LockViews();
  ASSERT_EQ(v.size(), 1u);
  ASSERT_EQ(v[0].holders.size(), 1u);
  EXPECT_EQ(v[0].holders[0].session, sid);
  EXPECT_EQ(v[0].holders[0].deadline_ms, 0u);
  EXPECT_EQ(v[0].holders[0].expiry_ms, 1500u);  // the session's deadline
  EXPECT_TRUE(v[0].holders[0].live);
  ASSERT_EQ(v[0].waiters.size(), 2u);  // queue order
  EXPECT_EQ(v[0].waiters[0].client, SmHarness::ClientOf(7, 1));
  EXPECT_EQ(v[0].waiters[0].mode, 1);
  EXPECT_EQ(v[0].waiters[0].lease_ms, 40u);
  EXPECT_EQ(v[0].waiters[0].wait_deadline_ms, 1300u);
  EXPECT_EQ(v[0].waiters[1].session, sid);
  EXPECT_EQ(v[0].waiters[1].wait_deadline_ms, 0u);
  std::vector<SessionView> s = h.sm().SessionViews();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].id, sid);
  EXPECT_EQ(s[0].ttl_ms, 500u);
  EXPECT_EQ(s[0].deadline_ms, 1500u);
  // Past the session's deadline, not yet collected: listed, not live.
  h.AdvanceTime(500);
  h.Run({"GET", "nothing"});
  v = h.sm().LockViews();
  EXPECT_FALSE(v[0].holders[0].live);
  EXPECT_EQ(h.sm().SessionViews().size(), 1u);
}

TEST(LockViewTest, EventMarksSplitABatchsEventsByCommand) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "a", "TTL", "100"});  // token 1
  EXPECT_TRUE(h.RunAs(1, 1, {"LOCK.ACQUIRE", "a", "WAIT", "0"}).is_deferred());
  Batch b;
  b.leader_time_ms = 1000;
  b.commands = {{"GET", "x"}, {"LOCK.RELEASE", "a", "1"}, {"GET", "y"}};
  h.ApplyBatch(b);
  const std::vector<size_t>& marks = h.sm().LastEventMarks();
  ASSERT_EQ(marks.size(), 3u);
  EXPECT_EQ(marks[0], 0u);
  EXPECT_GT(marks[1], 0u);  // the release: a change, the grant, a change
  EXPECT_EQ(marks[2], marks[1]);
  EXPECT_EQ(marks[2], h.events().size());
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
