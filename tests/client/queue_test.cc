// lockq::Publisher and lockq::Consumer against real lockqd processes.

#include <set>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

class QueueIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start().ok());
    client_ = std::make_unique<Client>(Endpoints(cluster_), FastOptions());
  }
  ProcessCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(QueueIT, PublishConfirmsThenConsumeAndAck) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "jobs"));
  Publisher pub(*client_);
  std::vector<std::future<Result<Confirm>>> confirms;
  for (int i = 0; i < 100; i++) confirms.push_back(pub.Publish("jobs", "job-" + std::to_string(i)));
  for (auto& f : confirms) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->queues, 1);
  }
  LQ_ASSERT_OK(pub.Flush(5s));
  EXPECT_EQ(pub.outstanding(), 0u);
  Consumer con(*client_, "jobs", ConsumerOptions{.prefetch = 10});
  EXPECT_EQ(con.queue(), "jobs");
  LQ_ASSERT_OK(con.Start());
  for (int i = 0; i < 100; i++) {
    auto m = con.Next(10s);
    ASSERT_TRUE(m.ok() && m->has_value()) << "message " << i << ": " << m.status().ToString();
    EXPECT_EQ((*m)->body, "job-" + std::to_string(i));  // one consumer: in order
    EXPECT_EQ((*m)->queue, "jobs");
    EXPECT_EQ((*m)->routing_key, "jobs");
    EXPECT_FALSE((*m)->redelivered);
    LQ_ASSERT_OK(con.Ack(**m));
  }
  auto none = con.Next(200ms);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(QueueIT, NackRequeueRedeliversAndNackWithoutRequeueDeadLetters) {
  ASSERT_TRUE(client_->Call({"Q.DECLARE", "dead", "DURABLE"}).ok());
  LQ_ASSERT_OK(DeclareQueue(*client_, "work", {{"x-dead-letter-exchange", ""}, {"x-dead-letter-routing-key", "dead"}}));
  Publisher pub(*client_);
  ASSERT_TRUE(pub.Publish("work", "m1").get().ok());
  Consumer con(*client_, "work");
  auto m = con.Next(10s);
  ASSERT_TRUE(m.ok() && m->has_value());
  LQ_ASSERT_OK(con.Nack(**m, true));
  auto again = con.Next(10s);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->body, "m1");
  EXPECT_TRUE((*again)->redelivered);
  EXPECT_GE((*again)->delivery_count, 1u);
  LQ_ASSERT_OK(con.Nack(**again, false));
  Consumer dl(*client_, "dead");
  auto dead = dl.Next(10s);
  ASSERT_TRUE(dead.ok() && dead->has_value()) << dead.status().ToString();
  EXPECT_EQ((*dead)->body, "m1");
  LQ_ASSERT_OK(dl.Ack(**dead));
}

TEST_F(QueueIT, RunAcksWhatTheHandlerAcceptsAndStops) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "run"));
  Publisher pub(*client_);
  for (int i = 0; i < 20; i++) pub.Publish("run", std::to_string(i), {}, [](Result<Confirm>) {});
  LQ_ASSERT_OK(pub.Flush());
  Consumer con(*client_, "run", ConsumerOptions{.prefetch = 5, .tag = "runner"});
  std::set<std::string> got;
  int rejected_once = 0;
  Status s = con.Run([&](Message& m) {
    if (m.body == "7" && rejected_once++ == 0) return false;  // nack + requeue: comes back
    got.insert(m.body);
    if (got.size() == 20) con.Stop();
    return true;
  });
  LQ_ASSERT_OK(s);
  EXPECT_EQ(got.size(), 20u);
  EXPECT_EQ(rejected_once, 2);
  auto info = client_->Call({"Q.INFO", "run"});
  ASSERT_TRUE(info.ok());
}

TEST_F(QueueIT, AutoAckConsumerCannotAck) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "auto"));
  Publisher pub(*client_);
  ASSERT_TRUE(pub.Publish("auto", "x").get().ok());
  Consumer con(*client_, "auto", ConsumerOptions{.auto_ack = true});
  auto m = con.Next(10s);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ(con.Ack(**m).code(), StatusCode::kFailedPrecondition);
}

TEST_F(QueueIT, PublishOptionsAndRefusals) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "small", {{"x-max-length", "1"}, {"x-overflow", "reject-publish"}}));
  Publisher pub(*client_);
  auto first = pub.Publish("small", "a", MessageOptions{.headers = {{"h", "v"}}, .priority = 1, .expiration = 60s});
  ASSERT_TRUE(first.get().ok());
  auto second = pub.Publish("small", "b").get();
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted) << second.status().ToString();
  // Unroutable: confirmed, routed to no queue.
  auto nowhere = pub.Publish("no-such-queue", "c").get();
  ASSERT_TRUE(nowhere.ok());
  EXPECT_EQ(nowhere->queues, 0);
  // A fenced publish with a stale token is refused.
  Mutex m(*client_, "pub-lock");
  m.lock();
  uint64_t old = m.fencing_token();
  m.unlock();
  m.lock();
  LQ_ASSERT_OK(DeclareQueue(*client_, "fenced"));
  auto ok = pub.Publish("fenced", "new", MessageOptions{.fence = std::make_pair("pub-lock", m.fencing_token())}).get();
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  auto stale = pub.Publish("fenced", "old", MessageOptions{.fence = std::make_pair("pub-lock", old)}).get();
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition) << stale.status().ToString();
  Consumer con(*client_, "small");
  auto got = con.Next(10s);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->body, "a");
}

TEST_F(QueueIT, DeletingTheQueueEndsTheConsumerWithNotFound) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "gone"));
  Consumer con(*client_, "gone");
  LQ_ASSERT_OK(con.Start());
  ASSERT_TRUE(client_->Call({"Q.DELETE", "gone"}).ok());
  auto r = con.Next(10s);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  Consumer missing(*client_, "never-declared");
  EXPECT_EQ(missing.Start().code(), StatusCode::kNotFound);
}

TEST_F(QueueIT, BackPressureBoundsOutstandingPublishes) {
  LQ_ASSERT_OK(DeclareQueue(*client_, "bp"));
  Publisher pub(*client_, PublisherOptions{.max_outstanding = 4});
  std::atomic<size_t> max_seen{0};
  for (int i = 0; i < 200; i++) {
    pub.Publish("bp", "x", {}, [](Result<Confirm>) {});
    max_seen = std::max(max_seen.load(), pub.outstanding());
  }
  LQ_ASSERT_OK(pub.Flush());
  EXPECT_LE(max_seen.load(), 4u);
  auto info = client_->Call({"Q.DECLARE", "bp", "DURABLE", "PASSIVE"});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->elems[1].integer, 200);
}

}  // namespace
}  // namespace lockq::testing
