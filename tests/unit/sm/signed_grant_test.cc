// Signed grants in the state machine (docs/locks.md "Signed grants"):
// LOCK.SIGNKEY, LOCK.ACQUIRE ... SIGNED (immediate and WAIT grants),
// LOCK.SIGN, and the keys in snapshots.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/hex.h"
#include "lock_test_util.h"
#include "lockq/grant.h"
#include "sm/locks.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

const std::string kSecret1(kGrantKeyBytes, '\x01');
const std::string kSecret2(kGrantKeyBytes, '\x02');

Argv Rotate(const std::string& secret) { return {"LOCK.SIGNKEY", "ROTATE", "KEY", HexEncode(secret)}; }

GrantKeys Exported(SmHarness& h) {
  Reply r = h.Run({"LOCK.SIGNKEY", "EXPORT"});
  EXPECT_EQ(r.kind, Reply::Kind::kBulk);
  Result<GrantKeys> keys = ParseGrantKeys(r.str);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : GrantKeys{};
}

// The grant of a SIGNED reply [token, guaranteed_ms, grant].
std::string GrantOf(const Reply& r) {
  EXPECT_EQ(r.kind, Reply::Kind::kArray);
  EXPECT_EQ(r.elems.size(), 3u);
  return r.elems.size() == 3 ? r.elems[2].str : "";
}

TEST(SignedGrantTest, SignedAcquireNeedsASigningKey) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "SIGNED"}), E(errors::kNoSigningKey));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 0));  // nothing granted
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "ROTATE"}), E(errors::kSignKeyMissing));
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "ROTATE", "KEY", "abcd"}), E(errors::kSignKeyBad));
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "NOPE"}), E(errors::kSyntax));
  EXPECT_TRUE(StateMachine::NeedsSigningKeySecret({"lock.signkey", "rotate"}));
  EXPECT_TRUE(StateMachine::NeedsSigningKeySecret({"LOCK.SIGNKEY", "ADD"}));
  EXPECT_FALSE(StateMachine::NeedsSigningKeySecret(Rotate(kSecret1)));
  EXPECT_FALSE(StateMachine::NeedsSigningKeySecret({"LOCK.SIGNKEY", "LIST"}));
}

TEST(SignedGrantTest, ImmediateGrantIsSignedOverNameTokenOwnerAndLeaseEnd) {
  SmHarness h(1000);
  EXPECT_EQ(h.Run(Rotate(kSecret1)), I(1));
  Reply r = h.Run({"LOCK.ACQUIRE", "orders", "TTL", "5000", "OWNER", "w1", "SIGNED"});
  ASSERT_EQ(r.elems.size(), 3u);
  EXPECT_EQ(r.elems[0], I(1));
  EXPECT_EQ(r.elems[1], I(5000));
  EXPECT_EQ(GrantOf(r), SignGrant(Grant{1, "orders", 1, "w1", 6000}, kSecret1));
  Result<Grant> g = VerifyGrant(GrantOf(r), Exported(h), 5999);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->token, 1u);
  // Unsigned acquires answer as before.
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "other", "TTL", "100"}), Granted(2, 100));
}

TEST(SignedGrantTest, WaitGrantedLaterIsSignedToo) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"}), Granted(1, 100));
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "200", "WAIT", "0", "OWNER", "w", "SIGNED"}), kDeferred);
  h.SetTime(1040);
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  std::string want = SignGrant(Grant{1, "L", 2, "w", 1240}, kSecret1);
  EXPECT_EQ(h.events(), (Events{ChangeEvent("L"), ChangeEvent("L"),
                                ReplyEvent(SmHarness::ClientOf(2, 1), SignedGrantReply(2, 200, want))}));
}

TEST(SignedGrantTest, WaiterIsRefusedWhenTheKeyWasRetiredMeanwhile) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  EXPECT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "WAIT", "0", "SIGNED"}), kDeferred);
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "RETIRE", "1"}), Reply::Ok());
  EXPECT_EQ(h.Run({"LOCK.RELEASE", "L", "1"}), I(1));
  EXPECT_EQ(h.events(), (Events{ChangeEvent("L"),
                                ReplyEvent(SmHarness::ClientOf(2, 1), E(errors::kNoSigningKey))}));
  EXPECT_EQ(h.Run({"LOCK.INFO", "L"}), Info("free", {}, 1));
}

TEST(SignedGrantTest, RotationKeepsOldGrantsVerifyingUntilRemoved) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  std::string old_grant = GrantOf(h.Run({"LOCK.ACQUIRE", "a", "TTL", "60000", "SIGNED"}));
  EXPECT_EQ(h.Run(Rotate(kSecret2)), I(2));
  std::string new_grant = GrantOf(h.Run({"LOCK.ACQUIRE", "b", "TTL", "60000", "SIGNED"}));
  EXPECT_EQ(ParseGrant(new_grant)->key_id, 2u);
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "LIST"}),
            Reply::Array({Reply::Map({B("id"), I(1), B("state"), B("verify"), B("created_ms"), I(1000)}),
                          Reply::Map({B("id"), I(2), B("state"), B("signing"), B("created_ms"), I(1000)})}));
  EXPECT_TRUE(VerifyGrant(old_grant, Exported(h), 2000).ok());
  EXPECT_TRUE(VerifyGrant(new_grant, Exported(h), 2000).ok());
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "REMOVE", "2"}), E(errors::kSignKeyIsSigning));
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "REMOVE", "1"}), Reply::Ok());
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "REMOVE", "1"}), E(errors::kSignKeyUnknown));
  EXPECT_EQ(VerifyGrant(old_grant, Exported(h), 2000).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(VerifyGrant(new_grant, Exported(h), 2000).ok());
  // Ids are never reused: a new key cannot make the removed key's grants verify.
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "ADD", "KEY", HexEncode(kSecret1)}), I(3));
  EXPECT_EQ(VerifyGrant(old_grant, Exported(h), 2000).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(h.Run({"LOCK.SIGNKEY", "ACTIVATE", "3"}), Reply::Ok());
  EXPECT_EQ(ParseGrant(GrantOf(h.Run({"LOCK.ACQUIRE", "c", "SIGNED"})))->key_id, 3u);
}

TEST(SignedGrantTest, LockSignResignsALiveHolderWithItsCurrentEnd) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  EXPECT_EQ(h.Run({"LOCK.ACQUIRE", "L", "TTL", "100", "OWNER", "o"}), Granted(1, 100));
  EXPECT_EQ(h.Run({"LOCK.RENEW", "L", "1", "TTL", "500"}), I(500));
  EXPECT_EQ(h.Run({"LOCK.SIGN", "L", "1"}), B(SignGrant(Grant{1, "L", 1, "o", 1500}, kSecret1)));
  EXPECT_EQ(h.Run({"LOCK.SIGN", "L", "2"}), kNotOwner);
  EXPECT_EQ(h.Run({"LOCK.SIGN", "L", "x"}), E(errors::kNotInteger));
}

TEST(SignedGrantTest, KeysAndSignedWaitersSurviveSnapshots) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  h.Run({"LOCK.SIGNKEY", "ADD", "KEY", HexEncode(kSecret2)});
  h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "TTL", "100"});
  h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "200", "WAIT", "0", "SIGNED"});
  std::string snap = h.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(snap[0]), kSnapshotVersion);
  StateMachine restored;
  ASSERT_TRUE(restored.Restore(snap).ok());
  EXPECT_EQ(restored.Snapshot(), snap);
  // The restored waiter is still SIGNED: granted with a signature.
  Batch b{{}, 1040, {{"LOCK.RELEASE", "L", "1"}}};
  restored.Apply(b, 100);
  Events ev = restored.TakeEvents();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().reply, SignedGrantReply(2, 200, SignGrant(Grant{1, "L", 2, "", 1240}, kSecret1)));
}

// Every replica signs the same bytes: the key, the grant's fields and the
// clock are all replicated, and HMAC is deterministic. Two machines fed
// the same entries (one restored from the other's snapshot halfway) give
// identical replies, events and snapshots.
TEST(SignedGrantTest, ReplicasSignIdentically) {
  auto as = [](uint64_t conn, Argv cmd) {
    Argv out{"LOCKQ.AS", "1", "1", std::to_string(conn), "1"};
    out.insert(out.end(), cmd.begin(), cmd.end());
    return out;
  };
  std::vector<Batch> log = {
      {{}, 1000, {Rotate(kSecret1), {"LOCK.ACQUIRE", "L", "TTL", "100", "SIGNED"}}},
      {{}, 1010, {as(2, {"LOCK.ACQUIRE", "L", "WAIT", "0", "OWNER", "a", "SIGNED"}),
                  as(3, {"LOCK.ACQUIRE", "L", "SHARED", "WAIT", "0", "SIGNED"})}},
      {{}, 1020, {Rotate(kSecret2), {"LOCK.RELEASE", "L", "1"}}},
      {{}, 1030, {{"LOCK.SIGN", "L", "2"}, {"LOCKQ.EXPIRE"}}},
      {{}, 40000, {{"LOCKQ.EXPIRE"}, {"LOCK.ACQUIRE", "M", "SIGNED"}}},
  };
  StateMachine a, b;
  for (size_t i = 0; i < log.size(); i++) {
    if (i == 2) {
      ASSERT_TRUE(b.Restore(a.Snapshot()).ok());
    }
    std::vector<Reply> ra = a.Apply(log[i], i + 1);
    Events ea = a.TakeEvents();
    if (i < 2) continue;
    EXPECT_EQ(ra, b.Apply(log[i], i + 1)) << i;
    EXPECT_EQ(ea, b.TakeEvents()) << i;
  }
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

TEST(SignedGrantTest, CorruptKeySectionsAreRefused) {
  SmHarness h(1000);
  h.Run(Rotate(kSecret1));
  std::string snap = h.Snapshot();
  // The key's state byte sits 8 bytes (created_ms) before the queue part;
  // find the secret and damage what follows it.
  size_t at = snap.find(kSecret1);
  ASSERT_NE(at, std::string::npos);
  std::string bad_state = snap;
  bad_state[at + kGrantKeyBytes] = 7;
  StateMachine sm;
  EXPECT_FALSE(sm.Restore(bad_state).ok());
  std::string bad_len = snap;
  bad_len[at - 1] = static_cast<char>(kGrantKeyBytes - 1);  // varint length of the secret
  EXPECT_FALSE(sm.Restore(bad_len).ok());
}

TEST(SignedGrantTest, ScriptsCannotManageKeys) {
  SmHarness h(1000);
  Reply r = h.Run({"EVAL", "return redis.call('LOCK.SIGNKEY', 'LIST')", "0"});
  EXPECT_EQ(r.kind, Reply::Kind::kError);
}

}  // namespace
}  // namespace lockq::sm
