// Issue 6 must-demonstrate: a Publisher/Consumer round trip of 100k
// messages with confirms and acks across a leader failover on 3 nodes, with
// no confirmed message missing. Duplicates are allowed (at-least-once) and
// counted.

#include <mutex>
#include <set>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 100000;

TEST(QueueFailoverIT, HundredThousandConfirmedMessagesSurviveALeaderKill) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  Client pub_client(Endpoints(c), FastOptions()), con_client(Endpoints(c), FastOptions());
  LQ_ASSERT_OK(DeclareQueue(pub_client, "bulk"));

  std::mutex mu;
  std::set<int> confirmed, consumed;
  int failed = 0;
  long duplicates = 0, redelivered = 0;
  Consumer consumer(con_client, "bulk", ConsumerOptions{.prefetch = 500});
  LQ_ASSERT_OK(consumer.Start());
  std::thread consuming([&] {
    Status s = consumer.Run([&](Message& m) {
      std::lock_guard g(mu);
      if (!consumed.insert(std::stoi(m.body)).second) duplicates++;
      if (m.redelivered) redelivered++;
      if (static_cast<int>(consumed.size()) == kMessages) consumer.Stop();
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  });

  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  {
    Publisher pub(pub_client, PublisherOptions{.max_outstanding = 1000});
    for (int i = 0; i < kMessages; i++) {
      if (i == kMessages / 3) {
        c.Kill9(leader);
        std::fprintf(stderr, "killed leader node %d after %d publishes\n", leader, i);
      }
      pub.Publish("bulk", std::to_string(i), {}, [&, i](Result<Confirm> r) {
        std::lock_guard g(mu);
        if (r.ok() && r->queues == 1) {
          confirmed.insert(i);
        } else {
          failed++;
        }
      });
    }
    LQ_ASSERT_OK(pub.Flush(120s));
  }
  LQ_ASSERT_OK(c.Restart(leader));
  // Wait (bounded) until the consumer has everything that was confirmed.
  for (int i = 0; i < 1200; i++) {
    {
      std::lock_guard g(mu);
      if (std::includes(consumed.begin(), consumed.end(), confirmed.begin(), confirmed.end())) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  consumer.Stop();
  consuming.join();
  std::lock_guard g(mu);
  std::vector<int> missing;
  std::set_difference(confirmed.begin(), confirmed.end(), consumed.begin(), consumed.end(),
                      std::back_inserter(missing));
  std::fprintf(stderr, "confirmed %zu, failed %d, consumed %zu distinct, %ld duplicates, %ld redelivered, missing %zu\n",
               confirmed.size(), failed, consumed.size(), duplicates, redelivered, missing.size());
  EXPECT_TRUE(missing.empty()) << "first missing: " << missing.front();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(static_cast<int>(confirmed.size()), kMessages);
}

}  // namespace
}  // namespace lockq::testing
