// Native locks through real lockqd processes, what the Python tests do not
// reach: RESP3 pushes to holders that lose their lock, ELECT.OBSERVE
// pushes, sessions across nodes, and a WAIT answered by a follower.

#include <chrono>
#include <thread>

#include "it_util.h"

namespace lockq::testing {
namespace {

using sm::Reply;

// Reads one reply and expects a RESP3 push whose first element is `kind`.
Reply ExpectPush(client::RespConnection& conn, const std::string& kind) {
  auto r = conn.ReadReply();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return Reply::Null();
  EXPECT_EQ(r->kind, Reply::Kind::kPush) << Dbg(r.value());
  EXPECT_TRUE(!r->elems.empty() && r->elems[0].str == kind) << Dbg(r.value());
  return r.value();
}

int64_t TokenOf(const Result<Reply>& r) {
  return r.ok() && r->kind == Reply::Kind::kArray && r->elems.size() == 2 ? r->elems[0].integer : -1;
}

TEST(LockPushIT, HolderIsToldWhenItsLeaseExpires) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int follower = (c.Leader() + 1) % 3;
  LQ_CONNECT(holder, c, follower);
  ASSERT_TRUE(holder.Call({"HELLO", "3"}).ok());
  auto grant = holder.Call({"LOCK.ACQUIRE", "lease", "TTL", "300", "OWNER", "h"});
  int64_t token = TokenOf(grant);
  ASSERT_GT(token, 0) << Describe(grant);
  // No renewal: the leader's expiry entry releases it and the follower that
  // owns the connection pushes lock.lost.
  holder.set_timeout(std::chrono::seconds(10));
  Reply push = ExpectPush(holder, "lock.lost");
  EXPECT_EQ(Dbg(push), Dbg(Reply{Reply::Kind::kPush, 0, {},
                                  {Reply::Bulk("lock.lost"), Reply::Bulk("lease"), Reply::Int(token),
                                   Reply::Bulk("expired")}}));
  // The connection still works normally afterwards.
  auto r = holder.Call({"LOCK.RELEASE", "lease", std::to_string(token)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, "NOTOWNER lock is not held with this token") << Dbg(r.value());
}

TEST(LockPushIT, SessionExpiryReleasesAndGrantsTheNextWaiterOnAnotherNode) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  LQ_CONNECT(a, c, 0);
  LQ_CONNECT(b, c, 1);
  LQ_CONNECT(d, c, 2);
  ASSERT_TRUE(a.Call({"HELLO", "3"}).ok());
  auto session = a.Call({"SESSION.OPEN", "500"});
  ASSERT_TRUE(session.ok() && session->kind == Reply::Kind::kInt) << Describe(session);
  std::string sid = std::to_string(session->integer);
  int64_t t1 = TokenOf(a.Call({"LOCK.ACQUIRE", "s", "SESSION", sid}));
  ASSERT_GT(t1, 0);
  // Keepalives from another node keep it alive past its TTL.
  for (int i = 0; i < 5; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto k = d.Call({"SESSION.KEEPALIVE", sid});
    ASSERT_TRUE(k.ok() && k->kind == Reply::Kind::kInt) << Describe(k);
  }
  auto info = d.Call({"SESSION.INFO", sid});
  ASSERT_TRUE(info.ok()) << Describe(info);
  EXPECT_NE(Dbg(info.value()).find("\"s\""), std::string::npos) << Dbg(info.value());
  // b waits on node 2; the session stops being kept alive and expires.
  b.set_timeout(std::chrono::seconds(20));
  auto granted = b.Call({"LOCK.ACQUIRE", "s", "TTL", "5000", "WAIT", "15000"});
  int64_t t2 = TokenOf(granted);
  EXPECT_GT(t2, t1) << Describe(granted);
  Reply push = ExpectPush(a, "lock.lost");
  EXPECT_EQ(push.elems.size(), 4u);
  if (push.elems.size() == 4) {
    EXPECT_EQ(push.elems[3].str, "session expired");
  }
  auto gone = d.Call({"SESSION.KEEPALIVE", sid});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->str, "NOSESSION no such session (closed or expired)");
}

TEST(LockPushIT, ObserversSeeEveryLeaderChange) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  LQ_CONNECT(obs, c, 2);
  LQ_CONNECT(cand1, c, 0);
  LQ_CONNECT(cand2, c, 1);
  ASSERT_TRUE(obs.Call({"HELLO", "3"}).ok());
  auto now = obs.Call({"ELECT.OBSERVE", "svc"});
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->kind, Reply::Kind::kNull) << Dbg(now.value());
  obs.set_timeout(std::chrono::seconds(10));

  int64_t t1 = TokenOf(cand1.Call({"ELECT.CAMPAIGN", "svc", "node-a", "TTL", "10000"}));
  ASSERT_GT(t1, 0);
  Reply p1 = ExpectPush(obs, "elect");
  EXPECT_EQ(Dbg(p1), Dbg(Reply{Reply::Kind::kPush, 0, {},
                                {Reply::Bulk("elect"), Reply::Bulk("svc"), Reply::Bulk("node-a"), Reply::Int(t1)}}));
  // The second candidate waits in line; the first resigns; it takes over.
  std::thread second([&] {
    cand2.set_timeout(std::chrono::seconds(20));
    auto r = cand2.Call({"ELECT.CAMPAIGN", "svc", "node-b", "TTL", "10000", "WAIT", "15000"});
    EXPECT_GT(TokenOf(r), t1) << Describe(r);
  });
  // Resign once node-b is queued (LOCK.INFO elect:svc lists the waiter).
  for (int i = 0; i < 200; i++) {
    auto info = cand1.Call({"LOCK.INFO", "elect:svc"});
    if (info.ok() && Dbg(info.value()).find("node-b") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto resign = cand1.Call({"ELECT.RESIGN", "svc", std::to_string(t1)});
  ASSERT_TRUE(resign.ok() && resign->integer == 1) << Describe(resign);
  second.join();
  Reply p2 = ExpectPush(obs, "elect");
  ASSERT_EQ(p2.elems.size(), 4u) << Dbg(p2);
  EXPECT_EQ(p2.elems[2].str, "node-b") << Dbg(p2);
  auto leader = obs.Call({"ELECT.LEADER", "svc"});
  ASSERT_TRUE(leader.ok());
  EXPECT_NE(Dbg(leader.value()).find("node-b"), std::string::npos) << Dbg(leader.value());
}

}  // namespace
}  // namespace lockq::testing

namespace lockq::testing {
namespace {

// A waiter queued on a follower whose leader and other peer die: no entry
// can answer it, so it gets TRYAGAIN after WAIT + --no-leader-timeout-ms
// instead of hanging; with a majority back, its queue entry was cancelled.
TEST(LockPushIT, WaitWithoutLeaderIsAnsweredTryAgain) {
  ProcessCluster c({.nodes = 3, .extra_args = {"--no-leader-timeout-ms", "1000"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int survivor = (leader + 1) % 3;
  LQ_CONNECT(holder, c, leader);
  int64_t t1 = TokenOf(holder.Call({"LOCK.ACQUIRE", "w", "TTL", "60000"}));
  ASSERT_GT(t1, 0);
  LQ_CONNECT(waiter, c, survivor);
  waiter.set_timeout(std::chrono::seconds(30));
  ASSERT_TRUE(waiter.SendRaw("*6\r\n$12\r\nLOCK.ACQUIRE\r\n$1\r\nw\r\n$3\r\nTTL\r\n$4\r\n1000\r\n$4\r\nWAIT\r\n$4\r\n1500\r\n").ok());
  LQ_CONNECT(admin, c, survivor);
  for (int i = 0; i < 200; i++) {
    auto info = admin.Call({"LOCK.INFO", "w"});
    if (info.ok() && Dbg(info.value()).find("wait_deadline_ms") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  c.Kill9(leader);
  c.Kill9((leader + 2) % 3);
  auto start = std::chrono::steady_clock::now();
  auto r = waiter.ReadReply();
  auto waited = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->str.rfind("TRYAGAIN", 0), 0u) << Dbg(r.value());
  std::printf("[no-leader] LOCK.ACQUIRE WAIT 1500 answered '%s' after %lld ms\n", r->str.c_str(),
              static_cast<long long>(waited.count()));
  // The connection goes on working.
  auto ping = waiter.Call({"PING"});
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->str, "PONG");
}

}  // namespace
}  // namespace lockq::testing
