// A replica partitioned away while the leader compacts its log past the
// replica's position can only catch up through InstallSnapshot (Raft thesis
// 5.3); it must end with exactly the leader's state.

#include <gtest/gtest.h>

#include <string>

#include "kv_model.h"
#include "testlib/sim_cluster.h"

namespace lockq::testing {
namespace {

void PartitionedReplicaCatchesUp(SimOptions o) {
  o.servers = 3;
  o.seed = 42;
  SimCluster c(o);
  KvModel model;
  c.set_reference_observer([&](uint64_t index, const sm::Batch& b,
                               const std::vector<sm::Reply>& replies, const sm::StateMachine& ref) {
    std::string err = model.Apply(index, b, replies, ref);
    if (!err.empty()) c.Fail("model: " + err);
  });
  ASSERT_TRUE(c.StepUntil([&] { return c.StableLeader() >= 0; }, 10000));
  unsigned leader = static_cast<unsigned>(c.StableLeader());
  unsigned lagging = (leader + 1) % 3;
  unsigned other = (leader + 2) % 3;
  c.Disconnect(lagging, leader);
  c.Disconnect(lagging, other);
  uint64_t lagging_applied = c.last_applied(lagging);

  constexpr int kBatches = 150;
  for (int k = 0; k < kBatches; k++) {
    const SimProposal* p = c.Propose(
        leader, {{"INCR", "ctr"}, {"SET", "k" + std::to_string(k % 10), "v" + std::to_string(k)}});
    ASSERT_NE(p, nullptr) << "leader " << leader << " refused proposal " << k;
    ASSERT_TRUE(c.StepUntil([&] { return p->done; }, 5000)) << c.failure();
    ASSERT_EQ(p->status, 0) << "proposal " << k;
  }
  // The entries the lagging replica needs next are gone from the leader.
  ASSERT_GT(c.snapshot_index(leader), lagging_applied + 1);
  ASSERT_EQ(c.last_applied(lagging), lagging_applied);
  EXPECT_EQ(c.adapter(lagging).snapshots_restored(), 0u);

  uint64_t applied = c.ConvergeAndCheck();
  ASSERT_FALSE(c.failed()) << c.failure() << "\n" << c.RecentTrace();
  EXPECT_GE(applied, static_cast<uint64_t>(kBatches));
  EXPECT_GT(c.adapter(lagging).snapshots_restored(), 0u);
  EXPECT_GT(c.adapter(leader).snapshots_taken(), 0u);
  // With the async io (lockqd's), the install was decoded by the io's
  // worker and only swapped in on the raft thread (fsm_adapter.h).
  uint64_t ahead = c.adapter(lagging).restores_decoded_ahead();
  EXPECT_EQ(ahead, o.policy.async ? c.adapter(lagging).snapshots_restored() : 0u);
  EXPECT_EQ(c.fsm(lagging).decodes(), ahead);
  std::string want = c.fsm(c.StableLeader()).sm().Snapshot();
  for (unsigned i = 0; i < 3; i++) EXPECT_EQ(c.fsm(i).sm().Snapshot(), want) << "server " << i;
  EXPECT_EQ(model.Read("ctr"), std::to_string(kBatches));
}

TEST(SimInstallSnapshot, PartitionedReplicaCatchesUpFromSnapshot) { PartitionedReplicaCatchesUp(SimOptions{}); }

// lockqd's way (issue 13): the snapshot is frozen by fork() on the raft
// thread and serialized in libraft's async_work (fsm version 3), and the
// follower decodes what it installs in async_work too; what the replicas
// install and restore must be the same state.
TEST(SimInstallSnapshot, ForkedAsyncSnapshotsCatchUpTheSame) {
  SimOptions o;
  o.policy.async = true;
  o.fork_snapshots = true;
  PartitionedReplicaCatchesUp(o);
}

}  // namespace
}  // namespace lockq::testing
