// TTL commands, the state machine clock and active expiry.

#include <gtest/gtest.h>

#include "testlib/sm_harness.h"
#include "sm/errors.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

const Reply kOk = Reply::Ok();
const Reply kNil = Reply::Null();
Reply B(std::string s) { return Reply::Bulk(std::move(s)); }
Reply I(int64_t v) { return Reply::Int(v); }
Reply E(std::string_view s) { return Reply::Error(std::string(s)); }

TEST(ExpiryTest, NeverBeforeDeadlineAndExactlyAtIt) {
  SmHarness h(5000);
  h.Run({"SET", "k", "v", "PX", "100"});
  h.AdvanceTime(99);
  EXPECT_EQ(h.Run({"GET", "k"}), B("v"));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(1));
  EXPECT_EQ(h.sm().next_expiry_ms(), 5100u);
  h.AdvanceTime(1);  // now == deadline: gone
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.Run({"EXISTS", "k"}), I(0));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(-2));
  EXPECT_EQ(h.Run({"TYPE", "k"}), Reply::Status("none"));
  EXPECT_EQ(h.Run({"DBSIZE"}), I(0));
  EXPECT_EQ(h.Run({"KEYS", "*"}), Reply::Array({}));
  // Reads do not remove it physically; LOCKQ.EXPIRE does.
  EXPECT_EQ(h.sm().key_count(), 1u);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.sm().key_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
}

TEST(ExpiryTest, ClockNeverGoesBackwards) {
  SmHarness h(10'000);
  h.Run({"SET", "k", "v", "PX", "500"});
  h.SetTime(10'600);
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.sm().now_ms(), 10'600u);
  // A new leader with a slower clock proposes with an older time.
  h.SetTime(9'000);
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.sm().now_ms(), 10'600u);
  // Relative TTLs count from the state machine clock, not the batch's.
  EXPECT_EQ(h.Run({"SET", "j", "v", "PX", "100"}), kOk);
  EXPECT_EQ(h.Run({"PEXPIRETIME", "j"}), I(10'700));
}

TEST(ExpiryTest, ActiveExpiryEarliestFirstAndBounded) {
  SmHarness h(1000);
  h.Run({"SET", "c", "v", "PX", "30"});
  h.Run({"SET", "a", "v", "PX", "10"});
  h.Run({"SET", "b", "v", "PX", "20"});
  h.Run({"SET", "later", "v", "PX", "1000"});
  h.Run({"SET", "forever", "v"});
  EXPECT_EQ(h.sm().expiring_key_count(), 4u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1010u);
  h.AdvanceTime(100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "2"}), I(2));
  EXPECT_EQ(h.sm().next_expiry_ms(), 1030u);  // a and b went first
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(1));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(0));
  EXPECT_EQ(h.sm().key_count(), 2u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 2000u);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "0"}), I(0));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "-1"}), E(errors::kNotInteger));
}

TEST(ExpireCommandTest, RelativeAndAbsolute) {
  SmHarness h(50'000);
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10"}), I(0));  // missing key
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"TTL", "k"}), I(-1));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10"}), I(1));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(10'000));
  EXPECT_EQ(h.Run({"PEXPIRE", "k", "2500"}), I(1));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(3));  // (2500 + 500) / 1000
  EXPECT_EQ(h.Run({"EXPIRETIME", "k"}), I(53));  // (52500 + 500) / 1000
  EXPECT_EQ(h.Run({"PEXPIRETIME", "k"}), I(52'500));
  EXPECT_EQ(h.Run({"EXPIREAT", "k", "60"}), I(1));
  EXPECT_EQ(h.Run({"PEXPIRETIME", "k"}), I(60'000));
  EXPECT_EQ(h.Run({"PEXPIREAT", "k", "70001"}), I(1));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(20'001));
  EXPECT_EQ(h.Run({"PERSIST", "k"}), I(1));
  EXPECT_EQ(h.Run({"PERSIST", "k"}), I(0));
  EXPECT_EQ(h.Run({"PERSIST", "missing"}), I(0));
  EXPECT_EQ(h.Run({"EXPIRETIME", "k"}), I(-1));
  EXPECT_EQ(h.Run({"PEXPIRETIME", "missing"}), I(-2));
  EXPECT_EQ(h.sm().expiring_key_count(), 0u);
}

TEST(ExpireCommandTest, PastOrNegativeDeletes) {
  SmHarness h(50'000);
  h.Run({"SET", "a", "v"});
  EXPECT_EQ(h.Run({"EXPIRE", "a", "-1"}), I(1));
  EXPECT_EQ(h.Run({"EXISTS", "a"}), I(0));
  h.Run({"SET", "b", "v"});
  EXPECT_EQ(h.Run({"PEXPIREAT", "b", "50000"}), I(1));  // == now
  EXPECT_EQ(h.Run({"EXISTS", "b"}), I(0));
  h.Run({"SET", "c", "v"});
  EXPECT_EQ(h.Run({"EXPIRE", "c", "0"}), I(1));
  EXPECT_EQ(h.sm().key_count(), 0u);
}

TEST(ExpireCommandTest, Flags) {
  SmHarness h(0);
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"EXPIRE", "k", "100", "XX"}), I(0));  // no TTL yet
  EXPECT_EQ(h.Run({"EXPIRE", "k", "100", "GT"}), I(0));  // none counts as infinite
  EXPECT_EQ(h.Run({"EXPIRE", "k", "100", "LT"}), I(1));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "50", "NX"}), I(0));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "200", "gt"}), I(1));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "150", "GT"}), I(0));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "200", "LT"}), I(0));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "150", "LT", "XX"}), I(1));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(150));
  h.Run({"PERSIST", "k"});
  EXPECT_EQ(h.Run({"EXPIRE", "k", "5", "NX"}), I(1));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(5));
}

TEST(ExpireCommandTest, Errors) {
  SmHarness h(1000);
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10", "NX", "XX"}), E(errors::kExpireNxConflict));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10", "NX", "GT"}), E(errors::kExpireNxConflict));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10", "GT", "LT"}), E(errors::kExpireGtLtConflict));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "10", "FOO"}), E("ERR Unsupported option FOO"));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "ten"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"EXPIRE", "k", "9223372036854776"}),
            E("ERR invalid expire time in 'expire' command"));
  EXPECT_EQ(h.Run({"pexpire", "k", "9223372036854775807"}),
            E("ERR invalid expire time in 'pexpire' command"));
  EXPECT_EQ(h.Run({"EXPIRE", "k"}), E("ERR wrong number of arguments for 'expire' command"));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(-1));
  EXPECT_EQ(StateMachine::Precheck({"EXPIRE", "k", "10", "GT", "LT"}),
            E(errors::kExpireGtLtConflict));
}

TEST(TtlTest, Rounding) {
  SmHarness h(0);
  h.Run({"SET", "k", "v", "PX", "1499"});
  EXPECT_EQ(h.Run({"TTL", "k"}), I(1));
  h.Run({"SET", "k", "v", "PX", "1500"});
  EXPECT_EQ(h.Run({"TTL", "k"}), I(2));
  h.Run({"SET", "k", "v", "PX", "400"});
  EXPECT_EQ(h.Run({"TTL", "k"}), I(0));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(400));
}

}  // namespace
}  // namespace lockq::sm
