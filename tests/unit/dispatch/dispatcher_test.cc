// Dispatcher with a fake Proposer and a ManualClock: group commit per turn,
// the in-flight cap, leadership loss mid-batch, bounds on waiting, the
// forwarded-command deadline (issue 11 item 7) and one reply per request.

#include "dispatch/dispatcher.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "dispatch/errors.h"
#include "sm/command.h"
#include "unit/dispatch/fakes.h"

namespace lockq::dispatch {
namespace {

using testing::FakeForwarding;
using testing::FakeProposer;

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() { Rebuild(DispatcherOptions{}); }

  void Rebuild(DispatcherOptions options) {
    options.nonce = 42;
    d_ = std::make_unique<Dispatcher>(proposer_, &forwarding_, clock_, options);
    forwarding_.dispatcher = d_.get();
  }

  // Submits `SET key value`; the reply lands in replies_[key] (all of them,
  // to check "exactly once").
  void Set(const std::string& key, bool may_forward = true) {
    d_->Submit({"SET", key, "v"}, [this, key](sm::Reply r) { replies_[key].push_back(r); }, may_forward);
  }
  const sm::Reply& Only(const std::string& key) {
    EXPECT_EQ(replies_[key].size(), 1u) << key;
    return replies_[key].front();
  }
  // The cluster announced node `id`'s client address (followers forward there).
  void Announce(uint64_t id, const std::string& addr) {
    sm::Batch b;
    b.origin = {9, 9, ++foreign_seq_};
    b.leader_time_ms = clock_.WallMs();
    b.commands = {{"LOCKQ.ANNOUNCE", std::to_string(id), addr}};
    d_->Apply(++proposer_.last_index, sm::EncodeBatch(b));
  }

  ManualClock clock_;
  FakeProposer proposer_;
  FakeForwarding forwarding_;
  std::unique_ptr<Dispatcher> d_;
  std::map<std::string, std::vector<sm::Reply>> replies_;
  uint64_t foreign_seq_ = 0;
};

TEST_F(DispatcherTest, OneTurnIsOneEntry) {
  Set("a");
  Set("b");
  Set("c");
  EXPECT_TRUE(proposer_.log.empty()) << "proposed before the turn ended";
  d_->EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 1u);
  const sm::Batch& b = proposer_.log[0].batch;
  EXPECT_EQ(b.commands.size(), 3u);
  EXPECT_EQ(b.origin.node_id, 1u);
  EXPECT_EQ(b.origin.nonce, 42u);
  EXPECT_EQ(b.leader_time_ms, clock_.WallMs());
  EXPECT_EQ(forwarding_.flushes, 1);
  EXPECT_TRUE(replies_.empty());
  proposer_.Commit(*d_, 0);
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(Only(k).str, "OK") << k;
  EXPECT_EQ(d_->batches_proposed(), 1u);
  EXPECT_EQ(d_->commands_proposed(), 3u);
  EXPECT_EQ(d_->in_flight(), 0u);
}

TEST_F(DispatcherTest, FifthBatchWaitsForTheInFlightCapAndGrows) {
  for (int i = 0; i < 4; i++) {
    Set("k" + std::to_string(i));
    d_->EndOfTurn();
  }
  ASSERT_EQ(proposer_.log.size(), Dispatcher::kMaxInFlightBatches);
  Set("x");
  d_->EndOfTurn();
  Set("y");
  d_->EndOfTurn();
  EXPECT_EQ(proposer_.log.size(), 4u) << "a fifth entry while four are in flight";
  EXPECT_EQ(d_->batched(), 2u);
  proposer_.Commit(*d_, 0);
  EXPECT_EQ(Only("k0").str, "OK");
  d_->EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 5u);
  EXPECT_EQ(proposer_.log[4].batch.commands.size(), 2u) << "the held batch did not grow";
  for (size_t i = 1; i < 5; i++) proposer_.Commit(*d_, i);
  for (const char* k : {"k1", "k2", "k3", "x", "y"}) EXPECT_EQ(Only(k).str, "OK") << k;
}

TEST_F(DispatcherTest, ABatchOverMaxBatchBytesIsProposedAtOnce) {
  DispatcherOptions o;
  o.max_batch_bytes = 2 * sm::EncodedArgvBytes({"SET", "a", "v"}) + 1;
  Rebuild(o);
  d_->Submit({"SET", "big", std::string(200, 'x')}, [this](sm::Reply r) { replies_["big"].push_back(r); });
  EXPECT_EQ(Only("big").str, kErrBatchTooBig);
  Set("a");
  Set("b");
  Set("c");  // crosses max_batch_bytes: the first two go out without waiting for the turn
  ASSERT_EQ(proposer_.log.size(), 1u);
  EXPECT_EQ(proposer_.log[0].batch.commands.size(), 2u);
}

TEST_F(DispatcherTest, LeadershipLostInFlightAnswersOutcomeUnknown) {
  Set("a");
  d_->EndOfTurn();
  proposer_.leader = false;
  proposer_.Fail(0);
  EXPECT_EQ(Only("a").str, kErrLeadershipLost);
  // The entry may still commit (a new leader kept it): nobody is answered twice.
  d_->Apply(proposer_.log[0].index, proposer_.log[0].bytes);
  EXPECT_EQ(replies_["a"].size(), 1u);
}

TEST_F(DispatcherTest, LeadershipLostMidBatchReroutesLocalAndRefusesForwarded) {
  Announce(2, "10.0.0.2:6379");
  Set("local");
  Set("forwarded", /*may_forward=*/false);
  proposer_.leader = false;
  proposer_.known_leader = 2;
  d_->OnRoleChange(false, 2);
  EXPECT_EQ(d_->batched(), 0u);
  // A forwarded command is never sent on a second hop, and was not executed.
  EXPECT_EQ(Only("forwarded").str, kErrNotLeader);
  d_->EndOfTurn();
  EXPECT_TRUE(proposer_.log.empty());
  ASSERT_EQ(forwarding_.sent.size(), 1u);
  EXPECT_EQ(forwarding_.sent[0].leader, 2u);
  EXPECT_EQ(forwarding_.sent[0].argv[1], "local");
  forwarding_.sent[0].cb(sm::Reply::Ok());
  EXPECT_EQ(Only("local").str, "OK");
}

TEST_F(DispatcherTest, ProposeRefusedAtEndOfTurnReroutes) {
  Set("a");
  Set("f", /*may_forward=*/false);
  proposer_.leader = false;  // lost between Submit and the turn's end, no role change yet
  d_->EndOfTurn();
  EXPECT_TRUE(proposer_.log.empty());
  EXPECT_EQ(Only("f").str, kErrNotLeader);
  EXPECT_EQ(d_->waiting(), 1u) << "no leader known: the local command waits";
  proposer_.leader = true;
  d_->OnRoleChange(true, 1);
  d_->EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 1u);
  proposer_.Commit(*d_, 0);
  EXPECT_EQ(Only("a").str, "OK");
}

TEST_F(DispatcherTest, WaitingForALeaderIsBoundedInTimeAndNumber) {
  DispatcherOptions o;
  o.waiting_max = 3;
  Rebuild(o);
  proposer_.leader = false;
  for (const char* k : {"a", "b", "c", "d"}) Set(k);
  EXPECT_EQ(d_->waiting(), 3u);
  EXPECT_EQ(Only("d").str, kErrTooManyWaiting);
  clock_.Advance(2999);
  d_->Tick();
  EXPECT_EQ(replies_.size(), 1u) << "answered before --no-leader-timeout-ms";
  // A wall clock stepped back does not extend (or wrap) the wait.
  clock_.SetWall(clock_.WallMs() - 3'600'000);
  clock_.Advance(1);
  d_->Tick();
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(Only(k).str, kErrNoLeader) << k;
  EXPECT_EQ(d_->waiting(), 0u);
}

TEST_F(DispatcherTest, WaitingCommandsGoToTheNewLeader) {
  proposer_.leader = false;
  Set("a");
  Announce(3, "10.0.0.3:6379");
  proposer_.known_leader = 3;
  d_->OnRoleChange(false, 3);
  d_->EndOfTurn();
  ASSERT_EQ(forwarding_.sent.size(), 1u);
  EXPECT_EQ(forwarding_.sent[0].leader, 3u);
  // Unsent commands handed back keep their deadline.
  uint64_t deadline = forwarding_.sent[0].deadline_ms;
  EXPECT_EQ(deadline, clock_.MonotonicMs() + 3000);
  auto cb = std::move(forwarding_.sent[0].cb);
  forwarding_.sent.clear();
  proposer_.known_leader = 0;
  d_->Requeue({"SET", "a", "v"}, std::move(cb), deadline);
  clock_.Advance(3000);
  d_->Tick();
  EXPECT_EQ(Only("a").str, kErrNoLeader);
}

TEST_F(DispatcherTest, WaitingCommandsLeaveWhenTheLeadersAddressIsApplied) {
  proposer_.leader = false;
  proposer_.known_leader = 2;
  Set("a");  // the leader is known, its address not yet
  EXPECT_EQ(d_->waiting(), 1u);
  Announce(2, "10.0.0.2:6379");  // no tick in between
  EXPECT_EQ(d_->waiting(), 0u);
  d_->EndOfTurn();
  ASSERT_EQ(forwarding_.sent.size(), 1u);
  EXPECT_EQ(forwarding_.sent[0].leader, 2u);
}

// Issue 11 item 7, leader side: a command forwarded by a follower is never
// proposed after arrival + --no-leader-timeout-ms, when the follower has
// given up on it.
TEST_F(DispatcherTest, ForwardedCommandPastItsDeadlineIsNeverProposed) {
  for (int i = 0; i < 4; i++) {
    Set("k" + std::to_string(i));
    d_->EndOfTurn();
  }
  Set("fwd", /*may_forward=*/false);
  Set("local");
  d_->EndOfTurn();  // held back by the in-flight cap
  clock_.Advance(2999);
  d_->Tick();
  EXPECT_TRUE(replies_["fwd"].empty()) << "answered before its deadline";
  clock_.Advance(1);
  d_->Tick();
  EXPECT_EQ(Only("fwd").str, kErrNotLeader);
  EXPECT_EQ(d_->batched(), 1u);
  proposer_.Commit(*d_, 0);
  d_->EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 5u);
  ASSERT_EQ(proposer_.log[4].batch.commands.size(), 1u);
  EXPECT_EQ(proposer_.log[4].batch.commands[0][1], "local");
  for (size_t i = 1; i < 5; i++) proposer_.Commit(*d_, i);
  EXPECT_EQ(Only("local").str, "OK");
  EXPECT_EQ(Only("fwd").str, kErrNotLeader) << "answered twice";
}

TEST_F(DispatcherTest, ForwardedDeadlineHoldsWithoutATick) {
  for (int i = 0; i < 4; i++) {
    Set("k" + std::to_string(i));
    d_->EndOfTurn();
  }
  Set("fwd", /*may_forward=*/false);
  d_->EndOfTurn();
  clock_.Advance(5000);  // a stalled loop: no Tick ran
  clock_.SetWall(clock_.WallMs() - 3'600'000);
  proposer_.Commit(*d_, 0);
  d_->EndOfTurn();
  EXPECT_EQ(proposer_.log.size(), 4u) << "proposed a forwarded command past its deadline";
  EXPECT_EQ(Only("fwd").str, kErrNotLeader);
}

TEST_F(DispatcherTest, ForwardedCommandWithinItsDeadlineIsProposed) {
  Set("fwd", /*may_forward=*/false);
  clock_.Advance(2999);
  d_->EndOfTurn();
  ASSERT_EQ(proposer_.log.size(), 1u);
  proposer_.Commit(*d_, 0);
  EXPECT_EQ(Only("fwd").str, "OK");
}

TEST_F(DispatcherTest, EveryRequestIsAnsweredExactlyOnce) {
  Announce(2, "10.0.0.2:6379");
  int n = 0;
  auto burst = [&](int count, bool may_forward) {
    for (int i = 0; i < count; i++) Set("r" + std::to_string(n++), may_forward);
  };
  burst(3, true);
  d_->EndOfTurn();         // entry 0
  burst(2, false);
  d_->EndOfTurn();         // entry 1
  burst(2, true);
  d_->EndOfTurn();         // entry 2
  burst(2, true);          // batched, not proposed
  proposer_.Commit(*d_, 0);
  proposer_.leader = false;
  proposer_.known_leader = 2;
  d_->OnRoleChange(false, 2);  // batch rerouted to node 2
  d_->EndOfTurn();
  proposer_.Fail(1);
  d_->Apply(proposer_.log[2].index, proposer_.log[2].bytes);  // committed by the next leader
  proposer_.Fail(2);
  burst(2, true);          // forwarded
  d_->EndOfTurn();
  burst(1, true);          // queued for the leader, not sent yet
  burst(1, false);         // refused
  proposer_.known_leader = 0;
  burst(2, true);          // waiting
  d_->Stop();              // forwarded ones get kErrShuttingDown via Reset, waiting ones too
  ASSERT_EQ(replies_.size(), static_cast<size_t>(n));
  for (auto& [key, rs] : replies_) EXPECT_EQ(rs.size(), 1u) << key;
}

TEST_F(DispatcherTest, CleanupIsSubmittedAgainWhileItFailsWithTryAgain) {
  d_->SubmitCleanup({"LOCKQ.CANCEL", "1", "42", "3", "4"}, /*attempts=*/3);
  for (size_t i = 0; i < 3; i++) {
    d_->Tick();  // retries go out at the next tick
    d_->EndOfTurn();
    ASSERT_EQ(proposer_.log.size(), i + 1) << "attempt " << i + 1 << " not proposed";
    proposer_.Fail(i);  // leadership lost before commit: TRYAGAIN
  }
  d_->Tick();
  d_->EndOfTurn();
  EXPECT_EQ(proposer_.log.size(), 3u) << "more attempts than asked for";
  // By default it goes on until it succeeds: a link to the leader may stay
  // bad for minutes (docs/chaos.md, stranded consumers).
  d_->SubmitCleanup({"LOCKQ.CANCEL", "1", "42", "3", "6"});
  for (size_t i = 3; i < 63; i++) {
    d_->Tick();
    d_->EndOfTurn();
    ASSERT_EQ(proposer_.log.size(), i + 1) << "attempt " << i - 2 << " not proposed";
    proposer_.Fail(i);
  }
  d_->Stop();
  d_->SubmitCleanup({"LOCKQ.CANCEL", "1", "42", "3", "5"});
  d_->EndOfTurn();
  proposer_.Fail(63);
  d_->Tick();
  d_->EndOfTurn();
  EXPECT_EQ(proposer_.log.size(), 64u) << "retried after Stop()";
}

TEST_F(DispatcherTest, EventsReachListenersAfterReplies) {
  std::vector<std::string> order;
  d_->AddEventsListener([&](const sm::Events&) { order.push_back("events"); });
  d_->Submit({"LOCKQ.INCARNATION", "1", "42"}, [&](sm::Reply) { order.push_back("reply"); });
  d_->EndOfTurn();
  proposer_.Commit(*d_, 0);
  EXPECT_EQ(order, (std::vector<std::string>{"reply", "events"}));
}

TEST_F(DispatcherTest, WrapAsNamesThisProcess) {
  sm::Argv w = d_->WrapAs(7, 8, {"LOCK.ACQUIRE", "l"});
  EXPECT_EQ(w, (sm::Argv{"LOCKQ.AS", "1", "42", "7", "8", "LOCK.ACQUIRE", "l"}));
}

using DispatcherDeathTest = DispatcherTest;

// An entry of ours whose reply count differs from its callbacks is a broken
// invariant: abort rather than strand or misdirect callbacks.
TEST_F(DispatcherDeathTest, ReplyCountMismatchIsACheck) {
  Set("a");
  d_->EndOfTurn();
  sm::Batch forged = proposer_.log[0].batch;
  forged.commands.push_back({"SET", "b", "v"});
  EXPECT_DEATH(d_->Apply(proposer_.log[0].index, sm::EncodeBatch(forged)), "CHECK failed");
}

}  // namespace
}  // namespace lockq::dispatch
