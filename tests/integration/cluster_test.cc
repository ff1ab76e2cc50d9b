// Membership changes and leadership transfer on real processes:
// `lockq cluster add|remove|transfer` send these LOCKQ.CLUSTER commands.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "it_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

Result<sm::Reply> CallOn(ProcessCluster& c, int i, const sm::Argv& argv) {
  auto conn = c.Client(i);
  if (!conn.ok()) return conn.status();
  conn->set_timeout(Millis(30000));
  return conn->Call(argv);
}

int64_t MemberCount(ProcessCluster& c, int i) {
  auto st = c.ClusterStatus(i);
  if (!st.ok()) return -1;
  auto it = st->find("members");
  return it == st->end() ? -1 : static_cast<int64_t>(it->second.elems.size());
}

TEST(MembershipIT, AddTransferRemove) {
  ProcessCluster c({.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  for (int k = 0; k < 50; k++) {
    ASSERT_TRUE(IsOk(CallOn(c, leader, {"SET", "before" + std::to_string(k), "v"})));
  }

  // A fourth node joins: started empty, added on the leader, catches up.
  auto joiner = c.StartJoiner();
  ASSERT_TRUE(joiner.ok()) << joiner.status().ToString();
  int j = joiner.value();
  auto added = CallOn(c, leader, {"LOCKQ.CLUSTER", "ADD", std::to_string(c.node(j).node_id()), c.node(j).raft_addr()});
  ASSERT_TRUE(IsOk(added)) << Describe(added);
  EXPECT_EQ(MemberCount(c, leader), 4);
  LQ_ASSERT_OK(c.WaitReady(j, /*want_leader=*/true, Millis(20000)));
  auto got = CallOn(c, j, {"GET", "before49"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->str, "v") << "a joined node serves reads (forwarded, linearizable)";

  // Adding on a follower is refused with a hint naming the leader.
  int follower = (leader + 1) % 3;
  auto refused = CallOn(c, follower, {"LOCKQ.CLUSTER", "ADD", "9", "127.0.0.1:1"});
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->is_error()) << Dbg(refused.value());
  EXPECT_NE(refused->str.find("not the leader"), std::string::npos) << refused->str;

  // Leadership moves to the new node on request.
  auto moved = CallOn(c, leader, {"LOCKQ.CLUSTER", "TRANSFER", std::to_string(c.node(j).node_id())});
  ASSERT_TRUE(IsOk(moved)) << Describe(moved);
  int new_leader = c.Leader();
  EXPECT_EQ(new_leader, j);
  ASSERT_GE(new_leader, 0);
  ASSERT_TRUE(IsOk(CallOn(c, follower, {"SET", "after-transfer", "v"})));

  // The old leader is removed; the cluster keeps serving with 3 members.
  auto removed = CallOn(c, new_leader, {"LOCKQ.CLUSTER", "REMOVE", std::to_string(c.node(leader).node_id())});
  ASSERT_TRUE(IsOk(removed)) << Describe(removed);
  EXPECT_EQ(MemberCount(c, new_leader), 3);
  LQ_ASSERT_OK(c.Stop(leader));
  ASSERT_TRUE(IsOk(CallOn(c, follower, {"SET", "after-remove", "v"})));
  auto check = CallOn(c, j, {"MGET", "before0", "after-transfer", "after-remove"});
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->elems.size(), 3u);
  for (const auto& e : check->elems) EXPECT_EQ(e.str, "v");
}


// With no majority there is no leader: a client gets TRYAGAIN within the
// configured wait, never a hang, and the survivor keeps answering PING.
TEST(NoLeaderIT, MinorityAnswersTryAgainWithinBoundedTime) {
  ProcessCluster c({.nodes = 3, .extra_args = {"--no-leader-timeout-ms", "1000"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int survivor = (leader + 1) % 3;
  c.Kill9(leader);
  c.Kill9((leader + 2) % 3);
  auto conn = c.Client(survivor);
  ASSERT_TRUE(conn.ok());
  conn->set_timeout(Millis(10000));
  auto start = std::chrono::steady_clock::now();
  auto r = conn->Call({"SET", "k", "v"});
  auto waited = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->is_error()) << Dbg(r.value());
  EXPECT_EQ(r->str.rfind("TRYAGAIN", 0), 0u) << r->str;
  std::printf("[no-leader] SET answered '%s' after %lld ms\n", r->str.c_str(), static_cast<long long>(waited.count()));
  auto ping = conn->Call({"PING"});
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->str, "PONG");
  // A majority again: writes work again.
  LQ_ASSERT_OK(c.Restart(leader));
  bool ok = false;
  for (int attempt = 0; attempt < 100 && !ok; attempt++) {
    ok = IsOk(conn->Call({"SET", "k", "v"}));
    if (!ok) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(ok);
}

// The operator's CLI against a real cluster: status as JSON, transfer.
TEST(CliIT, ClusterStatusAndTransfer) {
  ProcessCluster c({.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  std::string cli = std::string(LOCKQ_BINARY_DIR) + "/src/cli/lockq";
  std::string cmd = cli + " --server " + c.RespAddr(0) + " --json cluster status";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("\"leader_id\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"members\""), std::string::npos) << out;
  int leader = c.Leader();
  int target = (leader + 1) % 3;
  std::string transfer = cli + " --server " + c.RespAddr(target) + " cluster transfer " +
                         std::to_string(c.node(target).node_id()) + " > /dev/null";
  EXPECT_EQ(std::system(transfer.c_str()), 0);
  EXPECT_EQ(c.Leader(), target);
  std::string bad = cli + " --server 127.0.0.1:1 cluster status 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0) << "an unreachable server is an error exit";
}


// A follower forwards a turn's commands in chunks that each fit the
// leader's --max-bulk-bytes, however much one client pipelines.
TEST(ForwardIT, LargePipelineThroughFollowerFitsLeaderLimits) {
  ProcessCluster c({.nodes = 3, .extra_args = {"--max-bulk-bytes", "2097152"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int follower = (leader + 1) % 3;
  auto conn = c.Client(follower);
  ASSERT_TRUE(conn.ok());
  conn->set_timeout(Millis(30000));
  std::vector<sm::Argv> cmds;
  std::string value(100 * 1024, 'x');
  for (int k = 0; k < 100; k++) cmds.push_back({"SET", "big" + std::to_string(k), value});  // ~10 MB
  auto replies = conn->Pipeline(cmds);
  ASSERT_TRUE(replies.ok()) << replies.status().ToString();
  for (const auto& r : replies.value()) ASSERT_EQ(r.str, "OK") << Dbg(r);
  auto got = conn->Call({"STRLEN", "big99"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->integer, static_cast<int64_t>(value.size()));
  auto info = c.Info(follower, "stats");
  ASSERT_TRUE(info.ok());
  EXPECT_GE(std::stoll(info.value()["forwarded_commands"]), 101);
}

}  // namespace
}  // namespace lockq::testing
