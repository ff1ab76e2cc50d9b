// The queue engine through real lockqd processes over RESP (Q.* commands):
// durability of 100k persistent messages across kill -9, and deliveries to
// a consumer on a follower, redelivered after the leader dies.

#include <chrono>
#include <cstdio>
#include <thread>

#include "it_util.h"

namespace lockq::testing {
namespace {

using sm::Reply;

TEST(QueueRespIT, HundredThousandMessagesSurviveKill9InOrder) {
  ProcessCluster c(ClusterOptions{.nodes = 1});
  LQ_ASSERT_OK(c.Start());
  {
    LQ_CONNECT(conn, c, 0);
    auto d = conn.Call({"Q.DECLARE", "durable-q", "DURABLE"});
    ASSERT_TRUE(d.ok() && d->kind == Reply::Kind::kArray) << Describe(d);
    constexpr int kMessages = 100000, kChunk = 2000;
    for (int i = 0; i < kMessages; i += kChunk) {
      std::vector<sm::Argv> cmds;
      for (int j = i; j < i + kChunk; j++) cmds.push_back({"Q.PUBLISH", "", "durable-q", "m" + std::to_string(j)});
      auto r = conn.Pipeline(cmds);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      for (const Reply& rep : *r) ASSERT_EQ(Dbg(rep), "[1, 0]");  // routed to 1 queue, acknowledged
    }
  }
  c.Kill9(0);
  LQ_ASSERT_OK(c.Restart(0));
  LQ_CONNECT(conn, c, 0);
  int next = 0;
  while (next < 100000) {
    auto r = conn.Call({"Q.FETCH", "durable-q", "COUNT", "10000", "NOACK"});
    ASSERT_TRUE(r.ok() && r->kind == Reply::Kind::kArray) << Describe(r);
    ASSERT_FALSE(r->elems.empty()) << "only " << next << " messages after restart";
    for (const Reply& m : r->elems) {
      ASSERT_EQ(m.elems.at(7).str, "m" + std::to_string(next)) << "out of order";
      next++;
    }
  }
  std::printf("[queue] 100000 messages queued, kill -9, restart: all there, in order\n");
  auto rest = conn.Call({"Q.FETCH", "durable-q", "NOACK"});
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->elems.empty());
}

// Reads pushes until one "deliver" arrives; returns its message.
Reply NextDelivery(client::RespConnection& conn) {
  for (int i = 0; i < 10; i++) {
    auto r = conn.ReadReply();
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return Reply::Null();
    }
    if (r->kind == Reply::Kind::kPush && !r->elems.empty() && r->elems[0].str == "deliver") return r->elems.at(2);
  }
  ADD_FAILURE() << "no delivery";
  return Reply::Null();
}

TEST(QueueRespIT, FollowerConsumerGetsDeliveriesAndRedeliveryAfterLeaderDies) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  int follower = (leader + 1) % 3, other = (leader + 2) % 3;
  LQ_CONNECT(consumer, c, follower);
  ASSERT_TRUE(consumer.Call({"HELLO", "3"}).ok());
  ASSERT_TRUE(consumer.Call({"Q.DECLARE", "jobs", "DURABLE"}).ok());
  auto sub = consumer.Call({"Q.CONSUME", "jobs", "worker", "PREFETCH", "1"});
  ASSERT_TRUE(sub.ok() && sub->str == "OK") << Describe(sub);
  LQ_CONNECT(producer, c, other);
  for (int i = 0; i < 2; i++) {
    auto p = producer.Call({"Q.PUBLISH", "", "jobs", "job" + std::to_string(i)});
    ASSERT_TRUE(p.ok()) << Describe(p);
    ASSERT_EQ(Dbg(p.value()), "[1, 0]");
  }
  consumer.set_timeout(std::chrono::seconds(10));
  Reply first = NextDelivery(consumer);
  EXPECT_EQ(first.elems.at(7).str, "job0");
  EXPECT_EQ(first.elems.at(2).integer, 0);  // not redelivered
  // job0 is unacked (prefetch 1). The consumer goes away (its node
  // proposes Q.DISCONNECT: job0 returns), the leader is killed, and a new
  // consumer on another node gets job0 again, marked redelivered.
  consumer.Close();
  c.Kill9(leader);
  LQ_CONNECT(again, c, other);
  ASSERT_TRUE(again.Call({"HELLO", "3"}).ok());
  again.set_timeout(std::chrono::seconds(20));
  Result<Reply> sub2 = Status::IoError("not tried");
  for (int attempt = 0; attempt < 100; attempt++) {
    sub2 = again.Call({"Q.CONSUME", "jobs", "worker2", "PREFETCH", "10"});
    if (sub2.ok() && sub2->str == "OK") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(sub2.ok() && sub2->str == "OK") << Describe(sub2);
  Reply r1 = NextDelivery(again);
  Reply r2 = NextDelivery(again);
  // job1 may come first: job0 returns when the old connection's release
  // is applied, which can be after the new consumer subscribed.
  if (r1.elems.at(7).str == "job1") std::swap(r1, r2);
  EXPECT_EQ(r1.elems.at(7).str, "job0");
  EXPECT_EQ(r1.elems.at(2).integer, 1) << "job0 comes back marked redelivered";
  EXPECT_EQ(r2.elems.at(7).str, "job1");
  EXPECT_EQ(r2.elems.at(2).integer, 0);
  auto ack = again.Call({"Q.ACK", "jobs", std::to_string(r1.elems.at(1).integer), std::to_string(r2.elems.at(1).integer)});
  ASSERT_TRUE(ack.ok());
  // A push may come before the reply; accept either order.
  if (ack->kind == Reply::Kind::kInt) {
    EXPECT_EQ(ack->integer, 2);
  }
}

}  // namespace
}  // namespace lockq::testing
