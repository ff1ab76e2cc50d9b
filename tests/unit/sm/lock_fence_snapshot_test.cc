// SET ... FENCE, the version 3 snapshot (lock table), restoring version 2,
// and replica determinism with locks.

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

const Reply kFenceStale = E(errors::kFenceStale);

TEST(LockFenceTest, AcceptsCurrentAndRejectsOlderTokens) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"SET", "k", "v0", "FENCE", "L", "1"}), kFenceStale);  // never granted
  EXPECT_EQ(h.Run({"GET", "k"}), kNil);
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});  // token 1
  EXPECT_EQ(h.Run({"SET", "k", "v1", "FENCE", "L", "1"}), Reply::Ok());
  h.AdvanceTime(100);  // token 1's lease ends; nobody else took L yet
  EXPECT_EQ(h.Run({"SET", "k", "v1b", "fence", "L", "1"}), Reply::Ok());
  h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});  // token 2
  EXPECT_EQ(h.Run({"SET", "k", "late", "FENCE", "L", "1"}), kFenceStale);
  EXPECT_EQ(h.Run({"GET", "k"}), B("v1b"));
  EXPECT_EQ(h.Run({"SET", "k", "v2", "FENCE", "L", "2", "PX", "50", "GET"}), B("v1b"));
  EXPECT_EQ(h.Run({"PTTL", "k"}), I(50));
  // Tokens of other locks only count against their own lock.
  h.Run({"LOCK.ACQUIRE", "M", "TTL", "100"});  // token 3
  EXPECT_EQ(h.Run({"SET", "k", "v3", "FENCE", "L", "3"}), Reply::Ok());
  EXPECT_EQ(h.Run({"SET", "k", "v4", "FENCE", "M", "2"}), kFenceStale);
  EXPECT_EQ(h.Run({"GET", "k"}), B("v3"));
}

TEST(LockFenceTest, RejectionIsAtomicWithNx) {
  SmHarness h;
  h.Run({"LOCK.ACQUIRE", "L"});
  h.Run({"LOCK.RELEASE", "L", "1"});
  h.Run({"LOCK.ACQUIRE", "L"});
  EXPECT_EQ(h.Run({"SET", "k", "v", "NX", "EX", "10", "FENCE", "L", "1"}), kFenceStale);
  EXPECT_EQ(h.Run({"EXISTS", "k"}), I(0));
  EXPECT_EQ(h.Run({"SET", "k", "v", "NX", "EX", "10", "FENCE", "L", "2"}), Reply::Ok());
  EXPECT_EQ(h.Run({"SET", "k", "w", "NX", "FENCE", "L", "2"}), kNil);
}

TEST(LockFenceTest, SyntaxIsCheckedByPrecheck) {
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "FENCE", "L"}), E(errors::kSyntax));
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "FENCE"}), E(errors::kSyntax));
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "FENCE", "L", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "FENCE", "L", "-1"}),
            E(errors::kNotInteger));
  EXPECT_EQ(StateMachine::Precheck({"SET", "k", "v", "FENCE", "L", "1", "XX"}), std::nullopt);
  SmHarness h;
  EXPECT_EQ(h.ApplyOnly({"SET", "k", "v", "FENCE", "L"}), E(errors::kSyntax));
}

// A workload with every lock write path, for determinism and round trips.
std::vector<Batch> LockBatches() {
  std::vector<Batch> out;
  uint64_t t = 1000;
  for (int i = 0; i < 200; i++) {
    Batch b;
    t += static_cast<uint64_t>((i * 37) % 53);
    b.leader_time_ms = i % 17 == 0 ? t - 100 : t;
    std::string name = "l" + std::to_string(i % 5);
    std::string token = std::to_string(i / 2 + 1);
    switch (i % 7) {
      case 0: b.commands.push_back({"LOCK.ACQUIRE", name, "TTL", std::to_string(50 + i)}); break;
      case 1: b.commands.push_back({"LOCK.ACQUIRE", name, "SHARED", "OWNER", "o" + token}); break;
      case 2: b.commands.push_back({"LOCK.RELEASE", name, token}); break;
      case 3: b.commands.push_back({"LOCK.RENEW", name, token, "TTL", "80"}); break;
      case 4: b.commands.push_back({"LOCKQ.EXPIRE", "2"}); break;
      case 5: b.commands.push_back({"LOCKQ.ANNOUNCE", "1", "x:1"}); break;
      default: b.commands.push_back({"SET", "k", token, "FENCE", name, token}); break;
    }
    out.push_back(std::move(b));
  }
  return out;
}

TEST(LockSnapshotTest, ReplicasAgreeAndRoundTripIsByteIdentical) {
  StateMachine a, b;
  uint64_t index = 0;
  for (const Batch& batch : LockBatches()) {
    ++index;
    auto decoded = DecodeBatch(EncodeBatch(batch));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(a.Apply(batch, index), b.Apply(*decoded, index));
  }
  std::string snap = a.Snapshot();
  EXPECT_EQ(snap, b.Snapshot());
  EXPECT_GT(a.last_lock_token(), 10u);
  StateMachine r;
  ASSERT_TRUE(r.Restore(snap).ok());
  EXPECT_EQ(r.Snapshot(), snap);
  EXPECT_EQ(r.last_lock_token(), a.last_lock_token());
  EXPECT_EQ(r.lock_holder_count(), a.lock_holder_count());
  EXPECT_EQ(r.next_expiry_ms(), a.next_expiry_ms());
  // The restored machine keeps agreeing, tokens included.
  for (const Batch& batch : LockBatches()) {
    ++index;
    EXPECT_EQ(a.Apply(batch, index), r.Apply(batch, index));
  }
  EXPECT_EQ(a.Snapshot(), r.Snapshot());
}

TEST(LockSnapshotTest, HoldersAndCounterSurviveRestore) {
  SmHarness h(1000);
  h.Run({"LOCK.ACQUIRE", "S", "SHARED", "TTL", "100", "OWNER", "a"});
  h.Run({"LOCK.ACQUIRE", "S", "SHARED", "TTL", "200", "OWNER", "b"});
  h.Run({"LOCK.ACQUIRE", "F", "TTL", "5"});
  h.Run({"LOCK.RELEASE", "F", "3"});
  SmHarness r(1000);
  ASSERT_TRUE(r.sm().Restore(h.Snapshot()).ok());
  EXPECT_EQ(r.Run({"LOCK.INFO", "S"}),
            Info("shared", {Holder(1, "a", 1000, 1100, 1000), Holder(2, "b", 1000, 1200, 1000)},
                 2));
  EXPECT_EQ(r.Run({"LOCK.INFO", "F"}), Info("free", {}, 3));
  EXPECT_EQ(r.Run({"LOCK.ACQUIRE", "F", "TTL", "5"}), Granted(4, 5));
  EXPECT_EQ(r.Run({"SET", "k", "v", "FENCE", "F", "3"}), kFenceStale);
}

TEST(LockSnapshotTest, EqualLockStatesGiveEqualBytes) {
  SmHarness a, b;
  a.Run({"LOCK.ACQUIRE", "x", "TTL", "10"});
  a.Run({"LOCK.ACQUIRE", "y", "TTL", "10"});
  b.Run({"LOCK.ACQUIRE", "x", "TTL", "10"});
  b.Run({"LOCK.ACQUIRE", "y", "TTL", "10"});
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
  a.Run({"LOCK.RELEASE", "x", "1"});
  EXPECT_NE(a.Snapshot(), b.Snapshot());
}

// A version 2 snapshot: header, nodes, keys, scripts, and nothing after.
std::string Version2Snapshot() {
  std::string s;
  ByteWriter w(&s);
  w.PutU8(2);
  w.PutU64(9);
  w.PutU64(5000);
  w.PutVarint(0);  // nodes
  w.PutVarint(1);  // keys
  w.PutString("k");
  w.PutU8(0);
  w.PutString("v");
  w.PutU64(0);
  w.PutVarint(0);  // scripts
  return s;
}

TEST(LockSnapshotTest, RestoresVersion2WithoutLocks) {
  std::string v2 = Version2Snapshot();
  StateMachine sm;
  ASSERT_TRUE(sm.Restore(v2).ok());
  EXPECT_EQ(sm.applied_index(), 9u);
  EXPECT_EQ(sm.key_count(), 1u);
  EXPECT_EQ(sm.last_lock_token(), 0u);
  std::string now = sm.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(now[0]), kSnapshotVersion);
  // Empty lock part: last_token, last_session, no sessions, no locks.
  EXPECT_EQ(now.substr(1), v2.substr(1) + EmptyTailAfterScripts());
  // Lock bytes after a version 2 snapshot are trailing garbage.
  EXPECT_FALSE(sm.Restore(v2 + std::string(8 + 1, '\0')).ok());
  EXPECT_EQ(sm.Snapshot(), now);
}

// A version 3 snapshot with an empty keyspace and the given lock part.
std::string Version3With(const std::function<void(ByteWriter&)>& locks_part) {
  std::string s;
  ByteWriter w(&s);
  w.PutU8(3);
  w.PutU64(1);
  w.PutU64(1000);
  w.PutVarint(0);
  w.PutVarint(0);
  w.PutVarint(0);
  locks_part(w);
  return s;
}

void PutLock(ByteWriter& w, const std::string& name, uint8_t shared, uint64_t last_grant,
             std::vector<std::pair<uint64_t, uint64_t>> holders) {  // (token, deadline)
  w.PutString(name);
  w.PutU8(shared);
  w.PutU64(last_grant);
  w.PutVarint(holders.size());
  for (auto [token, deadline] : holders) {
    w.PutU64(token);
    w.PutString("");
    w.PutU64(1000);
    w.PutU64(10);
    w.PutU64(deadline);
  }
}

TEST(LockSnapshotTest, RejectsBadLockTables) {
  StateMachine sm;
  auto table = [](uint64_t last_token, std::function<void(ByteWriter&)> locks) {
    return Version3With([&](ByteWriter& w) {
      w.PutU64(last_token);
      locks(w);
    });
  };
  auto one = [&](uint8_t shared, uint64_t last_grant,
                 std::vector<std::pair<uint64_t, uint64_t>> holders, uint64_t last_token = 5) {
    return table(last_token, [&](ByteWriter& w) {
      w.PutVarint(1);
      PutLock(w, "L", shared, last_grant, holders);
    });
  };
  ASSERT_TRUE(sm.Restore(one(0, 3, {{3, 2000}})).ok());
  EXPECT_EQ(sm.next_expiry_ms(), 2000u);
  EXPECT_EQ(sm.last_lock_token(), 5u);
  EXPECT_TRUE(sm.Restore(one(1, 4, {{2, 1500}, {4, 2000}})).ok());
  EXPECT_FALSE(sm.Restore(one(0, 4, {{2, 1500}, {4, 2000}})).ok());  // two exclusive holders
  EXPECT_FALSE(sm.Restore(one(1, 4, {{4, 1500}, {2, 2000}})).ok());  // tokens out of order
  EXPECT_FALSE(sm.Restore(one(0, 3, {{4, 2000}})).ok());             // token beyond the grant
  EXPECT_FALSE(sm.Restore(one(0, 6, {{6, 2000}})).ok());             // grant beyond the counter
  EXPECT_FALSE(sm.Restore(one(0, 0, {})).ok());                      // never granted
  EXPECT_FALSE(sm.Restore(one(2, 3, {{3, 2000}})).ok());             // unknown mode
  EXPECT_FALSE(sm.Restore(one(0, 3, {{3, UINT64_MAX}})).ok());       // deadline beyond int64
  EXPECT_FALSE(sm.Restore(one(0, 3, {{0, 2000}})).ok());             // token 0
  EXPECT_FALSE(sm.Restore(table(5, [](ByteWriter& w) {
                   w.PutVarint(2);
                   PutLock(w, "b", 0, 1, {});
                   PutLock(w, "a", 0, 2, {});
                 })).ok());  // names out of order
  EXPECT_FALSE(sm.Restore(table(5, [](ByteWriter& w) { w.PutVarint(UINT64_MAX); })).ok());
  // Still the last good state.
  EXPECT_EQ(sm.lock_holder_count(), 2u);
  // Every truncation of a good snapshot is corrupt.
  std::string good = one(1, 4, {{2, 1500}, {4, 2000}});
  for (size_t n = 0; n < good.size(); n++) {
    EXPECT_FALSE(sm.Restore(std::string_view(good).substr(0, n)).ok()) << n;
  }
}

}  // namespace
}  // namespace lockq::sm
