// Semaphores (LOCK.ACQUIRE ... SEMAPHORE n) and elections (ELECT.*).

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

ClientRef C(uint64_t conn) { return SmHarness::ClientOf(conn, 1); }

// ---- semaphores ----------------------------------------------------------------

TEST(SemaphoreTest, GrantsUpToPermitsThenQueues) {
  SmHarness h(1000);
  for (uint64_t conn = 1; conn <= 3; conn++) {
    EXPECT_EQ(h.RunAs(conn, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "3", "TTL", "100"}),
              Granted(static_cast<int64_t>(conn), 100));
  }
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "3"}), kNil);
  EXPECT_EQ(h.RunAs(4, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "3", "WAIT", "0", "OWNER", "w"}),
            kDeferred);
  EXPECT_EQ(h.Run({"LOCK.INFO", "S"}),
            Info("semaphore",
                 {Holder(1, "", 1000, 1100, 1000), Holder(2, "", 1000, 1100, 1000),
                  Holder(3, "", 1000, 1100, 1000)},
                 3, {Waiter("w", "semaphore", 1000, 0)}, 3));
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({B("S")}));
  h.AdvanceTime(10);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "S", "2"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(4), Granted(4, 30000))});
  EXPECT_EQ(h.Run({"LOCK.INFO", "S"}),
            Info("semaphore",
                 {Holder(1, "", 1000, 1100, 1010), Holder(3, "", 1000, 1100, 1010),
                  Holder(4, "w", 1010, 31010, 1010)},
                 4, {}, 3));
}

TEST(SemaphoreTest, SeveralPermitsFreedAtOnceGrantSeveralWaiters) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "100"});
  h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "100"});
  for (uint64_t conn : {5, 6, 7})
    h.RunAs(conn, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "WAIT", "0"});
  h.SetTime(1100);  // both leases end
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(2));
  EXPECT_EQ(Answers(h.events()),
            (Events{ReplyEvent(C(5), Granted(3, 30000)), ReplyEvent(C(6), Granted(4, 30000))}));
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
}

TEST(SemaphoreTest, PermitsMismatchAndOtherModes) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "3"});
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2"}), E(errors::kPermitsMismatch));
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "4", "WAIT", "0"}),
            E(errors::kPermitsMismatch));
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  // Other modes are plain conflicts.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SHARED"}), kNil);
  EXPECT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "S", "WAIT", "0"}), kDeferred);
  // An exclusive waiter blocks later semaphore requests (no barging).
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "3"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "S", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(3), Granted(2, 30000))});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "S", "2"}), I(1));
  // Free again: another permit count is fine now.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2"}), Granted(3, 30000));
  EXPECT_EQ(h.Run({"LOCK.INFO", "S"}).elems[3], I(2));
}

TEST(SemaphoreTest, OnePermitIsExclusive) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "1"}), Granted(1, 30000));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "1"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.INFO", "S"}),
            Info("semaphore", {Holder(1, "", 1000, 31000, 1000)}, 1, {}, 1));
}

TEST(SemaphoreTest, PermitsRange) {
  using S = StateMachine;
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "0"}), E(errors::kPermitsRange));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "1000001"}), E(errors::kPermitsRange));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "1000000"}), std::nullopt);
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "-1"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SHARED", "SEMAPHORE", "2"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "SHARED"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "SEMAPHORE", "2"}),
            E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "S", "semaphore", "2", "ttl", "5", "owner", "o"}),
            std::nullopt);
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "1000000"}), Granted(1, 30000));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "0"}), E(errors::kPermitsRange));
}

TEST(SemaphoreTest, SessionHoldersCountAgainstPermits) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});
  h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "SESSION", "1"});
  h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "500"});
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2"}), kNil);
  h.SetTime(1100);  // the session's permit frees lazily
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2"}), Granted(3, 30000));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2"}), kNil);
}

// ---- elections -----------------------------------------------------------------

Reply Leader(std::string value, int64_t token, int64_t since_ms, int64_t remaining_ms) {
  return Reply::Map({B("value"), B(std::move(value)), B("token"), I(token), B("since_ms"),
                     I(since_ms), B("remaining_ms"), I(remaining_ms)});
}

TEST(ElectTest, CampaignLeaderResign) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), kNil);
  EXPECT_EQ(h.RunAs(1, 1, {"ELECT.CAMPAIGN", "e", "node-a", "TTL", "1000"}), Granted(1, 1000));
  EXPECT_EQ(h.events(), Events{ChangeEvent("elect:e")});
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("node-a", 1, 1000, 1000));
  // A second candidate waits in line; a try without WAIT is refused.
  EXPECT_EQ(h.RunAs(2, 1, {"ELECT.CAMPAIGN", "e", "node-b", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.Run({"ELECT.CAMPAIGN", "e", "node-c"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.INFO", "elect:e"}),
            Info("exclusive", {Holder(1, "node-a", 1000, 2000, 1000)}, 1,
                 {Waiter("node-b", "exclusive", 1000, 0)}));
  h.AdvanceTime(100);
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("node-a", 1, 1000, 900));
  EXPECT_EQ(h.Run({"ELECT.RESIGN", "e", "1"}), I(1));
  EXPECT_EQ(h.events(), (Events{ChangeEvent("elect:e"), ChangeEvent("elect:e"),
                                ReplyEvent(C(2), Granted(2, 30000))}));
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("node-b", 2, 1100, 30000));
  EXPECT_EQ(h.Run({"ELECT.RESIGN", "e", "1"}), kStale);
  EXPECT_EQ(h.Run({"ELECT.RESIGN", "e", "9"}), kNotOwner);
  EXPECT_EQ(h.Run({"ELECT.RESIGN", "other", "2"}), kNotOwner);
  EXPECT_EQ(h.Run({"ELECT.RESIGN", "e", "2"}), I(1));
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), kNil);
  // Elections and locks share the fencing counter.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "e"}), Granted(3, 30000));
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), kNil);
}

TEST(ElectTest, LeaderIsNilOnceTheLeaseEnds) {
  SmHarness h(1000);
  h.RunAs(1, 1, {"ELECT.CAMPAIGN", "e", "a", "TTL", "100"});
  h.SetTime(1099);
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("a", 1, 1000, 1));
  h.SetTime(1100);
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), kNil);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(), (Events{LostEvent(C(1), "elect:e", 1, "expired"), ChangeEvent("elect:e")}));
}

TEST(ElectTest, CampaignThroughASession) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "500"});
  EXPECT_EQ(h.RunAs(1, 1, {"ELECT.CAMPAIGN", "e", "a", "SESSION", "1"}), Granted(1, 500));
  EXPECT_EQ(h.RunAs(2, 1, {"ELECT.CAMPAIGN", "e", "b", "WAIT", "1000"}), kDeferred);
  h.AdvanceTime(200);
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("a", 1, 1000, 300));
  EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), (Events{LostEvent(C(1), "elect:e", 1, "session closed"),
                                         ReplyEvent(C(2), Granted(2, 30000))}));
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), Leader("b", 2, 1200, 30000));
}

TEST(ElectTest, Errors) {
  using S = StateMachine;
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e"}), E(errors::WrongArity("ELECT.CAMPAIGN")));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", "v", "OWNER", "x"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", "v", "SHARED"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", "v", "TTL"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", "v", "TTL", "0"}),
            E(errors::InvalidExpireTime("elect.campaign")));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", "v", "WAIT", "-1"}),
            E(errors::InvalidExpireTime("elect.campaign")));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", std::string(257, 'v')}),
            E(errors::kLockOwnerTooLong));
  EXPECT_EQ(S::Precheck({"ELECT.CAMPAIGN", "e", std::string(256, 'v')}), std::nullopt);
  EXPECT_EQ(S::Precheck({"ELECT.RESIGN", "e", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"ELECT.RESIGN", "e"}), E(errors::WrongArity("ELECT.RESIGN")));
  EXPECT_EQ(S::Precheck({"ELECT.LEADER"}), E(errors::WrongArity("ELECT.LEADER")));
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"ELECT.CAMPAIGN", "e", "v", "WAIT", "0"}), E(errors::kLockWaitNoClient));
  EXPECT_EQ(h.Run({"ELECT.CAMPAIGN", "e", "v", "SESSION", "3"}), E(errors::kNoSession));
  EXPECT_EQ(h.Run({"ELECT.LEADER", "e"}), kNil);
  EXPECT_EQ(h.RunAs(1, 1, {"ELECT.CAMPAIGN", "e", "v"}), Granted(1, 30000));
  EXPECT_EQ(h.RunAs(2, 1, {"ELECT.CAMPAIGN", "e", "w", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.RunAs(2, 1, {"ELECT.CAMPAIGN", "e", "w", "WAIT", "0"}),
            E(errors::kLockAlreadyWaiting));
}

}  // namespace
}  // namespace lockq::sm
