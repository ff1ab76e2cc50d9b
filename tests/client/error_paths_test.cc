// liblockq's error paths that need a cluster in trouble: no node at all,
// no majority, and a consumer's connection lost under it.

#include <csignal>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

TEST(ErrorPathsIT, LockingWithNoReachableNodeThrowsUnavailable) {
  ClientOptions o = FastOptions();
  o.retry_for = 300ms;
  Client client({ClosedEndpoint()}, o);
  auto session = Session::Default(client);
  EXPECT_EQ(session.status().code(), StatusCode::kUnavailable) << session.status().ToString();
  Mutex m(client, "nowhere");
  try {
    m.lock();
    ADD_FAILURE() << "lock() returned without a cluster";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kUnavailable) << e.what();
  }
  EXPECT_THROW((void)m.try_lock(), Error);
  Election e(client, "nowhere");
  EXPECT_EQ(e.Campaign("x", 0ms).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(e.Leader().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(e.Observe([](const std::optional<LeaderInfo>&) {}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(DeclareQueue(client, "q").code(), StatusCode::kUnavailable);
  Consumer con(client, "q");
  EXPECT_EQ(con.Start().code(), StatusCode::kUnavailable);
  Publisher pub(client);
  auto r = pub.Publish("q", "x").get();  // gives up after retry_for
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(ErrorPathsIT, DefaultSessionIsSharedAndReopenedAfterItEnds) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  auto s1 = Session::Default(client);
  auto s2 = Session::Default(client);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ((*s1)->id(), (*s2)->id());
  LQ_ASSERT_OK((*s1)->Close());
  auto s3 = Session::Default(client);
  ASSERT_TRUE(s3.ok());
  EXPECT_NE((*s3)->id(), (*s1)->id());
  EXPECT_TRUE((*s3)->alive());
}

TEST(ErrorPathsIT, WithoutAMajorityPublishesStayUnconfirmedAndFlushTimesOut) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  LQ_ASSERT_OK(DeclareQueue(client, "stuck"));
  int leader = c.Leader();
  c.Kill9((leader + 1) % 3);
  c.Kill9((leader + 2) % 3);
  Publisher pub(client);
  auto f = pub.Publish("stuck", "x");
  Status s = pub.Flush(300ms);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_EQ(pub.outstanding(), 1u);
  // The majority comes back: the message is confirmed after all.
  LQ_ASSERT_OK(c.Restart((leader + 1) % 3, false));
  auto r = f.get();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(ErrorPathsIT, AckOfADeliveryFromALostConnectionIsUnavailableAndItComesBack) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  int follower = (leader + 1) % 3;
  Client client({c.RespAddr(follower), c.RespAddr((leader + 2) % 3), c.RespAddr(leader)}, FastOptions());
  LQ_ASSERT_OK(DeclareQueue(client, "work"));
  Publisher pub(client);
  ASSERT_TRUE(pub.Publish("work", "only").get().ok());
  Consumer con(client, "work");
  auto first = con.Next(10s);
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status().ToString();
  c.Kill9(follower);  // the consumer's node
  // The cluster returns a dead node's unacked messages when it restarts
  // (LOCKQ.INCARNATION), or after --node-down-ms (NodeDownIT below).
  LQ_ASSERT_OK(c.Restart(follower));
  auto again = con.Next(20s);
  ASSERT_TRUE(again.ok() && again->has_value()) << again.status().ToString();
  EXPECT_EQ((*again)->body, "only");
  EXPECT_TRUE((*again)->redelivered);
  EXPECT_EQ(con.Ack(**first).code(), StatusCode::kUnavailable);
  LQ_ASSERT_OK(con.Ack(**again));
}

}  // namespace
}  // namespace lockq::testing

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

// --node-down-ms: the leader declares a silent voter down and releases its
// clients' deliveries, without waiting for the node to restart.
TEST(NodeDownIT, ADeadConsumersMessagesAreRedeliveredWithoutItsNodeRestarting) {
  ProcessCluster c(ClusterOptions{.nodes = 3, .extra_args = {"--node-down-ms", "1500"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  int follower = (leader + 1) % 3;
  Client on_follower({c.RespAddr(follower), c.RespAddr(leader)}, FastOptions());
  Client elsewhere({c.RespAddr(leader)}, FastOptions());
  LQ_ASSERT_OK(DeclareQueue(elsewhere, "jobs"));
  Publisher pub(elsewhere);
  ASSERT_TRUE(pub.Publish("jobs", "job-1").get().ok());
  Consumer doomed(on_follower, "jobs");
  auto got = doomed.Next(10s);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  Consumer survivor(elsewhere, "jobs");
  LQ_ASSERT_OK(survivor.Start());
  c.Kill9(follower);  // not restarted
  auto again = survivor.Next(30s);
  ASSERT_TRUE(again.ok() && again->has_value()) << "not redelivered: " << again.status().ToString();
  EXPECT_EQ((*again)->body, "job-1");
  EXPECT_TRUE((*again)->redelivered);
  LQ_ASSERT_OK(survivor.Ack(**again));
}

TEST(NodeDownIT, ANodeDeclaredDownWhileStoppedClosesItsClientsAndTheyCarryOn) {
  ProcessCluster c(ClusterOptions{.nodes = 3, .extra_args = {"--node-down-ms", "1500"}});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  int follower = (leader + 1) % 3;
  Client on_follower({c.RespAddr(follower)}, FastOptions());
  Client elsewhere({c.RespAddr(leader)}, FastOptions());
  LQ_ASSERT_OK(DeclareQueue(elsewhere, "jobs"));
  Consumer con(on_follower, "jobs");
  LQ_ASSERT_OK(con.Start());
  pid_t pid = c.node(follower).pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  std::this_thread::sleep_for(4s);  // past --node-down-ms: declared down
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  // Its clients' state is gone in the cluster; the node closes their
  // connections when it learns so, and the consumer consumes again.
  Publisher pub(elsewhere);
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(pub.Publish("jobs", "after-" + std::to_string(i)).get().ok());
    auto m = con.Next(1s);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    if (m->has_value()) {
      EXPECT_EQ((*m)->body.rfind("after-", 0), 0u);
      return;
    }
  }
  ADD_FAILURE() << "the consumer on the node declared down never got a message again";
}

}  // namespace
}  // namespace lockq::testing
