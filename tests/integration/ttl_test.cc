// Key expiry through the log: relative TTLs, TTL/PTTL, active expiry, and
// a TTL that does not fire early across a leader failover.

#include <chrono>
#include <cstdio>
#include <thread>

#include "it_util.h"

namespace lockq::testing {
namespace {

using Clock = std::chrono::steady_clock;

TEST(TtlIT, KeyExpiresAndTtlIsSane) {
  ProcessCluster c(ClusterOptions{.nodes = 1});
  LQ_ASSERT_OK(c.Start());
  LQ_CONNECT(conn, c, 0);
  auto t_set = Clock::now();
  auto r = conn.Call({"SET", "k", "v", "PX", "300"});
  ASSERT_TRUE(IsOk(r)) << Describe(r);
  r = conn.Call({"GET", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Dbg(r.value()), Dbg(sm::Reply::Bulk("v"))) << "right after SET PX 300";
  r = conn.Call({"PTTL", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, sm::Reply::Kind::kInt) << Dbg(r.value());
  EXPECT_GT(r->integer, 0);
  EXPECT_LE(r->integer, 300);
  r = conn.Call({"TTL", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kind == sm::Reply::Kind::kInt && r->integer >= 0 && r->integer <= 1) << Dbg(r.value());

  ASSERT_TRUE(IsOk(conn.Call({"SET", "persistent", "p"})));
  ASSERT_TRUE(IsOk(conn.Call({"SET", "long", "l", "EX", "100"})));
  r = conn.Call({"TTL", "persistent"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->integer, -1) << Dbg(r.value());
  r = conn.Call({"TTL", "long"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->integer >= 98 && r->integer <= 100) << Dbg(r.value());
  r = conn.Call({"PTTL", "long"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->integer > 98000 && r->integer <= 100000) << Dbg(r.value());

  // Many short-lived keys that nobody reads again: active expiry must
  // remove them (INFO keyspace is the node's local state).
  std::vector<sm::Argv> cmds;
  for (int i = 0; i < 200; i++) cmds.push_back({"SET", "short:" + std::to_string(i), "x", "PX", "200"});
  auto pr = conn.Pipeline(cmds);
  ASSERT_TRUE(pr.ok()) << pr.status().ToString();
  for (const auto& rep : *pr) ASSERT_EQ(rep.str, "OK") << Dbg(rep);

  // ~1.5 s after the SET the 300 ms key is gone.
  std::this_thread::sleep_until(t_set + Millis(1500));
  r = conn.Call({"GET", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, sm::Reply::Kind::kNull) << "GET k 1.5 s after SET PX 300 -> " << Dbg(r.value());
  r = conn.Call({"EXISTS", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->integer, 0);
  r = conn.Call({"PTTL", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->integer, -2) << Dbg(r.value());
  r = conn.Call({"TTL", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->integer, -2) << Dbg(r.value());
  r = conn.Call({"GET", "persistent"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, "p");

  // Active expiry: only "persistent" and "long" remain, without reads.
  std::string db0;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 200 && Clock::now() < deadline; i++) {
    auto ks = c.Info(0, "keyspace");
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    db0 = (*ks)["db0"];
    if (db0.find("keys=2,") != std::string::npos) break;
    std::this_thread::sleep_for(Millis(100));
  }
  EXPECT_NE(db0.find("keys=2,"), std::string::npos) << "expired keys still held: INFO keyspace db0:" << db0;
  std::printf("[ttl] INFO keyspace after expiry: db0:%s\n", db0.c_str());
}

TEST(TtlIT, TtlSurvivesLeaderFailoverWithoutFiringEarly) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int survivor = (leader + 1) % 3;
  auto t_set = Clock::now();  // before the SET is sent: expiry >= t_set + 5 s
  {
    LQ_CONNECT(conn, c, leader);
    auto r = conn.Call({"SET", "lease", "holder-1", "PX", "5000"});
    ASSERT_TRUE(IsOk(r)) << Describe(r);
  }
  c.Kill9(leader);
  auto t_kill = Clock::now();
  client::RespConnection conn;
  auto r = CallWithRetry(c, survivor, &conn, {"GET", "lease"}, Millis(20000));
  double since_set = MsSince(t_set);
  std::printf("[ttl] GET after the leader's kill answered %.0f ms after kill, %.0f ms after SET: %s\n",
              MsSince(t_kill), since_set, Describe(r).c_str());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  if (since_set < 4500) {
    EXPECT_EQ(Dbg(r.value()), Dbg(sm::Reply::Bulk("holder-1"))) << "5 s lease gone after " << since_set << " ms";
    auto p = CallWithRetry(c, survivor, &conn, {"PTTL", "lease"}, Millis(5000));
    ASSERT_TRUE(p.ok());
    EXPECT_GT(p->integer, 0) << Dbg(p.value());
    EXPECT_LE(p->integer, 5000) << Dbg(p.value());
  } else {
    ADD_FAILURE() << "failover took too long (" << since_set << " ms after SET) to check the lease";
  }
  // Poll until it expires: never before 5 s after the SET was sent.
  bool gone = false;
  double gone_at = 0;
  auto deadline = t_set + std::chrono::seconds(15);
  for (int i = 0; i < 1000 && Clock::now() < deadline; i++) {
    auto g = CallWithRetry(c, survivor, &conn, {"GET", "lease"}, Millis(5000));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    if (g->kind == sm::Reply::Kind::kNull) {
      gone = true;
      gone_at = MsSince(t_set);
      break;
    }
    EXPECT_EQ(g->str, "holder-1");
    std::this_thread::sleep_for(Millis(50));
  }
  ASSERT_TRUE(gone) << "lease with PX 5000 still present 15 s later";
  std::printf("[ttl] lease observed expired %.0f ms after SET (PX 5000)\n", gone_at);
  EXPECT_GE(gone_at, 5000.0) << "expired early";
}

}  // namespace
}  // namespace lockq::testing
