// LeaderDuties on a fake Proposer and a ManualClock: node-down declarations
// measure silence on the monotonic clock, so wall-clock steps declare nobody
// down; the announce after winning an election.

#include "dispatch/leader_duties.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "dispatch/dispatcher.h"
#include "sm/acl_store.h"
#include "unit/dispatch/fakes.h"

namespace lockq::dispatch {
namespace {

using testing::FakeForwarding;
using testing::FakeProposer;

class LeaderDutiesTest : public ::testing::Test {
 protected:
  LeaderDutiesTest()
      : d_(proposer_, &forwarding_, clock_, DispatcherOptions{7, 3000, 8 << 20, 1 << 16}),
        duties_(d_, LeaderDutiesOptions{"10.0.0.1:6379", kNodeDownMs}) {
    proposer_.contacts = {{2, false}, {3, true}};
  }

  // One 50 ms timer tick as lockqd runs it, then the end of the loop turn.
  void Tick() {
    d_.Tick();
    duties_.Tick();
    d_.EndOfTurn();
  }
  // Node ids declared down (LOCKQ.INCARNATION id 0) in everything proposed.
  std::vector<std::string> Declared() const {
    std::vector<std::string> ids;
    for (const auto& e : proposer_.log) {
      for (const sm::Argv& argv : e.batch.commands) {
        if (argv[0] == "LOCKQ.INCARNATION" && argv[2] == "0") ids.push_back(argv[1]);
      }
    }
    return ids;
  }

  static constexpr uint64_t kNodeDownMs = 10000;
  ManualClock clock_;
  FakeProposer proposer_;
  FakeForwarding forwarding_;
  Dispatcher d_;
  LeaderDuties duties_;
};

TEST_F(LeaderDutiesTest, WallClockStepBackDeclaresNoNodeDown) {
  Tick();  // first sample: every voter gets a full grace period
  clock_.Advance(kNodeDownMs / 2);
  clock_.SetWall(clock_.WallMs() - 3'600'000);  // NTP steps the wall clock back an hour
  Tick();
  clock_.Advance(kNodeDownMs / 2 - 1);
  Tick();
  EXPECT_TRUE(Declared().empty()) << "declared down after < node_down_ms of monotonic time";
  clock_.Advance(1);
  Tick();
  EXPECT_EQ(Declared(), std::vector<std::string>{"2"}) << "node 2 was silent for node_down_ms";
  clock_.Advance(kNodeDownMs);
  Tick();
  EXPECT_EQ(Declared().size(), 1u) << "declared twice";
}

TEST_F(LeaderDutiesTest, WallClockStepForwardDeclaresNoNodeDown) {
  Tick();
  clock_.Advance(LeaderDuties::kTickMs);
  clock_.SetWall(clock_.WallMs() + 3'600'000);
  Tick();
  EXPECT_TRUE(Declared().empty());
}

TEST_F(LeaderDutiesTest, AnsweringVoterIsNeverDeclared) {
  Tick();
  for (int i = 0; i < 5; i++) {
    clock_.Advance(kNodeDownMs);
    proposer_.contacts = {{2, true}, {3, true}};
    Tick();
  }
  EXPECT_TRUE(Declared().empty());
}

TEST_F(LeaderDutiesTest, NewLeaderAnnouncesItsAddressUntilItSucceeds) {
  d_.OnRoleChange(true, 1);
  EXPECT_TRUE(duties_.announced());
  d_.EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 1u);
  EXPECT_EQ(proposer_.log[0].batch.commands[0], (sm::Argv{"LOCKQ.ANNOUNCE", "1", "10.0.0.1:6379"}));
  proposer_.Fail(0);
  EXPECT_FALSE(duties_.announced()) << "a failed announce must be retried";
  d_.OnRoleChange(false, 2);
  EXPECT_FALSE(duties_.announced());
}

TEST_F(LeaderDutiesTest, IncarnationIsAnnouncedOnceAKnownLeaderExists) {
  proposer_.leader = false;
  duties_.Tick();
  EXPECT_EQ(d_.waiting(), 0u) << "no leader: nothing submitted";
  proposer_.leader = true;
  Tick();
  Tick();
  int incarnations = 0;
  for (const auto& e : proposer_.log) {
    for (const sm::Argv& argv : e.batch.commands) incarnations += argv == sm::Argv{"LOCKQ.INCARNATION", "1", "7"};
  }
  EXPECT_EQ(incarnations, 1);
}

// --aclfile/--requirepass (issue 12): the leader proposes its lines once
// announced, and not again once the store's digest matches them.
TEST(LeaderDutiesAclTest, BootstrapsUsersOncePerDigest) {
  ManualClock clock;
  FakeProposer proposer;
  FakeForwarding forwarding;
  Dispatcher d(proposer, &forwarding, clock, DispatcherOptions{7, 3000, 8 << 20, 1 << 16});
  std::vector<std::string> lines = {"default resetpass #" + std::string(64, 'a')};
  LeaderDuties duties(d, LeaderDutiesOptions{"10.0.0.1:6379", 10000, lines});
  auto boots = [&] {
    int n = 0;
    for (const auto& e : proposer.log) {
      for (const sm::Argv& argv : e.batch.commands) n += argv[0] == "LOCKQ.ACLBOOT";
    }
    return n;
  };
  duties.Tick();
  EXPECT_EQ(boots(), 0) << "not announced yet";
  d.OnRoleChange(true, 1);
  for (int i = 0; i < 3; i++) {
    duties.Tick();
    d.EndOfTurn();
  }
  EXPECT_EQ(boots(), 1) << "one proposal in flight at a time";
  for (size_t i = 0; i < proposer.log.size(); i++) proposer.Commit(d, i);
  EXPECT_EQ(d.state().acl().boot_digest(), sm::AclBootDigest(lines));
  EXPECT_FALSE(d.state().acl().Find("default")->nopass);
  duties.Tick();
  d.EndOfTurn();
  EXPECT_EQ(boots(), 1) << "the store already holds these lines";
}

}  // namespace
}  // namespace lockq::dispatch
