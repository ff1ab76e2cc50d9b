// Snapshots: byte-identical for equal states, validated on restore, and
// deterministic replicas (two machines fed the same batches agree).

#include <gtest/gtest.h>

#include <random>

#include "lock_test_util.h"
#include "testlib/sm_harness.h"
#include "common/bytes.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

// A random but seeded workload exercising every write path.
std::vector<Batch> RandomBatches(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  auto pick = [&](int m) { return static_cast<int>(rng() % static_cast<uint32_t>(m)); };
  std::vector<Batch> out;
  uint64_t t = 1000;
  for (int i = 0; i < n; i++) {
    Batch b;
    t += pick(50);
    b.leader_time_ms = pick(10) == 0 ? t - 200 : t;  // sometimes an older leader clock
    b.origin = {1, 7, static_cast<uint64_t>(i)};
    for (int c = pick(4) + 1; c > 0; c--) {
      std::string k = "k" + std::to_string(pick(30));
      switch (pick(9)) {
        case 0: b.commands.push_back({"SET", k, "v" + std::to_string(i)}); break;
        case 1: b.commands.push_back({"SET", k, "x", "PX", std::to_string(pick(300) + 1)}); break;
        case 2: b.commands.push_back({"INCR", "n" + std::to_string(pick(3))}); break;
        case 3: b.commands.push_back({"DEL", k}); break;
        case 4: b.commands.push_back({"APPEND", k, "+"}); break;
        case 5: b.commands.push_back({"EXPIRE", k, std::to_string(pick(5))}); break;
        case 6: b.commands.push_back({"LOCKQ.EXPIRE", std::to_string(pick(3))}); break;
        case 7: b.commands.push_back({"GET", k}); break;
        default: b.commands.push_back({"LOCKQ.ANNOUNCE", std::to_string(pick(3)), k}); break;
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

TEST(SnapshotTest, EmptyStateLayout) {
  StateMachine sm;
  std::string snap = sm.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(snap[0]), kSnapshotVersion);
  // ..., nodes, keys, scripts, token and session counters, sessions, locks
  // Lock table: token and session counters, no sessions, no locks, no
  // signing keys (last key id, count).
  std::string tail = lock_test::EmptyTailAfterScripts();
  EXPECT_EQ(tail.substr(0, 8 + 8 + 1 + 1 + 8 + 1), std::string(27, '\0'));
  // Queue engine: the six builtin exchanges, nothing else. Then (version
  // 7) the ACL store: epoch, empty boot digest, one user, `default on
  // nopass ~* &* +@all` = name 8, flags 1, no credentials 1, keys 4,
  // channels 3, command rules 7, tags 1, vhosts 1, (version 8) topics 1.
  // Then (version 8) no vhosts besides "/": 1.
  constexpr size_t kAclSection = 8 + 1 + 1 + (8 + 1 + 1 + 4 + 3 + 7 + 1 + 1 + 1);
  EXPECT_EQ(tail.size(), 27u + 68 + 1 + 1 + 1 + 1 + 8 + kAclSection + 1);
  EXPECT_EQ(snap.size(), 1u + 8 + 8 + 1 + 1 + 1 + tail.size());
}

TEST(SnapshotTest, RoundTripIsByteIdentical) {
  StateMachine a;
  uint64_t index = 0;
  for (const Batch& b : RandomBatches(1, 300)) a.Apply(b, ++index);
  std::string snap = a.Snapshot();
  StateMachine b;
  ASSERT_TRUE(b.Restore(snap).ok());
  EXPECT_EQ(b.Snapshot(), snap);
  EXPECT_EQ(b.now_ms(), a.now_ms());
  EXPECT_EQ(b.applied_index(), 300u);
  EXPECT_EQ(b.key_count(), a.key_count());
  EXPECT_EQ(b.expiring_key_count(), a.expiring_key_count());
  EXPECT_EQ(b.next_expiry_ms(), a.next_expiry_ms());
  EXPECT_EQ(b.nodes(), a.nodes());
  // And they keep agreeing after more batches.
  for (const Batch& batch : RandomBatches(2, 100)) {
    ++index;
    EXPECT_EQ(a.Apply(batch, index), b.Apply(batch, index));
  }
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

// A follower installing a snapshot decodes it off its loop (Decode) and
// swaps it in (Install): the same state as Restore, the old one handed
// back whole, and the state's own object (acl()) where it was, as after
// Restore.
TEST(SnapshotTest, DecodeThenInstallIsRestore) {
  StateMachine a;
  uint64_t index = 0;
  for (const Batch& b : RandomBatches(3, 300)) a.Apply(b, ++index);
  std::string snap = a.Snapshot();

  StateMachine b;
  uint64_t b_index = 0;
  for (const Batch& batch : RandomBatches(4, 50)) b.Apply(batch, ++b_index);
  std::string b_before = b.Snapshot();
  const AclStore* acl = &b.acl();
  auto decoded = StateMachine::Decode(snap);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(b.Snapshot(), b_before);  // decoding touched nothing live
  auto old = b.Install(std::move(decoded).value());
  EXPECT_EQ(b.Snapshot(), snap);
  EXPECT_EQ(&b.acl(), acl);
  // The replaced state comes back whole: installing it again restores it.
  b.Install(std::move(old));
  EXPECT_EQ(b.Snapshot(), b_before);

  EXPECT_FALSE(StateMachine::Decode(snap.substr(0, snap.size() / 2)).ok());
  EXPECT_FALSE(StateMachine::Decode(snap + "!").ok());
}

TEST(SnapshotTest, ReplicasFedTheSameLogAgree) {
  for (uint32_t seed = 10; seed < 15; seed++) {
    StateMachine a, b;
    uint64_t index = 0;
    for (const Batch& batch : RandomBatches(seed, 200)) {
      ++index;
      // Replicas see the entry through the codec, as from the Raft log.
      auto decoded = DecodeBatch(EncodeBatch(batch));
      ASSERT_TRUE(decoded.ok());
      EXPECT_EQ(a.Apply(batch, index), b.Apply(*decoded, index));
    }
    EXPECT_EQ(a.Snapshot(), b.Snapshot()) << "seed " << seed;
  }
}

TEST(SnapshotTest, InsertionOrderDoesNotMatter) {
  SmHarness a, b;
  a.Run({"SET", "x", "1"});
  a.Run({"SET", "y", "2", "PX", "100"});
  b.Run({"SET", "y", "2", "PX", "100"});
  b.Run({"SET", "x", "1"});
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

TEST(SnapshotTest, CopyIsDeep) {
  SmHarness h;
  h.Run({"SET", "k", "v", "PX", "100"});
  StateMachine copy(h.sm());
  std::string before = copy.Snapshot();
  h.Run({"SET", "k", "changed"});
  h.Run({"SET", "other", "x"});
  EXPECT_EQ(copy.Snapshot(), before);
  EXPECT_NE(h.Snapshot(), before);
  EXPECT_EQ(copy.next_expiry_ms(), h.time_ms() + 100);
}

TEST(SnapshotTest, RestoreKeepsExpiredButUncollectedKeys) {
  SmHarness h(1000);
  h.Run({"SET", "k", "v", "PX", "10"});
  h.AdvanceTime(20);
  h.Run({"GET", "k"});  // moves the clock past the deadline
  StateMachine r;
  ASSERT_TRUE(r.Restore(h.Snapshot()).ok());
  EXPECT_EQ(r.Snapshot(), h.Snapshot());
  EXPECT_EQ(r.key_count(), 1u);
  Batch b;
  b.leader_time_ms = 0;
  b.commands = {{"GET", "k"}, {"LOCKQ.EXPIRE", "5"}};
  EXPECT_EQ(r.Apply(b, 99), (std::vector<Reply>{Reply::Null(), Reply::Int(1)}));
}

TEST(SnapshotTest, CorruptionLeavesStateUnchanged) {
  SmHarness h;
  h.Run({"MSET", "a", "1", "b", "2"});
  h.ApplyOnly({"LOCKQ.ANNOUNCE", "1", "x:1"});
  std::string good = h.Snapshot();
  StateMachine target;
  ASSERT_TRUE(target.Restore(good).ok());
  for (size_t n = 0; n < good.size(); n++) {
    Status s = target.Restore(std::string_view(good).substr(0, n));
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << n;
  }
  EXPECT_EQ(target.Restore(good + "!").code(), StatusCode::kCorruption);
  std::string v = good;
  v[0] = kSnapshotVersion + 1;
  EXPECT_EQ(target.Restore(v).code(), StatusCode::kCorruption);
  EXPECT_EQ(target.Snapshot(), good);  // still the last good state
}

std::string SnapshotWith(std::function<void(ByteWriter&)> keys_part) {
  std::string s;
  ByteWriter w(&s);
  w.PutU8(kSnapshotVersion);
  w.PutU64(5);
  w.PutU64(1000);
  w.PutVarint(0);  // nodes
  keys_part(w);
  w.PutVarint(0);  // scripts (version 2)
  std::string tail = lock_test::EmptyTailAfterScripts();  // no locks, no queues
  s += tail;
  return s;
}

TEST(SnapshotTest, RejectsBadContent) {
  StateMachine sm;
  // Unknown value type.
  EXPECT_FALSE(sm.Restore(SnapshotWith([](ByteWriter& w) {
                   w.PutVarint(1);
                   w.PutString("k");
                   w.PutU8(200);
                   w.PutString("v");
                   w.PutU64(0);
                 })).ok());
  // Duplicate key.
  EXPECT_FALSE(sm.Restore(SnapshotWith([](ByteWriter& w) {
                   w.PutVarint(2);
                   for (int i = 0; i < 2; i++) {
                     w.PutString("k");
                     w.PutU8(0);
                     w.PutString("v");
                     w.PutU64(0);
                   }
                 })).ok());
  // Huge key count.
  EXPECT_FALSE(sm.Restore(SnapshotWith([](ByteWriter& w) { w.PutVarint(UINT64_MAX); })).ok());
  // Deadline beyond int64.
  EXPECT_FALSE(sm.Restore(SnapshotWith([](ByteWriter& w) {
                   w.PutVarint(1);
                   w.PutString("k");
                   w.PutU8(0);
                   w.PutString("v");
                   w.PutU64(UINT64_MAX);
                 })).ok());
  // A valid one for contrast.
  ASSERT_TRUE(sm.Restore(SnapshotWith([](ByteWriter& w) {
                  w.PutVarint(1);
                  w.PutString("k");
                  w.PutU8(0);
                  w.PutString("v");
                  w.PutU64(2000);
                })).ok());
  EXPECT_EQ(sm.applied_index(), 5u);
  EXPECT_EQ(sm.next_expiry_ms(), 2000u);
  // Nodes out of order.
  std::string s;
  ByteWriter w(&s);
  w.PutU8(kSnapshotVersion);
  w.PutU64(0);
  w.PutU64(0);
  w.PutVarint(2);
  w.PutU64(2);
  w.PutString("a");
  w.PutU64(1);
  w.PutString("b");
  w.PutVarint(0);
  w.PutVarint(0);
  w.PutU64(0);
  w.PutVarint(0);
  EXPECT_FALSE(sm.Restore(s).ok());
  EXPECT_EQ(sm.applied_index(), 5u);
}

TEST(SnapshotTest, RestoresVersion1WithoutScripts) {
  // A version 1 snapshot ends after the keys.
  std::string s;
  ByteWriter w(&s);
  w.PutU8(1);
  w.PutU64(7);
  w.PutU64(1000);
  w.PutVarint(0);
  w.PutVarint(1);
  w.PutString("k");
  w.PutU8(0);
  w.PutString("v");
  w.PutU64(0);
  StateMachine sm;
  ASSERT_TRUE(sm.Restore(s).ok());
  EXPECT_EQ(sm.applied_index(), 7u);
  EXPECT_EQ(sm.key_count(), 1u);
  // Re-snapshotted in the current version, with an empty script cache and
  // no locks (token counter 0, lock count 0).
  std::string now = sm.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(now[0]), kSnapshotVersion);
  EXPECT_EQ(now.substr(1), s.substr(1) + std::string(1, '\0') + lock_test::EmptyTailAfterScripts());
  // A version 1 snapshot with trailing script bytes is corrupt.
  EXPECT_FALSE(sm.Restore(s + std::string(1, '\0')).ok());
}

}  // namespace
}  // namespace lockq::sm
