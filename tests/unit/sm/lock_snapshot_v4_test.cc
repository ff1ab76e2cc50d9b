// The version 4 snapshot of the lock table: holders (TTL and session),
// waiters, sessions and semaphores round-trip byte-identically, a restored
// replica keeps behaving like the original, corrupt tables are rejected,
// and version 3 snapshots still restore.

#include <gtest/gtest.h>

#include <functional>

#include "common/bytes.h"
#include "lock_test_util.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

using namespace lock_test;
using testing::SmHarness;

ClientRef C(uint64_t conn) { return SmHarness::ClientOf(conn, 1); }

// A state with every kind of thing the lock table holds, at time 1000.
void BuildRichState(SmHarness& h) {
  h.SetTime(1000);
  ASSERT_EQ(h.Run({"SESSION.OPEN", "500"}), I(1));   // deadline 1500
  ASSERT_EQ(h.Run({"SESSION.OPEN", "200"}), I(2));   // 1200
  ASSERT_EQ(h.Run({"SESSION.OPEN", "5000"}), I(3));  // 6000
  ASSERT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "A", "TTL", "300", "OWNER", "a1"}), Granted(1, 300));
  ASSERT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "A", "WAIT", "400", "OWNER", "a2"}), kDeferred);
  ASSERT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "A", "SHARED", "SESSION", "2", "WAIT", "0"}), kDeferred);
  ASSERT_EQ(h.RunAs(4, 1, {"LOCK.ACQUIRE", "A", "SHARED", "TTL", "50", "WAIT", "0"}), kDeferred);
  ASSERT_EQ(h.ApplyOnly({"LOCKQ.AS", "2", "7", "1", "1", "LOCK.ACQUIRE", "A", "WAIT", "0"}),
            kDeferred);
  ASSERT_EQ(h.RunAs(5, 1, {"LOCK.ACQUIRE", "B", "SHARED", "SESSION", "1"}), Granted(2, 500));
  ASSERT_EQ(h.Run({"LOCK.ACQUIRE", "B", "SHARED", "TTL", "700", "OWNER", "b"}), Granted(3, 700));
  ASSERT_EQ(h.RunAs(6, 1, {"LOCK.ACQUIRE", "B", "SESSION", "3", "WAIT", "0"}), kDeferred);
  ASSERT_EQ(h.RunAs(7, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "100"}), Granted(4, 100));
  ASSERT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "SESSION", "3"}), Granted(5, 5000));
  ASSERT_EQ(h.RunAs(8, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "WAIT", "1000"}), kDeferred);
  ASSERT_EQ(h.RunAs(9, 1, {"ELECT.CAMPAIGN", "e", "v1", "SESSION", "1"}), Granted(6, 500));
  ASSERT_EQ(h.RunAs(10, 1, {"ELECT.CAMPAIGN", "e", "v2", "WAIT", "0"}), kDeferred);
  ASSERT_EQ(h.Run({"LOCK.ACQUIRE", "F", "TTL", "10"}), Granted(7, 10));
  ASSERT_EQ(h.Run({"LOCK.RELEASE", "F", "7"}), I(1));
  ASSERT_EQ(h.Run({"SET", "k", "v", "PX", "900"}), Reply::Ok());
}

Batch At(uint64_t t, std::vector<Argv> commands) {
  Batch b;
  b.leader_time_ms = t;
  b.commands = std::move(commands);
  return b;
}

Argv Cancel(ClientRef c) {
  return {"LOCKQ.CANCEL", std::to_string(c.node), std::to_string(c.nonce), std::to_string(c.conn),
          std::to_string(c.slot)};
}

TEST(LockSnapshotV4Test, RichStateRoundTripsByteIdentically) {
  SmHarness h;
  BuildRichState(h);
  ASSERT_EQ(h.sm().lock_waiter_count(), 7u);
  ASSERT_EQ(h.sm().session_count(), 3u);
  std::string snap = h.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(snap[0]), kSnapshotVersion);
  StateMachine r;
  ASSERT_TRUE(r.Restore(snap).ok());
  EXPECT_EQ(r.Snapshot(), snap);
  EXPECT_EQ(r.lock_waiter_count(), h.sm().lock_waiter_count());
  EXPECT_EQ(r.lock_holder_count(), h.sm().lock_holder_count());
  EXPECT_EQ(r.session_count(), h.sm().session_count());
  EXPECT_EQ(r.last_lock_token(), h.sm().last_lock_token());
  EXPECT_EQ(r.next_expiry_ms(), h.sm().next_expiry_ms());
  EXPECT_EQ(r.next_expiry_ms(), 1100u);  // S's TTL holder
  for (const char* name : {"A", "B", "S", "F", "elect:e"}) {
    EXPECT_EQ(r.Query({"LOCK.INFO", name}), h.sm().Query({"LOCK.INFO", name})) << name;
  }
  for (const char* id : {"1", "2", "3"}) {
    EXPECT_EQ(r.Query({"SESSION.INFO", id}), h.sm().Query({"SESSION.INFO", id})) << id;
  }
  // A copy (async snapshots) encodes the same bytes too.
  StateMachine copy(h.sm());
  EXPECT_EQ(copy.Snapshot(), snap);
}

TEST(LockSnapshotV4Test, RestoredReplicaBehavesIdentically) {
  SmHarness h;
  BuildRichState(h);
  StateMachine& a = h.sm();
  StateMachine r;
  ASSERT_TRUE(r.Restore(a.Snapshot()).ok());
  const std::vector<Batch> further = {
      At(1010,
         {{"LOCK.INFO", "A"}, {"LOCK.INFO", "B"}, {"SESSION.INFO", "1"}, {"ELECT.LEADER", "e"}}),
      At(1020, {Cancel(C(1))}),  // A's holder leaves: a2 is granted
      At(1030, {{"SESSION.KEEPALIVE", "2"}, {"LOCK.LIST"}}),
      At(1050, {{"LOCKQ.INCARNATION", "2", "8"}}),
      At(1060, {{"LOCKQ.AS", "1", "1", "11", "1", "LOCK.ACQUIRE", "B", "SHARED", "WAIT", "0"},
                {"LOCKQ.AS", "1", "1", "6", "1", "LOCK.ACQUIRE", "B", "WAIT", "0"}}),
      At(1100, {{"LOCKQ.EXPIRE", "100"}}),  // S token 4: c8 is granted
      At(1200, {{"SESSION.CLOSE", "1"}}),   // B token 2 and e's leader: c10 is granted
      At(1230, {{"LOCKQ.EXPIRE", "100"}}),  // session 2: c3 answered NOSESSION
      At(1240, {Cancel(C(2)), {"LOCK.INFO", "A"}}),
      At(1250,
         {{"LOCK.ACQUIRE", "A", "SHARED"}, {"LOCK.RELEASE", "B", "3"}, {"ELECT.LEADER", "e"}}),
      At(1300, {{"LOCKQ.NOOP"}}),
      At(9000, {{"LOCKQ.ANNOUNCE", "1", "x:1"}, {"LOCK.INFO", "S"}, {"SESSION.INFO", "3"}}),
      At(9001, {{"LOCKQ.EXPIRE", "100"}}),
      At(50000, {{"LOCKQ.EXPIRE", "1000"}, {"LOCK.LIST"}}),
  };
  uint64_t index = a.applied_index();
  size_t answers = 0;
  for (const Batch& b : further) {
    ++index;
    std::vector<Reply> ra = a.Apply(b, index);
    std::vector<Reply> rr = r.Apply(b, index);
    EXPECT_EQ(ra, rr) << "at " << b.leader_time_ms;
    Events ea = a.TakeEvents(), er = r.TakeEvents();
    EXPECT_EQ(ea, er) << "at " << b.leader_time_ms;
    answers += Answers(ea).size();
    ASSERT_EQ(a.Snapshot(), r.Snapshot()) << "at " << b.leader_time_ms;
  }
  // The workload did exercise deferred answers and pushes.
  EXPECT_GE(answers, 8u);
  EXPECT_EQ(a.lock_waiter_count(), 0u);
  EXPECT_EQ(a.session_count(), 0u);
}

TEST(LockSnapshotV4Test, RestoredWaitersAreGrantedToTheirClients) {
  SmHarness h;
  BuildRichState(h);
  SmHarness r;
  ASSERT_TRUE(r.sm().Restore(h.Snapshot()).ok());
  r.SetTime(1020);
  EXPECT_EQ(r.ApplyOnly(Cancel(C(1))), I(0));
  EXPECT_EQ(Answers(r.events()), Events{ReplyEvent(C(2), Granted(8, 30000))});
  // Expired lazily at restore time: c7's semaphore permit.
  r.SetTime(1100);
  EXPECT_EQ(r.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(1));
  EXPECT_EQ(Answers(r.events()),
            (Events{LostEvent(C(7), "S", 4, "expired"), ReplyEvent(C(8), Granted(9, 30000))}));
}

// ---- hand-built version 4 snapshots ------------------------------------------

struct HolderRec {
  uint64_t token;
  std::string owner;
  uint64_t since, lease, deadline, session;
  ClientRef client;
};
struct WaiterRec {
  uint8_t mode;
  uint64_t permits;
  std::string owner;
  uint64_t lease, session;
  ClientRef client;
  uint64_t since, wait_deadline;
};
struct LockRec {
  std::string name;
  uint8_t mode;
  uint64_t permits, last_grant;
  std::vector<HolderRec> holders;
  std::vector<WaiterRec> waiters;
};
struct SessionRec {
  uint64_t id, ttl, deadline;
};
struct Table {
  uint64_t last_token, last_session;
  std::vector<SessionRec> sessions;
  std::vector<LockRec> locks;
};

void PutClient(ByteWriter& w, const ClientRef& c) {
  w.PutU64(c.node);
  w.PutU64(c.nonce);
  w.PutU64(c.conn);
  w.PutU64(c.slot);
}

// Header (index `index`, time 1000), no nodes, keys or scripts, then `t`.
// `version` 6 adds each waiter's SIGNED byte and an empty key section.
std::string V4(const Table& t, uint64_t index = 6, uint8_t version = 4) {
  std::string s;
  ByteWriter w(&s);
  w.PutU8(version);
  w.PutU64(index);
  w.PutU64(1000);
  w.PutVarint(0);
  w.PutVarint(0);
  w.PutVarint(0);
  w.PutU64(t.last_token);
  w.PutU64(t.last_session);
  w.PutVarint(t.sessions.size());
  for (const SessionRec& x : t.sessions) {
    w.PutU64(x.id);
    w.PutU64(x.ttl);
    w.PutU64(x.deadline);
  }
  w.PutVarint(t.locks.size());
  for (const LockRec& l : t.locks) {
    w.PutString(l.name);
    w.PutU8(l.mode);
    w.PutU64(l.permits);
    w.PutU64(l.last_grant);
    w.PutVarint(l.holders.size());
    for (const HolderRec& x : l.holders) {
      w.PutU64(x.token);
      w.PutString(x.owner);
      w.PutU64(x.since);
      w.PutU64(x.lease);
      w.PutU64(x.deadline);
      w.PutU64(x.session);
      PutClient(w, x.client);
    }
    w.PutVarint(l.waiters.size());
    for (const WaiterRec& x : l.waiters) {
      w.PutU8(x.mode);
      w.PutU64(x.permits);
      w.PutString(x.owner);
      w.PutU64(x.lease);
      w.PutU64(x.session);
      PutClient(w, x.client);
      w.PutU64(x.since);
      w.PutU64(x.wait_deadline);
      if (version >= 6) w.PutU8(0);
    }
  }
  if (version >= 6) {
    w.PutU64(0);     // last signing key id
    w.PutVarint(0);  // no signing keys
  }
  return s;
}

// What BuildGoodState() builds through commands (6 batches at time 1000),
// written by hand.
Table GoodTable() {
  return Table{
      3,
      1,
      {{1, 500, 1500}},
      {LockRec{
           "L", 0, 0, 1, {{1, "a", 1000, 0, 0, 1, C(1)}}, {{0, 0, "b", 100, 0, C(2), 1000, 1050}}},
       LockRec{"S",
               2,
               2,
               3,
               {{2, "", 1000, 200, 1200, 0, {}}, {3, "", 1000, 200, 1200, 0, {}}},
               {{2, 2, "", 0, 1, C(3), 1000, 0}}}}};
}

void BuildGoodState(SmHarness& h) {
  h.SetTime(1000);
  ASSERT_EQ(h.Run({"SESSION.OPEN", "500"}), I(1));
  ASSERT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "L", "SESSION", "1", "OWNER", "a"}), Granted(1, 500));
  ASSERT_EQ(h.RunAs(2, 1, {"LOCK.ACQUIRE", "L", "TTL", "100", "WAIT", "50", "OWNER", "b"}),
            kDeferred);
  ASSERT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "200"}), Granted(2, 200));
  ASSERT_EQ(h.Run({"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "TTL", "200"}), Granted(3, 200));
  ASSERT_EQ(h.RunAs(3, 1, {"LOCK.ACQUIRE", "S", "SEMAPHORE", "2", "SESSION", "1", "WAIT", "0"}),
            kDeferred);
}

// The same table as written today: the current version byte, then an
// empty queue engine after the lock part (version 5).
std::string Current(const Table& t) {
  std::string s = V4(t, 6, kSnapshotVersion);
  return s + EmptyTailAfterScripts().substr(8 + 8 + 1 + 1 + 8 + 1);  // after the empty key section
}

TEST(LockSnapshotV4Test, HandBuiltTableMatchesTheEncoder) {
  SmHarness h;
  BuildGoodState(h);
  EXPECT_EQ(Current(GoodTable()), h.Snapshot());
  StateMachine sm;
  ASSERT_TRUE(sm.Restore(V4(GoodTable())).ok());  // version 4 still reads
  EXPECT_EQ(sm.Snapshot(), Current(GoodTable()));
  EXPECT_EQ(sm.lock_waiter_count(), 2u);
  EXPECT_EQ(sm.session_count(), 1u);
  EXPECT_EQ(sm.lock_holder_count(), 3u);
  EXPECT_EQ(sm.next_expiry_ms(), 1050u);
}

TEST(LockSnapshotV4Test, RejectsCorruptTables) {
  StateMachine sm;
  ASSERT_TRUE(sm.Restore(V4(GoodTable())).ok());
  const std::string good = sm.Snapshot();
  auto bad = [&](const std::function<void(Table&)>& mutate) {
    Table t = GoodTable();
    mutate(t);
    return !sm.Restore(V4(t)).ok();
  };
  // Sanity: an unchanged table restores.
  EXPECT_FALSE(bad([](Table&) {}));
  ASSERT_TRUE(sm.Restore(good).ok());
  // A holder or waiter of an unknown session.
  EXPECT_TRUE(bad([](Table& t) {
    t.last_session = 2;
    t.locks[0].holders[0].session = 2;
  }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].waiters[0].session = 9; }));
  EXPECT_TRUE(bad([](Table& t) { t.sessions.clear(); }));
  // A session holder with a lease.
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].holders[0].lease = 10; }));
  // Sessions beyond the counter, out of order, or with a deadline beyond int64.
  EXPECT_TRUE(bad([](Table& t) { t.last_session = 0; }));
  EXPECT_TRUE(bad([](Table& t) {
    t.last_session = 3;
    t.sessions = {{3, 10, 2000}, {1, 500, 1500}};
  }));
  EXPECT_TRUE(bad([](Table& t) { t.sessions[0].deadline = UINT64_MAX; }));
  // A session waiter with a lease, like a session holder with one: once
  // granted it would be a holder no snapshot accepts.
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].waiters[0].lease = 100; }));
  // The same client waiting twice, on one lock or on two.
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].waiters[0].client = C(2); }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].waiters.push_back(t.locks[0].waiters[0]); }));
  // A waiter without a client, or with a wait deadline beyond int64.
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].waiters[0].client = {}; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].waiters[0].wait_deadline = UINT64_MAX; }));
  // Bad modes and permits, on records and on waiters.
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].mode = 3; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].mode = 255; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].permits = 1; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].permits = 0; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].permits = 1'000'001; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].waiters[0].mode = 3; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].waiters[0].permits = 2; }));
  EXPECT_TRUE(bad([](Table& t) { t.locks[1].waiters[0].permits = 0; }));
  // A semaphore with more holders than permits; an exclusive with two.
  auto extra_holder = [](Table& t, size_t lock) {
    t.last_token = 4;
    t.locks[lock].last_grant = 4;
    t.locks[lock].holders.push_back({4, "", 1000, 200, 1200, 0, {}});
  };
  auto permits = [](Table& t, uint64_t n) {
    t.locks[1].permits = n;
    t.locks[1].waiters[0].permits = n;
  };
  EXPECT_FALSE(bad([&](Table& t) { permits(t, 3); }));  // 2 of 3 permits
  EXPECT_TRUE(bad([&](Table& t) { permits(t, 1); }));   // 2 of 1
  EXPECT_FALSE(bad([&](Table& t) {
    extra_holder(t, 1);
    permits(t, 3);
  }));                                                      // 3 of 3
  EXPECT_TRUE(bad([&](Table& t) { extra_holder(t, 1); }));  // 3 of 2
  EXPECT_TRUE(bad([&](Table& t) { extra_holder(t, 0); }));  // two exclusive holders
  EXPECT_FALSE(bad([&](Table& t) {
    extra_holder(t, 0);
    t.locks[0].mode = 1;  // shared: fine
  }));
  std::string s = V4(GoodTable());
  // Every truncation of a good snapshot is corrupt.
  for (size_t n = 0; n < s.size(); n++) {
    EXPECT_FALSE(sm.Restore(std::string_view(s).substr(0, n)).ok()) << n;
  }
  // A failed restore leaves the last good state.
  ASSERT_TRUE(sm.Restore(good).ok());
  EXPECT_TRUE(bad([](Table& t) { t.locks[0].mode = 3; }));
  EXPECT_EQ(sm.Snapshot(), good);
}

// ---- version 3 -----------------------------------------------------------------

TEST(LockSnapshotV4Test, Version3StillRestores) {
  std::string v3;
  ByteWriter w(&v3);
  w.PutU8(3);
  w.PutU64(9);     // applied index
  w.PutU64(1000);  // now
  w.PutVarint(0);  // nodes
  w.PutVarint(0);  // keys
  w.PutVarint(0);  // scripts
  w.PutU64(4);     // last_token
  w.PutVarint(2);  // locks
  w.PutString("R");
  const size_t mode_at = v3.size();
  w.PutU8(1);  // shared
  w.PutU64(3);
  w.PutVarint(2);
  for (uint64_t token : {2, 3}) {
    w.PutU64(token);
    w.PutString("o" + std::to_string(token));
    w.PutU64(900);
    w.PutU64(500);
    w.PutU64(1400);
  }
  w.PutString("X");
  w.PutU8(0);
  w.PutU64(4);
  w.PutVarint(1);
  w.PutU64(4);
  w.PutString("");
  w.PutU64(1000);
  w.PutU64(100);
  w.PutU64(1100);

  SmHarness h(1000);
  ASSERT_TRUE(h.sm().Restore(v3).ok());
  EXPECT_EQ(h.sm().last_lock_token(), 4u);
  EXPECT_EQ(h.sm().session_count(), 0u);
  EXPECT_EQ(h.sm().lock_waiter_count(), 0u);
  EXPECT_EQ(h.sm().next_expiry_ms(), 1100u);
  EXPECT_EQ(
      h.Run({"LOCK.INFO", "R"}),
      Info("shared", {Holder(2, "o2", 900, 1400, 1000), Holder(3, "o3", 900, 1400, 1000)}, 3));
  // Written back in the current version, and that round-trips.
  std::string v4 = h.Snapshot();
  EXPECT_EQ(static_cast<uint8_t>(v4[0]), kSnapshotVersion);
  StateMachine r;
  ASSERT_TRUE(r.Restore(v4).ok());
  EXPECT_EQ(r.Snapshot(), v4);
  // The restored table works with the new commands: no client to push to.
  EXPECT_EQ(h.RunAs(1, 1, {"LOCK.ACQUIRE", "X", "WAIT", "0"}), kDeferred);
  h.SetTime(1100);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), I(1));
  EXPECT_EQ(h.events(),
            (Events{ChangeEvent("X"), ChangeEvent("X"), ReplyEvent(C(1), Granted(5, 30000))}));
  EXPECT_EQ(h.Run({"SESSION.OPEN", "100"}), I(1));
  // A version 3 lock part with a semaphore mode byte is corrupt.
  std::string bad = v3;
  bad[mode_at] = 2;
  EXPECT_FALSE(r.Restore(bad).ok());
}

}  // namespace
}  // namespace lockq::sm
