// leader_view.h on hand-built libraft 0.15 structs: which voter a
// leadership transfer goes to, and when a follower's vote stops being held
// back for a silent leader.

#include "consensus/leader_view.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace lockq::consensus {
namespace {

raft_time g_now = 0;

struct Cluster {
  struct raft_io io {};
  struct raft r {};
  std::vector<struct raft_server> servers;
  std::vector<struct raft_progress> progress;

  // Node 1 (this one) plus `others`, all voters unless `roles` says.
  explicit Cluster(std::vector<int> roles) {
    servers.push_back({1, nullptr, RAFT_VOTER});
    for (size_t i = 0; i < roles.size(); i++) servers.push_back({i + 2, nullptr, roles[i]});
    progress.resize(servers.size());
    r.id = 1;
    r.configuration.servers = servers.data();
    r.configuration.n = static_cast<unsigned>(servers.size());
    io.time = [](struct raft_io*) { return g_now; };
    r.io = &io;
    r.election_timeout = 300;
  }
  void Lead() {
    r.state = RAFT_LEADER;
    r.leader_state.progress = progress.data();
  }
  void Progress(raft_id id, raft_index match, bool recent) {
    progress[id - 1].match_index = match;
    progress[id - 1].recent_recv = recent;
  }
  void Follow(raft_id leader, raft_time last_heard) {
    r.state = RAFT_FOLLOWER;
    r.follower_state.current_leader.id = leader;
    r.follower_state.current_leader.address = static_cast<char*>(raft_malloc(16));
    std::strcpy(r.follower_state.current_leader.address, "10.0.0.1:7001");
    r.election_timer_start = last_heard;
  }
};

TEST(TransfereeOf, PicksTheMostUpToDateVoterThatAnswers) {
  Cluster c({RAFT_VOTER, RAFT_VOTER, RAFT_VOTER, RAFT_STANDBY});
  c.Lead();
  c.Progress(2, 90, true);
  c.Progress(3, 120, false);  // ahead, but silent this window: maybe dead
  c.Progress(4, 100, true);
  c.Progress(5, 200, true);  // a standby cannot lead
  EXPECT_EQ(TransfereeOf(&c.r), 4u);
}

TEST(TransfereeOf, FallsBackToSilentVotersAndNeedsOne) {
  Cluster c({RAFT_VOTER, RAFT_VOTER});
  c.Lead();
  c.Progress(2, 10, false);
  c.Progress(3, 30, false);
  EXPECT_EQ(TransfereeOf(&c.r), 3u);

  Cluster alone({RAFT_SPARE});
  alone.Lead();
  EXPECT_EQ(TransfereeOf(&alone.r), 0u);
}

TEST(TransfereeOf, OnlyOnALeader) {
  Cluster c({RAFT_VOTER});
  c.r.state = RAFT_FOLLOWER;
  EXPECT_EQ(TransfereeOf(&c.r), 0u);
}

struct raft_message Vote(bool pre_vote) {
  struct raft_message m {};
  m.type = RAFT_IO_REQUEST_VOTE;
  m.request_vote.pre_vote = pre_vote;
  return m;
}

TEST(WaiveSilentLeader, KeepsStickinessWithinOneElectionTimeout) {
  Cluster c({RAFT_VOTER, RAFT_VOTER});
  c.Follow(2, 1000);
  g_now = 1000 + 299;
  struct raft_message m = Vote(true);
  WaiveSilentLeader(&c.r, &m);
  EXPECT_FALSE(m.request_vote.disrupt_leader);  // a live leader is not disrupted (§4.2.3)
  raft_free(c.r.follower_state.current_leader.address);
}

TEST(WaiveSilentLeader, LetsVotesThroughAfterOneElectionTimeoutOfSilence) {
  Cluster c({RAFT_VOTER, RAFT_VOTER});
  c.Follow(2, 1000);
  g_now = 1000 + 300;
  for (bool pre : {true, false}) {
    struct raft_message m = Vote(pre);
    WaiveSilentLeader(&c.r, &m);
    EXPECT_TRUE(m.request_vote.disrupt_leader);
  }
  EXPECT_EQ(c.r.follower_state.current_leader.id, 2u);  // the follower's own state is left alone
  struct raft_message append {};
  append.type = RAFT_IO_APPEND_ENTRIES;
  WaiveSilentLeader(&c.r, &append);
  EXPECT_EQ(append.append_entries.term, 0u);
  raft_free(c.r.follower_state.current_leader.address);
}

TEST(WaiveSilentLeader, NeverOnALeader) {
  Cluster c({RAFT_VOTER, RAFT_VOTER});
  c.Lead();
  g_now = 1000000;
  struct raft_message m = Vote(true);
  WaiveSilentLeader(&c.r, &m);
  EXPECT_FALSE(m.request_vote.disrupt_leader);
}

}  // namespace
}  // namespace lockq::consensus
