// Sessions: SESSION.OPEN/KEEPALIVE/CLOSE/INFO, locks held through a
// session (released exactly at the session's deadline in leader time, by
// any command lazily and by LOCKQ.EXPIRE actively), waiters whose session
// ends (etcd #11456), and the re-base on LOCKQ.ANNOUNCE.

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

ClientRef C(uint64_t conn) { return SmHarness::ClientOf(conn, 1); }

const Reply kNoSession = E(errors::kNoSession);
const Reply kNoSessionWaiting = E(errors::kNoSessionWhileWaiting);

Reply SessionInfo(int64_t ttl_ms, int64_t remaining_ms, std::vector<Reply> locks = {}) {
  return Reply::Map({B("ttl_ms"), I(ttl_ms), B("remaining_ms"), I(remaining_ms), B("locks"),
                     Reply::Array(std::move(locks))});
}
Reply Held(std::string name, int64_t token) { return Reply::Array({B(std::move(name)), I(token)}); }

TEST(SessionTest, OpenKeepAliveInfoClose) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"SESSION.OPEN", "500"}), I(1));
  EXPECT_EQ(h.Run({"SESSION.OPEN", "100"}), I(2));
  EXPECT_EQ(h.sm().session_count(), 2u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(500, 500));
  h.AdvanceTime(200);
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(500, 300));
  EXPECT_EQ(h.Run({"SESSION.KEEPALIVE", "1"}), I(500));
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(500, 500));
  EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), I(1));
  EXPECT_TRUE(h.events().empty());  // it held nothing
  EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), kNoSession);
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), kNoSession);
  EXPECT_EQ(h.Run({"SESSION.KEEPALIVE", "1"}), kNoSession);
  EXPECT_EQ(h.sm().session_count(), 1u);
  // Ids are never reused.
  EXPECT_EQ(h.Run({"SESSION.OPEN", "100"}), I(3));
}

TEST(SessionTest, ExpiresExactlyAtItsDeadline) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});
  h.SetTime(1099);
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(100, 1));
  h.SetTime(1100);
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), kNoSession);
  EXPECT_EQ(h.Run({"SESSION.KEEPALIVE", "1"}), kNoSession);
  EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), kNoSession);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SESSION", "1"}), kNoSession);
  EXPECT_EQ(h.sm().session_count(), 1u);  // not collected yet
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.sm().session_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
}

TEST(SessionTest, Errors) {
  using S = StateMachine;
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "0"}), E(errors::InvalidExpireTime("session.open")));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "-5"}), E(errors::InvalidExpireTime("session.open")));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "ten"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "1.5"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "99999999999999999999"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN"}), E(errors::WrongArity("SESSION.OPEN")));
  EXPECT_EQ(S::Precheck({"SESSION.OPEN", "1", "2"}), E(errors::WrongArity("SESSION.OPEN")));
  for (const char* cmd : {"SESSION.KEEPALIVE", "SESSION.CLOSE", "SESSION.INFO"}) {
    EXPECT_EQ(S::Precheck({cmd, "x"}), E(errors::kNotInteger)) << cmd;
    EXPECT_EQ(S::Precheck({cmd, "-1"}), E(errors::kNotInteger)) << cmd;
    EXPECT_EQ(S::Precheck({cmd}), E(errors::WrongArity(cmd))) << cmd;
  }
  SmHarness h(1000);
  // A deadline beyond int64 is refused when applied; no id is used up.
  EXPECT_EQ(h.Run({"SESSION.OPEN", "9223372036854775807"}),
            E(errors::InvalidExpireTime("session.open")));
  EXPECT_EQ(h.Run({"SESSION.OPEN", std::to_string(INT64_MAX - 1000)}), I(1));
  EXPECT_EQ(h.Run({"SESSION.OPEN", std::to_string(INT64_MAX - 999)}),
            E(errors::InvalidExpireTime("session.open")));
  EXPECT_EQ(h.sm().session_count(), 1u);
  for (const char* cmd : {"SESSION.KEEPALIVE", "SESSION.CLOSE", "SESSION.INFO"}) {
    EXPECT_EQ(h.Run({cmd, "0"}), kNoSession) << cmd;
    EXPECT_EQ(h.Run({cmd, "2"}), kNoSession) << cmd;
  }
  // SESSION on LOCK.ACQUIRE.
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "SESSION", "0"}), kNoSession);
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "SESSION", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "SESSION", "1", "TTL", "5"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "TTL", "5", "SESSION", "1"}), E(errors::kSyntax));
  EXPECT_EQ(S::Precheck({"LOCK.ACQUIRE", "L", "SESSION"}), E(errors::kSyntax));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SESSION", "7"}), kNoSession);
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SESSION", "7", "WAIT", "0"}), kNoSession);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 0));
}

TEST(SessionTest, LocksAreReleasedExactlyAtTheSessionDeadlineLazily) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});  // deadline 1100
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "OWNER", "a"}), Granted(1, 100));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {SessionHolder(1, "a", 1000, 1100, 1000, 1)}, 1));
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(100, 100, {Held("L", 1)}));
  h.SetTime(1099);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {SessionHolder(1, "a", 1000, 1100, 1099, 1)}, 1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), E(errors::kLockHeldBySession));
  EXPECT_EQ(h.Run({"SET", "k", "v", "FENCE", "L", "1"}), Reply::Ok());
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({B("L")}));
  h.SetTime(1100);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({}));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kNotOwner);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), kNotOwner);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L"}), Granted(2, 30000));
  EXPECT_EQ(Answers(h.events()), Events{LostEvent(C(1), "L", 1, "session expired")});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kStale);
  // The session is collected later, with nothing left to release.
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_TRUE(h.events().empty());
}

TEST(SessionTest, LocksAreReleasedAtTheSessionDeadlineByLockqExpire) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "M", "SESSION", "1"});            // 1
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SHARED", "SESSION", "1"});  // 2
  h.Run({"LOCK.ACQUIRE", "N", "SESSION", "1"});                    // 3, no client
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}),
            SessionInfo(100, 100, {Held("L", 2), Held("M", 1), Held("N", 3)}));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  EXPECT_EQ(h.sm().lock_holder_count(), 3u);
  h.SetTime(1099);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_EQ(h.sm().lock_holder_count(), 3u);
  h.SetTime(1100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));  // one session
  EXPECT_EQ(h.events(), (Events{LostEvent(C(2), "L", 2, "session expired"), ChangeEvent("L"),
                                LostEvent(C(1), "M", 1, "session expired"), ChangeEvent("M"),
                                ChangeEvent("N")}));
  EXPECT_EQ(h.sm().lock_holder_count(), 0u);
  EXPECT_EQ(h.sm().session_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
}

TEST(SessionTest, KeepAliveExtendsWhatTheSessionHolds) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});
  h.Run({"LOCK.ACQUIRE", "L", "SESSION", "1"});
  h.SetTime(1090);
  EXPECT_EQ(h.Run({"SESSION.KEEPALIVE", "1"}), I(100));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1190u);
  h.SetTime(1150);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(0));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {SessionHolder(1, "", 1000, 1190, 1150, 1)}, 1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT", "0"}), E(errors::kLockWaitNoClient));
  h.SetTime(1190);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
}

TEST(SessionTest, ReleasingASessionLockByTokenKeepsTheSession) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});
  h.Run({"LOCK.ACQUIRE", "L", "SESSION", "1"});
  h.Run({"LOCK.ACQUIRE", "M", "SESSION", "1"});
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(100, 100, {Held("M", 2)}));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "M", "2", "TTL", "50"}), E(errors::kLockHeldBySession));
  EXPECT_EQ(h.Run({"LOCK.INFO", "M"}),
            Info("exclusive", {SessionHolder(2, "", 1000, 1100, 1000, 1)}, 2));
}

TEST(SessionTest, CloseReleasesAndGrantsTheNextWaiter) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "10000"});
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "100", "WAIT", "0"}), kDeferred);
  h.AdvanceTime(10);
  EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), I(1));
  EXPECT_EQ(h.events(), (Events{LostEvent(C(1), "L", 1, "session closed"), ChangeEvent("L"),
                                ChangeEvent("L"), ReplyEvent(C(2), Granted(2, 100))}));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(2, "", 1010, 1110, 1010)}, 2));
  EXPECT_EQ(h.sm().session_count(), 0u);
}

TEST(SessionTest, WaiterWhoseSessionExpiresIsAnsweredNoSessionAndNeverGranted) {
  // etcd #11456: a waiter must not be granted a lock for a session that
  // ended while it waited.
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"});
  h.Run({"SESSION.OPEN", "100"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"}), kDeferred);
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}).elems[7],
            Reply::Array({Waiter("", "exclusive", 1000, 0, 1), Waiter("", "exclusive", 1000, 0)}));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  h.SetTime(1100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(), Events{ReplyEvent(C(2), kNoSessionWaiting)});
  EXPECT_EQ(h.sm().lock_waiter_count(), 1u);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(3), Granted(2, 30000))});
}

TEST(SessionTest, WaiterWhoseSessionExpiredIsRefusedWhenTheLockFrees) {
  {
    // Expired but not collected: the release's queue pump refuses it.
    SmHarness h(1000);
    h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"});
    h.Run({"SESSION.OPEN", "50"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "WAIT", "0"});
    h.RunAs(3, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0"});
    h.SetTime(1050);
    EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
    EXPECT_EQ(Answers(h.events()),
              (Events{ReplyEvent(C(2), kNoSessionWaiting), ReplyEvent(C(3), Granted(2, 30000))}));
  }
  {
    // The holder's lease and the waiter's session end in the same
    // LOCKQ.EXPIRE.
    SmHarness h(1000);
    h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
    h.Run({"SESSION.OPEN", "100"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "WAIT", "0"});
    h.SetTime(1100);
    EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(2));
    EXPECT_EQ(Answers(h.events()),
              (Events{LostEvent(C(1), "L", 1, "expired"), ReplyEvent(C(2), kNoSessionWaiting)}));
    EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
  }
  {
    // Closing the session answers its waiters.
    SmHarness h(1000);
    h.Run({"LOCK.ACQUIRE", "L"});
    h.Run({"SESSION.OPEN", "100"});
    h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "WAIT", "0"});
    EXPECT_EQ(h.Run({"SESSION.CLOSE", "1"}), I(1));
    EXPECT_EQ(h.events(), Events{ReplyEvent(C(2), kNoSessionWaiting)});
    EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  }
}

TEST(SessionTest, SessionWaiterGrantedHoldsThroughTheSession) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "50"});
  h.Run({"SESSION.OPEN", "100"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "WAIT", "0"});
  h.SetTime(1050);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(Answers(h.events()),
            Events{ReplyEvent(C(2), Granted(2, 50))});  // the session's time left
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(100, 50, {Held("L", 2)}));
}

TEST(SessionTest, AnnounceReBasesSessionDeadlines) {
  SmHarness h(1000);
  h.Run({"SESSION.OPEN", "100"});  // 1: deadline 1100
  h.Run({"SESSION.OPEN", "10"});   // 2: deadline 1010
  h.Run({"LOCK.ACQUIRE", "L", "SESSION", "1"});
  h.Run({"LOCK.ACQUIRE", "W", "TTL", "100000"});
  h.RunAs(5, 1, {"LOCK.ACQUIRE", "W", "WAIT", "200"});  // wait deadline 1200
  h.SetTime(1050);
  h.Run({"LOCK.INFO", "L"});  // the last batch before the outage
  h.SetTime(6050);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "2", "127.0.0.1:7002"}), Reply::Ok());
  // Session 1 had 50 ms left and still has them; so has its lock.
  EXPECT_EQ(h.Run({"SESSION.INFO", "1"}), SessionInfo(100, 50, {Held("L", 1)}));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {SessionHolder(1, "", 1000, 6100, 6050, 1)}, 1));
  // Session 2 had expired before the outage: it stays expired. The wait
  // deadline is not extended either (it bounds the client's patience).
  EXPECT_EQ(h.Run({"SESSION.INFO", "2"}), kNoSession);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1010u);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(2));
  EXPECT_EQ(Answers(h.events()), Events{ReplyEvent(C(5), kNil)});
  EXPECT_EQ(h.sm().next_expiry_ms(), 6100u);
}

}  // namespace
}  // namespace lockq::sm
