// Snapshot catch-up: a follower that was down while the leader truncated
// its log past the follower's position is brought up to date with a
// snapshot (InstallSnapshot) and then serves the same values.

#include <chrono>
#include <cstdio>

#include "it_util.h"

namespace lockq::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Key(int i) { return "snap:" + std::to_string(i); }
std::string Value(int i) { return "val-" + std::to_string(i * 7919); }

TEST(SnapshotIT, LaggingFollowerCatchesUpFromSnapshot) {
  ProcessCluster c(ClusterOptions{.nodes = 3, .extra_args = {"--snapshot-entries", "64", "--snapshot-trailing", "16"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int lagging = (leader + 1) % 3;
  std::map<std::string, std::string> acked;
  LQ_CONNECT(conn, c, leader);
  for (int i = 0; i < 10; i++) {
    auto r = conn.Call({"SET", Key(i), Value(i)});
    ASSERT_TRUE(IsOk(r)) << Describe(r);
    acked[Key(i)] = Value(i);
  }
  LQ_ASSERT_OK(c.WaitApplied(lagging, static_cast<uint64_t>(FieldInt(c.ClusterStatus(leader).value(), "commit_index")),
                             Millis(10000)));
  auto lst0 = c.ClusterStatus(lagging);
  ASSERT_TRUE(lst0.ok()) << lst0.status().ToString();
  int64_t lagging_last = FieldInt(lst0.value(), "last_index");
  c.Kill9(lagging);

  // Many small entries (pipelines of 10 are ~1 log entry each).
  const int kKeys = 4000;
  auto t0 = Clock::now();
  for (int i = 10; i < kKeys; i += 10) {
    std::vector<sm::Argv> cmds;
    for (int j = i; j < i + 10 && j < kKeys; j++) cmds.push_back({"SET", Key(j), Value(j)});
    auto r = conn.Pipeline(cmds);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (size_t j = 0; j < cmds.size(); j++) {
      ASSERT_EQ(r->at(j).str, "OK") << Dbg(r->at(j));
      acked[cmds[j][1]] = cmds[j][2];
    }
  }
  std::printf("[snapshot] wrote %d keys with node %d down in %.0f ms\n", kKeys, lagging + 1, MsSince(t0));
  auto lst = c.ClusterStatus(leader);
  ASSERT_TRUE(lst.ok()) << lst.status().ToString();
  int64_t snap_index = FieldInt(lst.value(), "snapshot_index");
  int64_t commit = FieldInt(lst.value(), "commit_index");
  std::printf("[snapshot] leader: commit_index=%lld snapshot_index=%lld snapshots_taken=%lld; lagging node's "
              "last_index=%lld\n",
              static_cast<long long>(commit), static_cast<long long>(snap_index),
              static_cast<long long>(FieldInt(lst.value(), "snapshots_taken")), static_cast<long long>(lagging_last));
  EXPECT_GT(FieldInt(lst.value(), "snapshots_taken"), 0);
  // Precondition: the leader's log no longer reaches back to the lagging
  // node's position (snapshot_index - trailing > its last index).
  ASSERT_GT(snap_index - 16, lagging_last) << "the log was not truncated past the lagging node; write more";

  t0 = Clock::now();
  LQ_ASSERT_OK(c.Restart(lagging));
  LQ_ASSERT_OK(c.WaitApplied(lagging, static_cast<uint64_t>(commit), Millis(30000)));
  std::printf("[snapshot] node %d caught up to %lld in %.0f ms\n", lagging + 1, static_cast<long long>(commit),
              MsSince(t0));
  auto fst = c.ClusterStatus(lagging);
  ASSERT_TRUE(fst.ok()) << fst.status().ToString();
  std::printf("[snapshot] caught-up node: snapshots_restored=%lld snapshot_index=%lld applied_index=%lld\n",
              static_cast<long long>(FieldInt(fst.value(), "snapshots_restored")),
              static_cast<long long>(FieldInt(fst.value(), "snapshot_index")),
              static_cast<long long>(FieldInt(fst.value(), "applied_index")));
  EXPECT_GT(FieldInt(fst.value(), "snapshots_restored"), 0) << "caught up without installing a snapshot?";
  // Decoded on a worker while the file was written, not on the loop.
  EXPECT_GT(FieldInt(fst.value(), "snapshots_decoded_off_loop"), 0);
  // The loop-lag histogram (INFO latency) counted its turns.
  auto lat = c.Info(lagging, "latency");
  ASSERT_TRUE(lat.ok()) << lat.status().ToString();
  int64_t turns = std::stoll((*lat)["loop_turns"]), counted = 0;
  for (const auto& [k, v] : *lat) {
    if (k.rfind("loop_busy_le_", 0) == 0 || k.rfind("loop_busy_gt_", 0) == 0) counted += std::stoll(v);
  }
  EXPECT_GT(turns, 0);
  EXPECT_EQ(counted, turns);

  auto ks = c.Info(lagging, "keyspace");
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_NE((*ks)["db0"].find("keys=" + std::to_string(acked.size()) + ","), std::string::npos)
      << "local keyspace of the caught-up node: " << (*ks)["db0"];
  {
    LQ_CONNECT(fconn, c, lagging);
    EXPECT_EQ(CheckAllKeys(fconn, acked, "caught-up node"), 0u);
  }

  // It keeps up afterwards, and survives a restart from its own snapshot.
  for (int i = 0; i < 50; i++) {
    auto r = conn.Call({"SET", "after:" + std::to_string(i), "x"});
    ASSERT_TRUE(IsOk(r)) << Describe(r);
    acked["after:" + std::to_string(i)] = "x";
  }
  c.Kill9(lagging);
  LQ_ASSERT_OK(c.Restart(lagging));
  lst = c.ClusterStatus(leader);
  ASSERT_TRUE(lst.ok());
  LQ_ASSERT_OK(c.WaitApplied(lagging, static_cast<uint64_t>(FieldInt(lst.value(), "commit_index")), Millis(20000)));
  ks = c.Info(lagging, "keyspace");
  ASSERT_TRUE(ks.ok());
  EXPECT_NE((*ks)["db0"].find("keys=" + std::to_string(acked.size()) + ","), std::string::npos)
      << "after second restart: " << (*ks)["db0"];
}

// Issue 13: lockqd freezes the state for a snapshot with fork() and
// serializes it off the event loop (libraft's async_work). A node takes
// such snapshots, logs that it did, and a restart restores from one.
TEST(SnapshotIT, ForkedSnapshotIsTakenAndRestoredOnRestart) {
  ProcessCluster c(ClusterOptions{.nodes = 1, .extra_args = {"--snapshot-entries", "64", "--snapshot-trailing", "16"}});
  LQ_ASSERT_OK(c.Start());
  std::map<std::string, std::string> acked;
  {
    LQ_CONNECT(conn, c, 0);
    auto d = conn.Call({"Q.DECLARE", "snapq", "DURABLE"});
    ASSERT_TRUE(d.ok() && !d->is_error()) << Describe(d);
    for (int i = 0; i < 300; i++) {  // one entry each: past 64 several times
      auto r = conn.Call({"SET", Key(i), Value(i)});
      ASSERT_TRUE(IsOk(r)) << Describe(r);
      acked[Key(i)] = Value(i);
      auto p = conn.Call({"Q.PUBLISH", "", "snapq", "m" + std::to_string(i)});
      ASSERT_TRUE(p.ok() && !p->is_error()) << Describe(p);
    }
  }
  auto st = c.ClusterStatus(0);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_GT(FieldInt(st.value(), "snapshots_taken"), 0);
  EXPECT_GT(FieldInt(st.value(), "snapshot_index"), 64);
  std::string log = c.node(0).LogTail(64 * 1024);
  EXPECT_NE(log.find("frozen by fork"), std::string::npos) << log;
  EXPECT_EQ(log.find("fork failed"), std::string::npos) << log;

  c.Kill9(0);
  LQ_ASSERT_OK(c.Restart(0));
  st = c.ClusterStatus(0);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_GT(FieldInt(st.value(), "snapshots_restored"), 0) << "restarted without loading its snapshot?";
  LQ_CONNECT(conn, c, 0);
  EXPECT_EQ(CheckAllKeys(conn, acked, "restarted node"), 0u);
  auto info = conn.Call({"Q.INFO", "snapq"});
  ASSERT_TRUE(info.ok() && !info->is_error()) << Describe(info);
  EXPECT_EQ(FieldInt(ReplyToFieldMap(*info), "messages_ready"), 300) << Describe(info);
}

}  // namespace
}  // namespace lockq::testing
