// ForkSerializer (dispatch/fork_serializer.h): the child serializes the
// state as it was at fork(), whatever the parent changes afterwards; a
// failed child is an error, not a short snapshot; a reader dropped unread
// does not hang or leak the child. And Dispatcher::PrepareSnapshot with
// fork_snapshots gives the same bytes as the deep copy, which restore to an
// identical state.

#include "dispatch/fork_serializer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "dispatch/dispatcher.h"
#include "sm/command.h"
#include "unit/dispatch/fakes.h"

namespace lockq::dispatch {
namespace {

TEST(ForkSerializer, ChildSeesTheStateFrozenAtFork) {
  // Larger than a pipe's buffer, so the child blocks until the reader runs.
  std::string state(8 << 20, 'a');
  auto read = ForkSerializer([&state] { return state; });
  ASSERT_TRUE(read);
  std::string frozen = state;
  state.assign(16, 'b');  // the parent moves on before the bytes are read
  EXPECT_EQ(read(), frozen);
}

TEST(ForkSerializer, EmptyOutputIsFine) {
  auto read = ForkSerializer([] { return std::string(); });
  ASSERT_TRUE(read);
  EXPECT_EQ(read(), "");
}

TEST(ForkSerializer, FailedChildIsAnError) {
  auto read = ForkSerializer([]() -> std::string { throw std::runtime_error("no"); });
  ASSERT_TRUE(read);
  EXPECT_THROW(read(), std::runtime_error);
}

TEST(ForkSerializer, ChildKilledBeforeFinishingIsAnError) {
  auto read = ForkSerializer([]() -> std::string {
    kill(getpid(), SIGKILL);  // dies like an OOM-killed child
    return "never";
  });
  ASSERT_TRUE(read);
  EXPECT_THROW(read(), std::runtime_error);
}

TEST(ForkSerializer, DroppedUnreadReaderEndsTheChild) {
  for (int i = 0; i < 3; i++) {
    auto read = ForkSerializer([] { return std::string(4 << 20, 'x'); });
    ASSERT_TRUE(read);
  }  // each child is killed and reaped here; none is left behind
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // ECHILD: no child at all
}

sm::Batch OneBatch(uint64_t seq, std::vector<sm::Argv> commands) {
  sm::Batch b;
  b.origin = {9, 9, seq};
  b.leader_time_ms = 1000 + seq;
  b.commands = std::move(commands);
  return b;
}

TEST(ForkSerializer, DispatcherSnapshotRestoresToIdenticalState) {
  ManualClock clock;
  testing::FakeProposer proposer;
  DispatcherOptions copy_opts;
  DispatcherOptions fork_opts;
  fork_opts.fork_snapshots = true;
  Dispatcher by_copy(proposer, nullptr, clock, copy_opts);
  Dispatcher by_fork(proposer, nullptr, clock, fork_opts);
  for (uint64_t i = 1; i <= 200; i++) {
    std::string e = sm::EncodeBatch(OneBatch(
        i, {{"SET", "k" + std::to_string(i % 37), std::string(i, 'v')},
            {"Q.DECLARE", "q" + std::to_string(i % 3)},
            {"Q.PUBLISH", "", "q" + std::to_string(i % 3), "body" + std::to_string(i)},
            {"LOCK.ACQUIRE", "l" + std::to_string(i % 5), "owner" + std::to_string(i), "10000"}}));
    by_copy.Apply(i, e);
    by_fork.Apply(i, e);
  }
  auto serialize = by_fork.PrepareSnapshot();
  // Entries applied after the capture are not in the snapshot.
  by_fork.Apply(201, sm::EncodeBatch(OneBatch(201, {{"SET", "late", "x"}})));
  std::string forked = serialize();
  std::string copied = by_copy.PrepareSnapshot()();
  EXPECT_EQ(forked, copied);

  Dispatcher restored(proposer, nullptr, clock, copy_opts);
  ASSERT_TRUE(restored.Restore(forked).ok());
  EXPECT_EQ(restored.PrepareSnapshot()(), copied);
  EXPECT_NE(by_fork.PrepareSnapshot()(), copied);  // it has "late"
}

}  // namespace
}  // namespace lockq::dispatch
