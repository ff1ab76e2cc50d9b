// lockq::Election against a real lockqd: campaign, leader, observe, resign,
// and a candidate queued behind the leader taking over.

#include <condition_variable>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

TEST(ElectionIT, CampaignLeadObserveResign) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client a(Endpoints(c), FastOptions()), b(Endpoints(c), FastOptions());
  Election ea(a, "scheduler"), eb(b, "scheduler");
  auto none = ea.Leader();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;  // values observed, "" = no leader
  auto observer = eb.Observe([&](const std::optional<LeaderInfo>& l) {
    std::lock_guard g(mu);
    seen.push_back(l ? l->value : "");
    cv.notify_all();
  });
  ASSERT_TRUE(observer.ok()) << observer.status().ToString();
  auto wait_seen = [&](const std::string& v) {
    std::unique_lock g(mu);
    return cv.wait_for(g, 10s, [&] { return !seen.empty() && seen.back() == v; });
  };
  EXPECT_TRUE(wait_seen(""));

  auto won = ea.Campaign("node-a");
  ASSERT_TRUE(won.ok() && *won) << won.status().ToString();
  EXPECT_TRUE(ea.is_leader());
  EXPECT_GT(ea.token(), 0u);
  EXPECT_EQ(ea.name(), "elect:scheduler");
  auto leader = eb.Leader();
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->value, "node-a");
  EXPECT_EQ((*leader)->token, ea.token());
  EXPECT_TRUE(wait_seen("node-a"));

  // b waits its turn; a timed campaign gives up while a leads.
  auto timed = eb.Campaign("node-b", 200ms);
  ASSERT_TRUE(timed.ok()) << timed.status().ToString();
  EXPECT_FALSE(*timed);
  std::thread candidate([&] {
    auto r = eb.Campaign("node-b");
    EXPECT_TRUE(r.ok() && *r) << r.status().ToString();
  });
  std::this_thread::sleep_for(200ms);
  LQ_ASSERT_OK(ea.Resign());
  EXPECT_FALSE(ea.is_leader());
  candidate.join();
  EXPECT_TRUE(eb.is_leader());
  EXPECT_GT(eb.token(), 0u);
  EXPECT_TRUE(wait_seen("node-b"));
  LQ_ASSERT_OK(eb.Resign());
  EXPECT_TRUE(wait_seen(""));
  observer->reset();  // stops observing
}

TEST(ElectionIT, ObserverReconnectsAfterItsNodeDies) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  int leader = c.Leader();
  int follower = (leader + 1) % 3;
  // The observer's client lists the follower first, so it watches there.
  Client watcher({c.RespAddr(follower), c.RespAddr((leader + 2) % 3), c.RespAddr(leader)}, FastOptions());
  Client lead(Endpoints(c), FastOptions());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  Election obs(watcher, "svc"), cand(lead, "svc");
  auto observer = obs.Observe([&](const std::optional<LeaderInfo>& l) {
    std::lock_guard g(mu);
    seen.push_back(l ? l->value : "");
    cv.notify_all();
  });
  ASSERT_TRUE(observer.ok()) << observer.status().ToString();
  c.Kill9(follower);
  auto r = cand.Campaign("after-kill");
  ASSERT_TRUE(r.ok() && *r) << r.status().ToString();
  std::unique_lock g(mu);
  EXPECT_TRUE(cv.wait_for(g, 20s, [&] { return !seen.empty() && seen.back() == "after-kill"; }))
      << "observed: " << seen.size() << " events";
}

}  // namespace
}  // namespace lockq::testing
