// Lease expiry (lazy and through LOCKQ.EXPIRE) and the re-base on
// LOCKQ.ANNOUNCE after a leader change.

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

TEST(LockExpiryTest, LazyExpiryExactlyAtTheDeadline) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  h.SetTime(1099);  // one ms before the deadline: still held
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(1, "", 1000, 1100, 1099)}, 1));
  h.SetTime(1100);  // deadline <= now: not held by any command
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({}));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), kNotOwner);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kNotOwner);
  EXPECT_EQ(h.sm().lock_holder_count(), 1u);  // errors removed nothing
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(2, 100));
  EXPECT_EQ(h.sm().lock_holder_count(), 1u);  // the grant dropped the expired holder
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kStale);
}

TEST(LockExpiryTest, ExpiredExclusiveDoesNotBlockShared) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "10"});
  h.AdvanceTime(10);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED", "TTL", "10"}), Granted(2, 10));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED", "TTL", "10"}), Granted(3, 10));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[1], B("shared"));
}

TEST(LockExpiryTest, NextExpiryCoversLeasesAndKeys) {
  SmHarness h(1000);
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "500"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1500u);
  h.Run({"SET", "k", "v", "PX", "200"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1200u);
  h.Run({"LOCK.ACQUIRE", "M", "TTL", "100"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  h.Run({"LOCK.RELEASE", "M", "2"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1200u);
  h.Run({"DEL", "k"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1500u);
  h.Run({"LOCK.RELEASE", "L", "1"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
}

TEST(LockExpiryTest, LockqExpireReleasesExpiredHoldersInDeadlineOrder) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "b", "TTL", "100"});            // 1: deadline 1100
  h.Run({"LOCK.ACQUIRE", "a", "TTL", "100"});            // 2: deadline 1100
  h.Run({"LOCK.ACQUIRE", "c", "TTL", "50"});             // 3: deadline 1050
  h.Run({"LOCK.ACQUIRE", "d", "TTL", "500"});            // 4: deadline 1500
  h.Run({"SET", "k", "v", "PX", "10"});
  h.SetTime(1099);
  // Only the key and c are due; the budget applies to keys and holders each.
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(2));
  EXPECT_EQ(h.sm().lock_holder_count(), 3u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  h.SetTime(1100);  // exactly the deadline of a and b
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "1"}), I(1));
  // (1100, "a", 2) sorts before (1100, "b", 1).
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "a", "2"}), kNotOwner);  // gone, and the newest on a
  EXPECT_EQ(h.sm().lock_holder_count(), 2u);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "1"}), I(1));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_EQ(h.sm().lock_holder_count(), 1u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1500u);
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({B("d")}));
  // Expired records keep their newest grant for fencing.
  EXPECT_EQ(h.Run({"LOCK.INFO", "b"}), Info("free", {}, 1));
}

TEST(LockExpiryTest, AnnounceReBasesLeasesByTheGap) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});  // deadline 1100
  h.Run({"LOCK.ACQUIRE", "S", "SHARED", "TTL", "1000", "OWNER", "o"});  // deadline 2000
  h.Run({"LOCK.ACQUIRE", "X", "TTL", "10"});   // deadline 1010
  h.SetTime(1050);
  h.Run({"LOCK.INFO", "L"});  // the last batch before the outage, at 1050
  // No leader for 5 s; the new leader's first entry is its announce.
  h.SetTime(6050);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "2", "127.0.0.1:7002"}), Reply::Ok());
  // L had 50 ms left at 1050 and still has them.
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(1, "", 1000, 6100, 6050)}, 1));
  EXPECT_EQ(h.Run({"LOCK.INFO", "S"}), Info("shared", {Holder(2, "o", 1000, 7000, 6050)}, 2));
  // X had expired before the outage: it stays expired.
  EXPECT_EQ(h.Run({"LOCK.INFO", "X"}), Info("free", {}, 3));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1010u);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), I(100));
}

TEST(LockExpiryTest, AnnounceWithoutGapOrTwiceInABatch) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});
  h.ApplyOnly({"LOCKQ.ANNOUNCE", "1", "a:1"});  // same time: nothing moves
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  // An older leader clock: the state machine clock does not move back, so
  // the gap is 0.
  h.SetTime(500);
  h.ApplyOnly({"LOCKQ.ANNOUNCE", "1", "a:1"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  // Two announces in one batch extend once.
  Batch b;
  b.leader_time_ms = 1080;
  b.commands = {{"LOCKQ.ANNOUNCE", "1", "a:1"}, {"LOCKQ.ANNOUNCE", "2", "b:1"}};
  h.ApplyBatch(b);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1180u);
}

}  // namespace
}  // namespace lockq::sm
