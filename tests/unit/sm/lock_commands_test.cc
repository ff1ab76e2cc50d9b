// LOCK.ACQUIRE / RELEASE / RENEW / INFO / LIST through the harness.

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "sm/locks.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

TEST(LockCommandsTest, ExclusiveAcquireReleaseCycle) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"}), Granted(1, 1000));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "1000"}), kNil);  // held
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED"}), kNil);       // exclusive blocks shared
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kNotOwner);  // already released
  EXPECT_EQ(h.Run({"lock.acquire", "L", "ttl", "500"}), Granted(2, 500));
}

TEST(LockCommandsTest, DefaultTtlIs30s) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L"}), Granted(1, static_cast<int64_t>(kLockTtlDefaultMs)));
  EXPECT_EQ(h.sm().next_expiry_ms(), h.time_ms() + kLockTtlDefaultMs);
}

TEST(LockCommandsTest, SharedHoldersCoexistAndBlockExclusive) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SHARED", "TTL", "100"}), Granted(1, 100));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "shared", "TTL", "200"}), Granted(2, 200));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "TTL", "100"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "S", "1"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S"}), kNil);  // token 2 still holds shared
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "S", "2"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "TTL", "100"}), Granted(3, 100));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SHARED"}), kNil);  // now exclusive
}

TEST(LockCommandsTest, TokensStrictlyIncreaseAcrossLocks) {
  SmHarness h;
  int64_t last = 0;
  for (int i = 0; i < 20; i++) {
    std::string name = "lock" + std::to_string(i % 3);
    Reply r = h.Run({"LOCK.ACQUIRE", name, "SHARED", "TTL", "1000"});
    ASSERT_GT(TokenOf(r), last) << i;
    last = TokenOf(r);
    if (i % 2 == 0) {
      EXPECT_EQ(h.Run({"LOCK.RELEASE", name, std::to_string(last)}), I(1));
    }
  }
  EXPECT_EQ(last, 20);
  EXPECT_EQ(h.sm().last_lock_token(), 20u);
  // A conflict grants nothing and consumes no token.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "x", "TTL", "10"}), Granted(21, 10));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "x", "TTL", "10"}), kNil);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "y", "TTL", "10"}), Granted(22, 10));
}

TEST(LockCommandsTest, ReleaseErrorsChangeNothing) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "nope", "1"}), kNotOwner);  // never granted
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "M", "TTL", "100"}), Granted(2, 100));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), kNotOwner);   // M's token: newer than L's grant
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "99"}), kNotOwner);  // never granted anywhere
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "-1"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L"}), E(errors::WrongArity("lock.release")));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("exclusive", {Holder(1, "", 1000000, 1000100, 1000000)}, 1));
  EXPECT_EQ(h.sm().last_lock_token(), 2u);
  EXPECT_EQ(h.sm().lock_holder_count(), 2u);
}

TEST(LockCommandsTest, StaleTokenAfterANewerGrant) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(2, 100));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), kStale);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), kStale);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), I(1));
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "2"}), kNotOwner);  // the newest, but released
}

TEST(LockCommandsTest, RenewExtendsFromNow) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100", "OWNER", "w1"}), Granted(1, 100));
  h.AdvanceTime(60);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1"}), I(100));  // the last lease again
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(1, "w1", 1000, 1160, 1060)}, 1));
  h.AdvanceTime(10);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "TTL", "500"}), I(500));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("exclusive", {Holder(1, "w1", 1000, 1570, 1070)}, 1));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1570u);
  h.AdvanceTime(499);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "ttl", "20"}), I(20));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "2"}), kNotOwner);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "nope", "1"}), kNotOwner);
}

TEST(LockCommandsTest, OptionErrors) {
  SmHarness h;
  const Reply kSyntax = E(errors::kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT", "100"}), E(errors::kLockWaitNoClient));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "WAIT", "-1"}), E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SESSION", "0"}), E(errors::kNoSession));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "5", "SESSION", "1"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED", "SEMAPHORE", "2"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SEMAPHORE", "0"}), E(errors::kPermitsRange));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "OWNER"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SESSION", "1"}), E(errors::kNoSession));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "FOO"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "0"}),
            E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "-5"}),
            E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "9223372036854775807"}),
            E(errors::InvalidExpireTime("lock.acquire")));  // now + ttl overflows
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "OWNER", std::string(kLockOwnerMax + 1, 'o')}),
            E(errors::kLockOwnerTooLong));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE"}), E(errors::WrongArity("lock.acquire")));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "TTL"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "FOO", "5"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "TTL", "0"}),
            E(errors::InvalidExpireTime("lock.renew")));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "z"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L"}), E(errors::WrongArity("lock.renew")));
  EXPECT_EQ(h.Run({"LOCK.INFO"}), E(errors::WrongArity("lock.info")));
  EXPECT_EQ(h.Run({"LOCK.LIST", "MATCH"}), kSyntax);
  EXPECT_EQ(h.Run({"LOCK.LIST", "FOO", "x"}), kSyntax);
  // Nothing was granted by any of these.
  EXPECT_EQ(h.sm().last_lock_token(), 0u);
  // Apply re-checks what Precheck checks (a log entry from a buggy proposer).
  EXPECT_EQ(h.ApplyOnly({"LOCK.ACQUIRE", "L", "TTL", "0"}),
            E(errors::InvalidExpireTime("lock.acquire")));
  EXPECT_EQ(h.ApplyOnly({"LOCK.RELEASE", "L", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(h.sm().last_lock_token(), 0u);
}

TEST(LockCommandsTest, OptionsCombineInAnyOrder) {
  SmHarness h(5000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "OWNER", "me", "TTL", "7", "SHARED"}), Granted(1, 7));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SHARED", "TTL", "9"}), Granted(2, 9));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}),
            Info("shared", {Holder(1, "me", 5000, 5007, 5000), Holder(2, "", 5000, 5009, 5000)},
                 2));
}

TEST(LockCommandsTest, InfoOfFreeAndUnknownLocks) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.INFO", "nope"}), Info("free", {}, 0));
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "10"});
  h.Run({"LOCK.RELEASE", "L", "1"});
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
}

TEST(LockCommandsTest, ListShowsHeldLocksInNameOrder) {
  SmHarness h;
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({}));
  h.Run({"LOCK.ACQUIRE", "job:2", "TTL", "100"});
  h.Run({"LOCK.ACQUIRE", "job:1", "TTL", "50"});
  h.Run({"LOCK.ACQUIRE", "other", "SHARED", "TTL", "100"});
  h.Run({"LOCK.ACQUIRE", "gone", "TTL", "100"});
  h.Run({"LOCK.RELEASE", "gone", "4"});
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({B("job:1"), B("job:2"), B("other")}));
  EXPECT_EQ(h.Run({"LOCK.LIST", "match", "job:*"}), Reply::Array({B("job:1"), B("job:2")}));
  h.AdvanceTime(50);  // job:1's lease ends
  EXPECT_EQ(h.Run({"LOCK.LIST", "MATCH", "job:*"}), Reply::Array({B("job:2")}));
}

TEST(LockCommandsTest, Flags) {
  auto flags = [](const char* name) { return StateMachine::FindCommand(name)->flags; };
  for (const char* w : {"LOCK.ACQUIRE", "LOCK.RELEASE", "LOCK.RENEW"}) {
    EXPECT_TRUE(flags(w) & kCmdWrite) << w;
    EXPECT_FALSE(flags(w) & kCmdReadOnly) << w;
  }
  for (const char* r : {"LOCK.INFO", "LOCK.LIST"}) {
    EXPECT_TRUE(flags(r) & kCmdReadOnly) << r;
    EXPECT_FALSE(flags(r) & kCmdWrite) << r;
  }
}

TEST(LockCommandsTest, ReadsDoNotChangeState) {
  SmHarness h;
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "10"});
  h.AdvanceTime(20);  // expired, not yet collected
  StateMachine before(h.sm());
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
  EXPECT_EQ(h.Run({"LOCK.LIST"}), Reply::Array({}));
  EXPECT_EQ(h.sm().lock_holder_count(), 1u);
  EXPECT_EQ(h.sm().next_expiry_ms(), before.next_expiry_ms());
}

TEST(LockCommandsTest, LuaScriptsCallLockCommands) {
  SmHarness h;
  Reply r = h.Run({"EVAL",
                   "local g = redis.call('LOCK.ACQUIRE', KEYS[1], 'TTL', ARGV[1]) "
                   "local n = redis.call('LOCK.RELEASE', KEYS[1], g[1]) "
                   "local g2 = redis.call('LOCK.ACQUIRE', KEYS[1], 'TTL', ARGV[1]) "
                   "return {g[1], g[2], n, g2[1]}",
                   "1", "L", "250"});
  EXPECT_EQ(r, Reply::Array({I(1), I(250), I(1), I(2)}));
  // A read-only script may not take a lock.
  Reply ro = h.Run({"EVAL_RO", "return redis.call('LOCK.ACQUIRE', KEYS[1])", "1", "M"});
  EXPECT_TRUE(ro.is_error());
  EXPECT_NE(ro.str.find(errors::kScriptWriteInReadOnly), std::string::npos) << ro.str;
  // Maps reach Lua as flat arrays (key, value, ...), as with RESP2.
  EXPECT_EQ(h.Run({"EVAL_RO", "return redis.call('LOCK.INFO', KEYS[1])[2]", "1", "L"}),
            B("exclusive"));
}

}  // namespace
}  // namespace lockq::sm
