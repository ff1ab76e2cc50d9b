// Generic key commands, SCAN, command table and Precheck, internal commands.

#include <gtest/gtest.h>

#include <set>

#include "testlib/sm_harness.h"
#include "sm/errors.h"
#include "sm/keyspace.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

const Reply kOk = Reply::Ok();
Reply B(std::string s) { return Reply::Bulk(std::move(s)); }
Reply I(int64_t v) { return Reply::Int(v); }
Reply E(std::string_view s) { return Reply::Error(std::string(s)); }

std::set<std::string> KeySet(const Reply& array) {
  std::set<std::string> out;
  for (const Reply& r : array.elems) out.insert(r.str);
  return out;
}

TEST(DelExistsTest, VariadicCounts) {
  SmHarness h;
  h.Run({"MSET", "a", "1", "b", "2", "c", "3"});
  EXPECT_EQ(h.Run({"EXISTS", "a", "a", "x", "b"}), I(3));
  EXPECT_EQ(h.Run({"DEL", "a", "x", "a"}), I(1));
  EXPECT_EQ(h.Run({"UNLINK", "b", "c"}), I(2));
  EXPECT_EQ(h.Run({"EXISTS", "a", "b", "c"}), I(0));
  EXPECT_EQ(h.Run({"DEL"}), E("ERR wrong number of arguments for 'del' command"));
  // An expired key is not counted as deleted.
  h.Run({"SET", "t", "v", "PX", "10"});
  h.AdvanceTime(10);
  EXPECT_EQ(h.Run({"DEL", "t"}), I(0));
  EXPECT_EQ(h.sm().key_count(), 0u);
}

TEST(TypeDbsizeFlushTest, Basics) {
  SmHarness h;
  EXPECT_EQ(h.Run({"TYPE", "k"}), Reply::Status("none"));
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"TYPE", "k"}), Reply::Status("string"));
  h.Run({"SET", "e", "v", "PX", "5"});
  EXPECT_EQ(h.Run({"DBSIZE"}), I(2));
  h.AdvanceTime(5);
  EXPECT_EQ(h.Run({"DBSIZE"}), I(1));
  EXPECT_EQ(h.Run({"FLUSHALL", "BOGUS"}), E(errors::kSyntax));
  EXPECT_EQ(h.Run({"FLUSHALL", "SYNC", "ASYNC"}), E(errors::kSyntax));
  EXPECT_EQ(h.Run({"DBSIZE"}), I(1));
  EXPECT_EQ(h.Run({"FLUSHALL", "async"}), kOk);
  EXPECT_EQ(h.Run({"DBSIZE"}), I(0));
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"FLUSHDB"}), kOk);
  EXPECT_EQ(h.Run({"DBSIZE"}), I(0));
  EXPECT_EQ(h.Run({"DBSIZE", "x"}), E("ERR wrong number of arguments for 'dbsize' command"));
}

TEST(KeysTest, PatternsAndEmptyKey) {
  SmHarness h;
  h.Run({"MSET", "user:1", "a", "user:2", "b", "job:1", "c", "", "empty"});
  EXPECT_EQ(KeySet(h.Run({"KEYS", "*"})), (std::set<std::string>{"", "user:1", "user:2", "job:1"}));
  EXPECT_EQ(KeySet(h.Run({"KEYS", "user:*"})), (std::set<std::string>{"user:1", "user:2"}));
  EXPECT_EQ(KeySet(h.Run({"KEYS", "*:[1]"})), (std::set<std::string>{"user:1", "job:1"}));
  EXPECT_EQ(h.Run({"KEYS", "nothing*"}), Reply::Array({}));
}

TEST(KeysTest, RefusesHugeKeyspace) {
  SmHarness h;
  Argv mset = {"MSET"};
  for (size_t i = 0; i <= kKeysScanMax; i++) {
    mset.push_back("k" + std::to_string(i));
    mset.push_back("v");
  }
  EXPECT_EQ(h.Run(mset), kOk);
  EXPECT_EQ(h.Run({"KEYS", "k1"}), E("ERR KEYS would scan more than 100000 keys; use SCAN"));
  EXPECT_EQ(h.Run({"DEL", "k0"}), I(1));
  EXPECT_EQ(h.Run({"KEYS", "k1"}), Reply::Array({B("k1")}));
}

std::set<std::string> ScanAll(SmHarness& h, Argv extra) {
  std::set<std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    Argv argv = {"SCAN", cursor};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Reply r = h.Run(argv);
    EXPECT_EQ(r.kind, Reply::Kind::kArray);
    EXPECT_EQ(r.elems.size(), 2u);
    cursor = r.elems[0].str;
    for (const Reply& k : r.elems[1].elems) EXPECT_TRUE(seen.insert(k.str).second) << k.str;
    EXPECT_LT(++rounds, 10000);
  } while (cursor != "0" && rounds < 10000);
  return seen;
}

TEST(ScanTest, ReturnsEverythingOnceWithMatchTypeCount) {
  SmHarness h;
  std::set<std::string> all;
  for (int i = 0; i < 57; i++) {
    std::string k = (i % 3 == 0 ? "a:" : "b:") + std::to_string(i);
    h.Run({"SET", k, "v"});
    all.insert(k);
  }
  EXPECT_EQ(ScanAll(h, {}), all);
  EXPECT_EQ(ScanAll(h, {"COUNT", "1"}), all);
  EXPECT_EQ(ScanAll(h, {"COUNT", "1000"}), all);
  std::set<std::string> a;
  for (const auto& k : all) if (k[0] == 'a') a.insert(k);
  EXPECT_EQ(ScanAll(h, {"MATCH", "a:*", "COUNT", "7"}), a);
  EXPECT_EQ(ScanAll(h, {"TYPE", "STRING"}), all);
  EXPECT_EQ(ScanAll(h, {"TYPE", "list"}), std::set<std::string>{});
  // COUNT 1000 returns everything in one call with cursor 0.
  Reply r = h.Run({"SCAN", "0", "COUNT", "1000"});
  EXPECT_EQ(r.elems[0], B("0"));
  EXPECT_EQ(r.elems[1].elems.size(), all.size());
  // Default COUNT is 10.
  r = h.Run({"SCAN", "0"});
  EXPECT_EQ(r.elems[1].elems.size(), 10u);
  EXPECT_NE(r.elems[0], B("0"));
}

TEST(ScanTest, EmptyAndPastTheEnd) {
  SmHarness h;
  EXPECT_EQ(h.Run({"SCAN", "0"}), Reply::Array({B("0"), Reply::Array({})}));
  h.Run({"SET", "k", "v"});
  EXPECT_EQ(h.Run({"SCAN", "18446744073709551615"}), Reply::Array({B("0"), Reply::Array({})}));
}

TEST(ScanTest, Errors) {
  SmHarness h;
  EXPECT_EQ(h.Run({"SCAN", "abc"}), E("ERR invalid cursor"));
  EXPECT_EQ(h.Run({"SCAN", "-1"}), E("ERR invalid cursor"));
  EXPECT_EQ(h.Run({"SCAN", "0", "COUNT", "0"}), E(errors::kSyntax));
  EXPECT_EQ(h.Run({"SCAN", "0", "COUNT", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"SCAN", "0", "COUNT"}), E(errors::kSyntax));
  EXPECT_EQ(h.Run({"SCAN", "0", "FOO", "1"}), E(errors::kSyntax));
  EXPECT_EQ(StateMachine::Precheck({"SCAN", "0", "MATCH"}), E(errors::kSyntax));
  EXPECT_EQ(StateMachine::Precheck({"SCAN", "0", "match", "*", "count", "5", "type", "string"}),
            std::nullopt);
}

TEST(PrecheckTest, UnknownCommandWording) {
  EXPECT_EQ(StateMachine::Precheck({"FOO", "a", "b"}),
            E("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
  EXPECT_EQ(StateMachine::Precheck({"foo"}), E("ERR unknown command 'foo', with args beginning with: "));
  EXPECT_EQ(StateMachine::Precheck({"x\r\ny", "a\nb"}),
            E("ERR unknown command 'x  y', with args beginning with: 'a b' "));
  Reply long_args = *StateMachine::Precheck({"nope", std::string(300, 'z'), "next"});
  EXPECT_EQ(long_args.str.size(), std::string("ERR unknown command 'nope', with args beginning with: ").size() + 128 + 3);
  SmHarness h;
  EXPECT_EQ(h.ApplyOnly({"FOO"}), E("ERR unknown command 'FOO', with args beginning with: "));
  EXPECT_EQ(h.ApplyOnly({}), E(errors::kEmptyCommand));
}

TEST(PrecheckTest, ArityUsesLowerCaseName) {
  EXPECT_EQ(StateMachine::Precheck({"GET"}), E("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(StateMachine::Precheck({"get", "a", "b"}),
            E("ERR wrong number of arguments for 'get' command"));
  EXPECT_EQ(StateMachine::Precheck({"SET", "k"}), E("ERR wrong number of arguments for 'set' command"));
  EXPECT_EQ(StateMachine::Precheck({"GET", "k"}), std::nullopt);
  EXPECT_EQ(StateMachine::Precheck({"MGET", "a", "b", "c"}), std::nullopt);
}

TEST(PrecheckTest, InternalCommandsHiddenFromClients) {
  EXPECT_EQ(StateMachine::Precheck({"LOCKQ.NOOP"}),
            E("ERR unknown command 'LOCKQ.NOOP', with args beginning with: "));
  EXPECT_EQ(StateMachine::Precheck({"lockq.expire", "5"}),
            E("ERR unknown command 'lockq.expire', with args beginning with: '5' "));
  EXPECT_EQ(StateMachine::Precheck({"LOCKQ.NOOP"}, /*from_client=*/false), std::nullopt);
  EXPECT_EQ(StateMachine::Precheck({"LOCKQ.EXPIRE", "x"}, false), E(errors::kNotInteger));
  EXPECT_EQ(StateMachine::Precheck({"LOCKQ.ANNOUNCE", "1"}, false),
            E("ERR wrong number of arguments for 'lockq.announce' command"));
}

TEST(CommandTableTest, FlagsAndLookup) {
  const CommandSpec* set = StateMachine::FindCommand("set");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->name, "SET");
  EXPECT_EQ(set->arity, -3);
  EXPECT_TRUE(set->flags & kCmdWrite);
  EXPECT_TRUE(StateMachine::FindCommand("GET")->flags & kCmdReadOnly);
  EXPECT_TRUE(StateMachine::FindCommand("FLUSHALL")->flags & kCmdAdmin);
  EXPECT_TRUE(StateMachine::FindCommand("LOCKQ.EXPIRE")->flags & kCmdInternal);
  EXPECT_EQ(StateMachine::FindCommand("NOPE"), nullptr);
  EXPECT_EQ(StateMachine::FindCommand(std::string(1000, 'A')), nullptr);
  for (const CommandSpec& spec : StateMachine::Commands()) {
    ASSERT_NE(StateMachine::FindCommand(spec.name), nullptr);
    EXPECT_EQ(StateMachine::FindCommand(spec.name)->arity, spec.arity);
    bool write = spec.flags & kCmdWrite, read = spec.flags & kCmdReadOnly;
    EXPECT_NE(write, read) << spec.name;  // each command is exactly one of the two
  }
  EXPECT_GE(StateMachine::Commands().size(), 37u);
}

TEST(InternalCommandsTest, AnnounceAndNoop) {
  SmHarness h;
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.NOOP"}), kOk);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "2", "10.0.0.2:6379"}), kOk);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "1", "10.0.0.1:6379"}), kOk);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "2", "10.0.0.9:6380"}), kOk);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ANNOUNCE", "x", "a"}), E(errors::kNotInteger));
  ASSERT_EQ(h.sm().nodes().size(), 2u);
  EXPECT_EQ(h.sm().nodes().at(1).resp_addr, "10.0.0.1:6379");
  EXPECT_EQ(h.sm().nodes().at(2).resp_addr, "10.0.0.9:6380");
  // From a client they do not exist.
  EXPECT_EQ(h.Run({"LOCKQ.NOOP"}).kind, Reply::Kind::kError);
}

TEST(ApplyTest, BatchRepliesInOrderAndBadCommandDoesNotAbortBatch) {
  SmHarness h;
  Batch b;
  b.leader_time_ms = h.time_ms();
  b.commands = {{"SET", "a", "1"}, {"NOPE"}, {"INCR", "a"}, {"SET", "a", "v", "EX", "0"}, {"GET", "a"}};
  std::vector<Reply> replies = h.ApplyBatch(b);
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[0], kOk);
  EXPECT_TRUE(replies[1].is_error());
  EXPECT_EQ(replies[2], I(2));
  EXPECT_EQ(replies[3], E("ERR invalid expire time in 'set' command"));
  EXPECT_EQ(replies[4], B("2"));
  EXPECT_EQ(h.sm().applied_index(), 1u);
}

}  // namespace
}  // namespace lockq::sm
