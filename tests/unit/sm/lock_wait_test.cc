// Blocking acquires (WAIT): deferred replies, FIFO grants without barging,
// wait deadlines, LOCKQ.CANCEL / LOCKQ.INCARNATION / LOCKQ.AS, lock-lost
// pushes and change events.

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "script_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

// Connection `conn`'s first request (node 1, nonce 1, slot 1).
ClientRef C(uint64_t conn) { return SmHarness::ClientOf(conn, 1); }

// LOCKQ.AS for a client of any node and incarnation.
Argv As(ClientRef c, Argv cmd) {
  Argv out{"LOCKQ.AS", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
           std::to_string(c.slot)};
  out.insert(out.end(), cmd.begin(), cmd.end());
  return out;
}

Argv Cancel(ClientRef c) {
  return {"LOCKQ.CANCEL", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
          std::to_string(c.slot)};
}

// ---- WAIT ----------------------------------------------------------------------

TEST(LockWaitTest, QueuedRequestIsDeferredAndGrantedOnRelease) {
  SmHarness h(1000);
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "200", "WAIT", "0", "OWNER", "w"}),
            kDeferred);
  EXPECT_TRUE(h.events().empty());  // queueing changes no holder and answers nobody
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(1, "", 1000, 1100, 1000)}, 1,
                                            {Waiter("w", "exclusive", 1000, 0)}));
  h.SetTime(1040);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.events(),
            (Events{ChangeEvent("L"), ChangeEvent("L"), ReplyEvent(C(2), Granted(2, 200))}));
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  // The waiter's lease starts at its grant, not when it started waiting.
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(2, "w", 1040, 1240, 1040)}, 2));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1240u);
}

TEST(LockWaitTest, GrantedAtOnceWhenFreeEvenWithWait) {
  SmHarness h(1000);
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "WAIT", "100"}), Granted(1, 30000));
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 31000u);  // no wait deadline left behind
}

TEST(LockWaitTest, WaitersAreGrantedInFifoOrder) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L"});
  for (uint64_t conn = 2; conn <= 5; conn++) {
    EXPECT_EQ(
        h.RunAs(conn, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "c" + std::to_string(conn)}),
        kDeferred);
    h.AdvanceTime(1);
  }
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7],
            Reply::Array({Waiter("c2", "exclusive", 1000, 0), Waiter("c3", "exclusive", 1001, 0),
                          Waiter("c4", "exclusive", 1002, 0), Waiter("c5", "exclusive", 1003, 0)}));
  for (uint64_t conn = 2; conn <= 5; conn++) {
    int64_t prev = static_cast<int64_t>(conn) - 1;
    ASSERT_EQ(h.Run({"LOCK.RELEASE", "L", std::to_string(prev)}), I(1)) << conn;
    EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(conn), Granted(prev + 1, 30000))}) << conn;
    EXPECT_EQ(h.sm().lock_waiter_count(), 5 - conn);
  }
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "5"}), I(1));
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});
}

TEST(LockWaitTest, NoBargingPastQueuedWaiters) {
  SmHarness h(1000);
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SHARED"}), Granted(1, 30000));
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"}), kDeferred);
  // Compatible with the shared holder, but an exclusive request waits first.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED"}), kNil);
  EXPECT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.sm().lock_waiter_count(), 2u);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(2), Granted(2, 30000))});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(3), Granted(3, 30000))});
}

TEST(LockWaitTest, NoBargingWhenTheHolderExpiresLazily) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "50", "WAIT", "0"});
  h.SetTime(1100);  // the holder expired; no LOCKQ.EXPIRE ran yet
  // The try-lock finds the lock free, but the waiter is granted first.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L"}), kNil);
  EXPECT_EQ(Answers(h.events()),
            (Events{LostEvent(C(1), "L", 1, "expired"), ReplyEvent(C(2), Granted(2, 50))}));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(2, "", 1100, 1150, 1100)}, 2));
}

TEST(LockWaitTest, WaitingWriterIsNotStarvedByReaders) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SHARED"});  // 1
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SHARED"});  // 2
  EXPECT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.RunAs(4, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.RunAs(5, 1, {"LOCK.ACQUIRE", "L", "SHARED"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});  // a reader still holds: nobody granted
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(3), Granted(3, 30000))});
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "3"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(4), Granted(4, 30000))});
}

TEST(LockWaitTest, SharedWaitersAtTheHeadAreGrantedTogether) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L"});
  for (uint64_t conn : {2, 3, 4}) h.RunAs(conn, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"});
  h.RunAs(5, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "x"});
  h.RunAs(6, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0", "OWNER", "s"});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()),
            (Events{ReplyEvent(C(2), Granted(2, 30000)), ReplyEvent(C(3), Granted(3, 30000)),
                    ReplyEvent(C(4), Granted(4, 30000))}));
  EXPECT_EQ(Changes(h.events()), (std::vector<std::string>{"L", "L", "L", "L"}));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("shared",
                 {Holder(2, "", 1000, 31000, 1000), Holder(3, "", 1000, 31000, 1000),
                  Holder(4, "", 1000, 31000, 1000)},
                 4, {Waiter("x", "exclusive", 1000, 0), Waiter("s", "shared", 1000, 0)}));
}

TEST(LockWaitTest, WaitTimeoutIsAnsweredNilAtTheDeadlineNeverEarlier) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "10000"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "50"}), kDeferred);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7],
            Reply::Array({Waiter("", "exclusive", 1000, 1050)}));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1050u);
  h.SetTime(1049);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  h.SetTime(1050);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(), Events{ReplyEvent(C(2), kNil)});
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 11000u);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});  // nobody left to grant
}

TEST(LockWaitTest, WaitZeroWaitsWithoutLimit) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000000000"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1'000'001'000u);  // the lease, not the wait
  h.AdvanceTime(900'000'000);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(0));
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(2), Granted(2, 30000))});
}

TEST(LockWaitTest, ExpiredWaiterIsNotGrantedWhenTheLockFreesInTheSameEntry) {
  {
    // The holder's lease and the first waiter's wait end at 1100.
    SmHarness h(1000);
    h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "100"});
    h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "TTL", "7", "WAIT", "0"});
    h.SetTime(1100);
    EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(2));
    EXPECT_EQ(Answers(h.events()),
              (Events{LostEvent(C(1), "L", 1, "expired"), ReplyEvent(C(2), kNil),
                      ReplyEvent(C(3), Granted(2, 7))}));
  }
  {
    // The same with a budget of 1: the wait is not collected, but the
    // queue pump still refuses the expired head.
    SmHarness h(1000);
    h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "100"});
    h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
    h.SetTime(1100);
    EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "1"}), I(1));
    EXPECT_EQ(Answers(h.events()),
              (Events{LostEvent(C(1), "L", 1, "expired"), ReplyEvent(C(2), kNil),
                      ReplyEvent(C(3), Granted(2, 30000))}));
    EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  }
  {
    // Released by its holder exactly at the waiter's deadline.
    SmHarness h(1000);
    h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "100"});
    h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
    h.SetTime(1100);
    EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
    EXPECT_EQ(Answers(h.events()),
              (Events{ReplyEvent(C(2), kNil), ReplyEvent(C(3), Granted(2, 30000))}));
  }
  {
    // One ms earlier the same release grants the first waiter.
    SmHarness h(1000);
    h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "100"});
    h.SetTime(1099);
    EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
    EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(2), Granted(2, 30000))});
  }
}

TEST(LockWaitTest, NextExpiryCoversWaitDeadlines) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"});  // 2000
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 2000u);
  h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "300"});  // 1300
  EXPECT_EQ(h.sm().next_expiry_ms(), 1300u);
  h.AdvanceTime(10);
  h.RunAs(4, 1, {"LOCK.ACQUIRE", "L", "WAIT", "200"});  // 1210
  EXPECT_EQ(h.sm().next_expiry_ms(), 1210u);
  h.ApplyOnly(Cancel(C(4)));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1300u);
  h.SetTime(1300);
  h.ApplyOnly({"LOCKQ.EXPIRE", "10"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 2000u);
}

TEST(LockWaitTest, WaitNeedsAClient) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT", "100"}), E(errors::kLockWaitNoClient));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT", "0"}), E(errors::kLockWaitNoClient));
  EXPECT_EQ(h.Run({"ELECT.CAMPAIGN", "e", "v", "WAIT", "0"}), E(errors::kLockWaitNoClient));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 0));
  // From a script: redis.call has no client connection either.
  Reply r = script_test::Eval(h, "return redis.call('LOCK.ACQUIRE', KEYS[1], 'WAIT', '0')", {"L"});
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find(errors::kLockWaitNoClient.substr(4)), std::string::npos) << r.str;
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 0));
  EXPECT_EQ(h.sm().last_lock_token(), 0u);
  // Without WAIT a script may take a lock.
  EXPECT_EQ(script_test::Eval(h, "return redis.call('LOCK.ACQUIRE', KEYS[1], 'TTL', '10')", {"L"}),
            Granted(1, 10));
}

TEST(LockWaitTest, WaitOptionErrors) {
  using S = StateMachine;
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "WAIT", "-1"}),
            E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "WAIT", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "WAIT"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "WAIT", "99999999999999999999"}),
            E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "wait", "5", "shared"}), std::nullopt);
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  // A wait deadline beyond int64 is refused when applied, and nothing waits.
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "9223372036854775807"}),
            E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
}

TEST(LockWaitTest, DuplicateRequestWhileWaitingIsRefused) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  h.Run({"LOCK.ACQUIRE", "M"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "first"}), kDeferred);
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "again"}),
            E(errors::kLockAlreadyWaiting));
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "M", "WAIT", "0"}), E(errors::kLockAlreadyWaiting));
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7],
            Reply::Array({Waiter("first", "exclusive", 1000, 0)}));
  // Another slot of the same connection is another request.
  EXPECT_EQ(h.RunAs(2, 2, {"LOCK.ACQUIRE", "L", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.sm().lock_waiter_count(), 2u);
}

// ---- LOCKQ.CANCEL / LOCKQ.INCARNATION / LOCKQ.AS -------------------------------

TEST(LockCancelTest, CancelRemovesAWaiter) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "a"});
  h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "b"});
  EXPECT_EQ(h.ApplyOnly(Cancel(C(2))), I(0));
  EXPECT_TRUE(h.events().empty());  // the connection is gone: no answer
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7], Reply::Array({Waiter("b", "exclusive", 1000, 0)}));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(3), Granted(2, 30000))});
}

TEST(LockCancelTest, CancellingABlockedHeadUnblocksThoseBehindIt) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SHARED"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"});
  h.RunAs(4, 1, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"});
  EXPECT_EQ(h.ApplyOnly(Cancel(C(2))), I(0));
  EXPECT_EQ(Answers(h.events()),
            (Events{ReplyEvent(C(3), Granted(2, 30000)), ReplyEvent(C(4), Granted(3, 30000))}));
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
}

TEST(LockCancelTest, CancellingAGrantedRequestReleasesItAndGrantsTheNext) {
  SmHarness h(1000);
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  h.AdvanceTime(5);
  EXPECT_EQ(h.ApplyOnly(Cancel(C(1))), I(0));
  // No lock.lost push to the gone connection; the next waiter is granted.
  EXPECT_EQ(h.events(),
            (Events{ChangeEvent("L"), ChangeEvent("L"), ReplyEvent(C(2), Granted(2, 30000))}));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kStale);
  // Idempotent: again, and for a request that never existed.
  EXPECT_EQ(h.ApplyOnly(Cancel(C(1))), I(0));
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.ApplyOnly(Cancel(C(99))), I(0));
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(2, "", 1005, 31005, 1005)}, 2));
  // A grant released by token is not released again by a later cancel.
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), I(1));
  h.Run({"LOCK.ACQUIRE", "L"});  // 3, no client
  EXPECT_EQ(h.ApplyOnly(Cancel(C(2))), I(0));
  EXPECT_TRUE(h.events().empty());
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[1], B("exclusive"));
}

TEST(LockCancelTest, CancelNamesOneRequestSlot) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "s1"});
  h.RunAs(2, 2, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "s2"});
  EXPECT_EQ(h.ApplyOnly(Cancel(SmHarness::ClientOf(2, 1))), I(0));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7], Reply::Array({Waiter("s2", "exclusive", 1000, 0)}));
  EXPECT_EQ(h.ApplyOnly(Cancel({1, 2, 2, 2})), I(0));  // another incarnation's request
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
}

TEST(LockCancelTest, EventsOfAMultiCommandBatchAreInOrder) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  Batch b;
  b.leader_time_ms = 1010;
  // The holder's connection closes; then the new holder's; then a new
  // request joins behind the third.
  b.commands = {Cancel(C(1)), Cancel(C(2)), As(C(4), {"LOCK.ACQUIRE", "L", "WAIT", "0"})};
  EXPECT_EQ(h.ApplyBatch(b), (std::vector<Reply>{I(0), I(0), kDeferred}));
  EXPECT_EQ(h.events(),
            (Events{ChangeEvent("L"), ChangeEvent("L"), ReplyEvent(C(2), Granted(2, 30000)),
                    ChangeEvent("L"), ChangeEvent("L"), ReplyEvent(C(3), Granted(3, 30000))}));
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
}

TEST(LockCancelTest, CancelArgumentsAreIntegers) {
  SmHarness h;
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.CANCEL", "1", "1", "x", "1"}), E(errors::kNotInteger));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.CANCEL", "1", "1", "1"}), E(errors::WrongArity("LOCKQ.CANCEL")));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "-2"}), E(errors::kNotInteger));
}

TEST(LockCancelTest, IncarnationDropsWaitersOfOtherNoncesOnly) {
  SmHarness h(1000);
  EXPECT_EQ(h.ApplyOnly(As({1, 1, 9, 1}, {"LOCK.ACQUIRE", "L", "OWNER", "h"})), Granted(1, 30000));
  const ClientRef a{1, 1, 1, 1}, b{1, 2, 1, 1}, c{2, 1, 1, 1}, d{1, 1, 2, 1}, e{1, 3, 5, 5};
  for (const ClientRef& x : {a, b, c, d, e}) {
    EXPECT_EQ(h.ApplyOnly(As(x, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER",
                                 std::to_string(x.node) + "/" + std::to_string(x.nonce)})),
              kDeferred);
  }
  // Node 1 restarted as nonce 2: its nonce 1 and 3 waiters are gone.
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "2"}), Reply::Ok());
  // No answers to the dropped waiters (their connections are gone); only
  // the notice that node 1 runs as nonce 2.
  EXPECT_EQ(h.events(), (Events{Event{Event::Kind::kChange, ClientRef{1, 2, 0, 0},
                                      std::string(kIncarnationTopic), {}}}));
  EXPECT_EQ(h.sm().lock_waiter_count(), 2u);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {Holder(1, "h", 1000, 31000, 1000)}, 1,
                 {Waiter("1/2", "exclusive", 1000, 0), Waiter("2/1", "exclusive", 1000, 0)}));
  // Holders are left to their leases.
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(b, Granted(2, 30000))});
  // The same incarnation again drops nothing.
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "2"}), Reply::Ok());
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
}

TEST(LockCancelTest, IncarnationZeroDeclaresTheNodeDownAndDropsAllItsWaiters) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  for (const ClientRef& x : {ClientRef{1, 7, 1, 1}, ClientRef{1, 8, 2, 1}, ClientRef{2, 7, 1, 1}}) {
    EXPECT_EQ(h.ApplyOnly(As(x, {"LOCK.ACQUIRE", "L", "WAIT", "0"})), kDeferred);
  }
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "0"}), Reply::Ok());
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);  // node 2's
  EXPECT_EQ(h.events(), (Events{Event{Event::Kind::kChange, ClientRef{1, 0, 0, 0},
                                      std::string(kIncarnationTopic), {}}}));
}

TEST(LockCancelTest, IncarnationDroppingABlockedHeadGrantsThoseBehind) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "SHARED"});
  h.ApplyOnly(As({1, 1, 1, 1}, {"LOCK.ACQUIRE", "L", "WAIT", "0"}));
  h.ApplyOnly(As({3, 1, 1, 1}, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0"}));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "5"}), Reply::Ok());
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent({3, 1, 1, 1}, Granted(2, 30000))});
}

TEST(LockAsTest, RunsClientRefCommandsOnly) {
  SmHarness h(1000);
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"GET", "k"})), E(errors::kSyntax));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"LOCK.RELEASE", "L", "1"})), E(errors::kSyntax));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"LOCKQ.EXPIRE", "1"})),
            E(errors::UnknownCommand({"LOCKQ.EXPIRE", "1"})));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"LOCKQ.CANCEL", "1", "1", "1", "1"})),
            E(errors::UnknownCommand({"LOCKQ.CANCEL", "1", "1", "1", "1"})));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"NOPE"})), E(errors::UnknownCommand({"NOPE"})));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"LOCK.ACQUIRE", "L", "BOGUS"})), E(errors::kSyntax));
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"LOCK.ACQUIRE"})), E(errors::WrongArity("LOCK.ACQUIRE")));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.AS", "1", "x", "1", "1", "LOCK.ACQUIRE", "L"}),
            E(errors::kNotInteger));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.AS", "1", "1", "1", "1"}), E(errors::WrongArity("LOCKQ.AS")));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 0));
  // The wrapped command's reply is the reply.
  EXPECT_EQ(h.ApplyOnly(As(C(1), {"lock.acquire", "L", "TTL", "5"})), Granted(1, 5));
  EXPECT_EQ(h.ApplyOnly(As(C(2), {"ELECT.CAMPAIGN", "e", "v"})), Granted(2, 30000));
  EXPECT_EQ(h.ApplyOnly(As(C(2), {"GET", "k"})), E(errors::kSyntax));
}

TEST(LockAsTest, InternalCommandsAreUnknownToClients) {
  for (const Argv& argv : {Argv{"LOCKQ.AS", "1", "1", "1", "1", "LOCK.ACQUIRE", "L"},
                           Argv{"LOCKQ.CANCEL", "1", "1", "1", "1"},
                           Argv{"LOCKQ.INCARNATION", "1", "2"}, Argv{"lockq.expire", "5"}}) {
    EXPECT_EQ(StateMachine::Precheck(argv, /*from_client=*/true), E(errors::UnknownCommand(argv)))
        << argv[0];
  }
  // A follower forwards the peer ones, never LOCKQ.EXPIRE.
  EXPECT_EQ(StateMachine::PrecheckForwarded({"LOCKQ.AS", "1", "1", "1", "1", "LOCK.ACQUIRE", "L"}),
            std::nullopt);
  EXPECT_EQ(StateMachine::PrecheckForwarded({"LOCKQ.CANCEL", "1", "1", "1", "1"}), std::nullopt);
  EXPECT_EQ(StateMachine::PrecheckForwarded({"LOCKQ.INCARNATION", "1", "2"}), std::nullopt);
  EXPECT_EQ(StateMachine::PrecheckForwarded({"LOCKQ.AS", "1", "1", "1", "1", "GET", "k"}),
            E(errors::kSyntax));
  EXPECT_EQ(StateMachine::PrecheckForwarded({"LOCKQ.EXPIRE", "5"}),
            E(errors::UnknownCommand({"LOCKQ.EXPIRE", "5"})));
  // Through the harness: refused, and nothing changes.
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
  Argv cancel = Cancel(C(2));
  EXPECT_EQ(h.Run(cancel), E(errors::UnknownCommand(cancel)));
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  // From a script: unknown too.
  Reply r = script_test::Eval(h, "return redis.call('LOCKQ.CANCEL', '1', '1', '2', '1')");
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find(errors::kScriptUnknownCommand), std::string::npos) << r.str;
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
}

// ---- pushes, change events, stale retries --------------------------------------

TEST(LockEventsTest, LostPushOnLeaseExpiryThroughLockqExpire) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100", "OWNER", "o"});
  h.SetTime(1099);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_TRUE(h.events().empty());
  h.SetTime(1100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(), (Events{LostEvent(C(1), "L", 1, "expired"), ChangeEvent("L")}));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_TRUE(h.events().empty());  // told once
}

TEST(LockEventsTest, LostPushOnLazyExpiryIsSentOnce) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  h.SetTime(1100);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(2, 100));
  EXPECT_EQ(h.events(),
            (Events{LostEvent(C(1), "L", 1, "expired"), ChangeEvent("L"), ChangeEvent("L")}));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_TRUE(h.events().empty());
}

TEST(LockEventsTest, NoPushOnReleaseOrForHoldersWithoutClient) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});
  h.Run({"LOCK.ACQUIRE", "M", "TTL", "100"});  // no client
  h.SetTime(1100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(), Events{ChangeEvent("M")});
}

TEST(LockEventsTest, ChangeEventsForGrantsAndReleasesOnly) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  EXPECT_EQ(h.events(), Events{ChangeEvent("L")});
  h.Run({"LOCK.ACQUIRE", "L"});  // refused
  EXPECT_TRUE(h.events().empty());
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});  // queued
  EXPECT_TRUE(h.events().empty());
  h.Run({"LOCK.RENEW", "L", "1", "TTL", "500"});
  EXPECT_TRUE(h.events().empty());
  h.Run({"LOCK.INFO", "L"});
  EXPECT_TRUE(h.events().empty());
  h.Run({"LOCK.RELEASE", "L", "9"});  // NOTOWNER
  EXPECT_TRUE(h.events().empty());
  h.Run({"LOCK.RELEASE", "L", "1"});
  EXPECT_EQ(Changes(h.events()), (std::vector<std::string>{"L", "L"}));
  h.Run({"LOCK.ACQUIRE", "M", "SHARED"});
  EXPECT_EQ(h.events(), Events{ChangeEvent("M")});
  // Events are per batch.
  h.Run({"GET", "k"});
  EXPECT_TRUE(h.events().empty());
}

TEST(LockEventsTest, RetriedReleaseFromAnOldGrantCannotReleaseANewerOne) {
  // etcd #22082: the same owner's second grant must not be released by a
  // retried release of its first.
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "OWNER", "x"}), Granted(1, 30000));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "OWNER", "x"}), Granted(2, 30000));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kStale);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(2, "x", 1000, 31000, 1000)}, 2));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), kStale);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), I(1));
}

}  // namespace
}  // namespace lockq::sm
