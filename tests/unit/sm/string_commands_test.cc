// String commands through the harness, with the replies Redis 7 gives.

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
const Reply kSyntax = E(errors::kSyntax);
const Reply kNotInt = E(errors::kNotInteger);

TEST(SetTest, BasicSetGet) {
  SmHarness h;
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(h.Run({"GET", "k"}), B("v"));
  EXPECT_EQ(h.Run({"set", "k", "w"}), kOk);  // command names are case-insensitive
  EXPECT_EQ(h.Run({"GET", "k"}), B("w"));
}

TEST(SetTest, BinarySafeKeysAndValues) {
  SmHarness h;
  std::string key("k\0\r\n", 4), value("\0\xff", 2);
  EXPECT_EQ(h.Run(Argv{"SET", key, value}), kOk);
  EXPECT_EQ(h.Run(Argv{"GET", key}), B(value));
  EXPECT_EQ(h.Run(Argv{"GET", "k"}), kNil);
  EXPECT_EQ(h.Run(Argv{"SET", "", ""}), kOk);
  EXPECT_EQ(h.Run(Argv{"GET", ""}), B(""));
}

TEST(SetTest, NxXx) {
  SmHarness h;
  EXPECT_EQ(h.Run({"SET", "k", "1", "XX"}), kNil);
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.Run({"SET", "k", "1", "NX"}), kOk);
  EXPECT_EQ(h.Run({"SET", "k", "2", "nx"}), kNil);
  EXPECT_EQ(h.Run({"GET", "k"}), B("1"));
  EXPECT_EQ(h.Run({"SET", "k", "3", "XX"}), kOk);
  EXPECT_EQ(h.Run({"GET", "k"}), B("3"));
  EXPECT_EQ(h.Run({"SET", "k", "3", "NX", "NX"}), kNil);  // repeats are allowed
}

TEST(SetTest, GetOption) {
  SmHarness h;
  EXPECT_EQ(h.Run({"SET", "k", "1", "GET"}), kNil);
  EXPECT_EQ(h.Run({"SET", "k", "2", "GET"}), B("1"));
  EXPECT_EQ(h.Run({"GET", "k"}), B("2"));
  // NX + GET (allowed since Redis 7): returns the old value, sets nothing.
  EXPECT_EQ(h.Run({"SET", "k", "3", "NX", "GET"}), B("2"));
  EXPECT_EQ(h.Run({"GET", "k"}), B("2"));
  EXPECT_EQ(h.Run({"SET", "new", "x", "NX", "GET"}), kNil);
  EXPECT_EQ(h.Run({"GET", "new"}), B("x"));
  EXPECT_EQ(h.Run({"SET", "missing", "x", "XX", "GET"}), kNil);
  EXPECT_EQ(h.Run({"GET", "missing"}), kNil);
}

TEST(SetTest, ConflictingOptionsAreSyntaxErrors) {
  SmHarness h;
  for (const Argv& argv : std::vector<Argv>{
           {"SET", "k", "v", "NX", "XX"},
           {"SET", "k", "v", "XX", "NX"},
           {"SET", "k", "v", "EX", "10", "PX", "100"},
           {"SET", "k", "v", "PX", "10", "EXAT", "100"},
           {"SET", "k", "v", "EXAT", "10", "PXAT", "100"},
           {"SET", "k", "v", "EX", "10", "KEEPTTL"},
           {"SET", "k", "v", "KEEPTTL", "PX", "10"},
           {"SET", "k", "v", "EX"},
           {"SET", "k", "v", "FOO"},
           {"SET", "k", "v", "PERSIST"},
       }) {
    EXPECT_EQ(h.Run(argv), kSyntax) << argv.size();
    EXPECT_EQ(StateMachine::Precheck(argv), kSyntax);
  }
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "10", "EX", "20"}), kOk);  // same option twice
  EXPECT_EQ(h.Run({"TTL", "k"}), I(20));
}

TEST(SetTest, ExpireArgumentErrors) {
  SmHarness h;
  Reply invalid = E("ERR invalid expire time in 'set' command");
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "0"}), invalid);
  EXPECT_EQ(h.Run({"SET", "k", "v", "PX", "-5"}), invalid);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EXAT", "0"}), invalid);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "9223372036854776"}), invalid);  // > LLONG_MAX/1000
  EXPECT_EQ(h.Run({"SET", "k", "v", "PX", "9223372036854775807"}), invalid);  // now + ttl overflows
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "abc"}), kNotInt);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "1.5"}), kNotInt);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "010"}), kNotInt);
  EXPECT_EQ(h.Run({"SET", "k", "v", "EX", "+1"}), kNotInt);
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  // PXAT far in the future is fine (absolute, no addition).
  EXPECT_EQ(h.Run({"SET", "k", "v", "PXAT", "9223372036854775807"}), kOk);
  EXPECT_EQ(h.Run({"PEXPIRETIME", "k"}), I(INT64_MAX));
  // Precheck catches the stateless ones; the overflow needs the clock.
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "EX", "0"}), invalid);
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "EX", "x"}), kNotInt);
}

TEST(SetTest, TtlOptions) {
  SmHarness h(10'000);
  EXPECT_EQ(h.Run({"SET", "a", "v", "EX", "10"}), kOk);
  EXPECT_EQ(h.Run({"PTTL", "a"}), I(10'000));
  EXPECT_EQ(h.Run({"SET", "b", "v", "PX", "1500"}), kOk);
  EXPECT_EQ(h.Run({"PTTL", "b"}), I(1500));
  EXPECT_EQ(h.Run({"SET", "c", "v", "EXAT", "20"}), kOk);
  EXPECT_EQ(h.Run({"PEXPIRETIME", "c"}), I(20'000));
  EXPECT_EQ(h.Run({"SET", "d", "v", "PXAT", "12345"}), kOk);
  EXPECT_EQ(h.Run({"PEXPIRETIME", "d"}), I(12345));
  // A plain SET drops the TTL; KEEPTTL keeps it.
  EXPECT_EQ(h.Run({"SET", "a", "w", "KEEPTTL"}), kOk);
  EXPECT_EQ(h.Run({"PTTL", "a"}), I(10'000));
  EXPECT_EQ(h.Run({"SET", "a", "x"}), kOk);
  EXPECT_EQ(h.Run({"PTTL", "a"}), I(-1));
  // An absolute time already past: the key is gone at once, reply OK.
  EXPECT_EQ(h.Run({"SET", "p", "v", "PXAT", "5"}), kOk);
  EXPECT_EQ(h.Run({"GET", "p"}), kNil);
  EXPECT_EQ(h.Run({"EXISTS", "p"}), I(0));
}

TEST(SetVariantsTest, SetNxSetExPSetEx) {
  SmHarness h;
  EXPECT_EQ(h.Run({"SETNX", "k", "1"}), I(1));
  EXPECT_EQ(h.Run({"SETNX", "k", "2"}), I(0));
  EXPECT_EQ(h.Run({"GET", "k"}), B("1"));
  EXPECT_EQ(h.Run({"SETEX", "k", "5", "v"}), kOk);
  EXPECT_EQ(h.Run({"TTL", "k"}), I(5));
  EXPECT_EQ(h.Run({"GET", "k"}), B("v"));
  EXPECT_EQ(h.Run({"PSETEX", "k", "250", "w"}), kOk);
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(250));
  EXPECT_EQ(h.Run({"SETEX", "k", "0", "v"}), E("ERR invalid expire time in 'setex' command"));
  EXPECT_EQ(h.Run({"PSETEX", "k", "-1", "v"}), E("ERR invalid expire time in 'psetex' command"));
  EXPECT_EQ(h.Run({"SETEX", "k", "x", "v"}), kNotInt);
  EXPECT_EQ(h.Run({"SETEX", "k", "1"}), E("ERR wrong number of arguments for 'setex' command"));
  EXPECT_EQ(h.Run({"GET", "k"}), B("w"));
}

TEST(GetDelGetSetTest, Basics) {
  SmHarness h;
  EXPECT_EQ(h.Run({"GETDEL", "k"}), kNil);
  h.Run({"SET", "k", "v", "EX", "100"});
  EXPECT_EQ(h.Run({"GETDEL", "k"}), B("v"));
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  EXPECT_EQ(h.Run({"GETSET", "k", "1"}), kNil);
  h.Run({"EXPIRE", "k", "100"});
  EXPECT_EQ(h.Run({"GETSET", "k", "2"}), B("1"));
  EXPECT_EQ(h.Run({"TTL", "k"}), I(-1));  // GETSET drops the TTL like SET
}

TEST(AppendStrlenTest, Basics) {
  SmHarness h;
  EXPECT_EQ(h.Run({"STRLEN", "k"}), I(0));
  EXPECT_EQ(h.Run({"APPEND", "k", "ab"}), I(2));
  EXPECT_EQ(h.Run({"APPEND", "k", "cde"}), I(5));
  EXPECT_EQ(h.Run({"GET", "k"}), B("abcde"));
  EXPECT_EQ(h.Run({"STRLEN", "k"}), I(5));
  h.Run({"PEXPIRE", "k", "1000"});
  EXPECT_EQ(h.Run({"APPEND", "k", "f"}), I(6));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(1000));  // APPEND keeps the TTL
  h.AdvanceTime(1000);
  EXPECT_EQ(h.Run({"APPEND", "k", "x"}), I(1));  // expired key counts as absent
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(-1));
}

TEST(IncrTest, Basics) {
  SmHarness h;
  EXPECT_EQ(h.Run({"INCR", "n"}), I(1));
  EXPECT_EQ(h.Run({"INCRBY", "n", "10"}), I(11));
  EXPECT_EQ(h.Run({"DECR", "n"}), I(10));
  EXPECT_EQ(h.Run({"DECRBY", "n", "-5"}), I(15));
  EXPECT_EQ(h.Run({"DECRBY", "n", "20"}), I(-5));
  EXPECT_EQ(h.Run({"GET", "n"}), B("-5"));
  EXPECT_EQ(h.Run({"DECRBY", "m", "3"}), I(-3));
}

TEST(IncrTest, ErrorsAndOverflow) {
  SmHarness h;
  h.Run({"SET", "s", "abc"});
  EXPECT_EQ(h.Run({"INCR", "s"}), kNotInt);
  h.Run({"SET", "s", " 1"});
  EXPECT_EQ(h.Run({"INCR", "s"}), kNotInt);
  h.Run({"SET", "s", "1.0"});
  EXPECT_EQ(h.Run({"INCR", "s"}), kNotInt);
  EXPECT_EQ(h.Run({"INCRBY", "n", "x"}), kNotInt);
  EXPECT_EQ(h.Run({"INCRBY", "n", "9223372036854775808"}), kNotInt);
  EXPECT_EQ(StateMachine::Precheck({"INCRBY", "n", "x"}), kNotInt);
  h.Run({"SET", "n", "9223372036854775807"});
  EXPECT_EQ(h.Run({"INCR", "n"}), E(errors::kIncrOverflow));
  EXPECT_EQ(h.Run({"GET", "n"}), B("9223372036854775807"));
  h.Run({"SET", "n", "-9223372036854775808"});
  EXPECT_EQ(h.Run({"DECR", "n"}), E(errors::kIncrOverflow));
  EXPECT_EQ(h.Run({"INCRBY", "n", "-1"}), E(errors::kIncrOverflow));
  EXPECT_EQ(h.Run({"INCRBY", "n", "9223372036854775807"}), I(-1));
  EXPECT_EQ(h.Run({"DECRBY", "n", "-9223372036854775808"}), E("ERR decrement would overflow"));
}

TEST(IncrTest, KeepsTtl) {
  SmHarness h;
  h.Run({"SET", "n", "5", "PX", "300"});
  EXPECT_EQ(h.Run({"INCR", "n"}), I(6));
  EXPECT_EQ(h.Run({"PTTL", "n"}), I(300));
  h.AdvanceTime(300);
  EXPECT_EQ(h.Run({"INCR", "n"}), I(1));  // expired: starts again from 0
  EXPECT_EQ(h.Run({"PTTL", "n"}), I(-1));
}

TEST(MultiKeyTest, MGetMSetMSetNx) {
  SmHarness h;
  EXPECT_EQ(h.Run({"MSET", "a", "1", "b", "2"}), kOk);
  EXPECT_EQ(h.Run({"MGET", "a", "x", "b"}), Reply::Array({B("1"), kNil, B("2")}));
  EXPECT_EQ(h.Run({"MSET", "a", "1", "b"}), E("ERR wrong number of arguments for 'mset' command"));
  EXPECT_EQ(h.Run({"MSETNX", "a", "9", "c", "3"}), I(0));
  EXPECT_EQ(h.Run({"GET", "c"}), kNil);
  EXPECT_EQ(h.Run({"MSETNX", "c", "3", "d", "4"}), I(1));
  EXPECT_EQ(h.Run({"MGET", "c", "d"}), Reply::Array({B("3"), B("4")}));
  EXPECT_EQ(h.Run({"MSETNX", "e"}), E("ERR wrong number of arguments for 'msetnx' command"));
  h.Run({"EXPIRE", "a", "10"});
  h.Run({"MSET", "a", "5"});
  EXPECT_EQ(h.Run({"TTL", "a"}), I(-1));  // MSET drops TTLs
}

}  // namespace
}  // namespace lockq::sm
