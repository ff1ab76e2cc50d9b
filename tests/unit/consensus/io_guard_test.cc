// IoGuard against a fake raft_io: the fake plays libraft's I/O backend, the
// test's receive callback plays libraft itself (replying through the guard
// the way recv_append_entries.c does).

#include "consensus/io_guard.h"

#include <gtest/gtest.h>

#include <vector>

namespace lockq::consensus {
namespace {

struct Fake {
  struct raft_io io {};
  raft_io_tick_cb tick = nullptr;
  raft_io_recv_cb recv = nullptr;
  std::vector<struct raft_message> sent;
};

Fake* g_fake = nullptr;
int g_append_status = 0;

// What "libraft" does inside its receive callback; set per test.
std::function<void(struct raft_io* proxy, struct raft_message* msg)> g_libraft;

void InitFake(Fake* f) {
  g_fake = f;
  f->io.version = 1;
  f->io.start = [](struct raft_io*, unsigned, raft_io_tick_cb tick, raft_io_recv_cb recv) {
    g_fake->tick = tick;
    g_fake->recv = recv;
    return 0;
  };
  f->io.send = [](struct raft_io*, struct raft_io_send*, const struct raft_message* m, raft_io_send_cb) {
    g_fake->sent.push_back(*m);
    return 0;
  };
  // The "disk" completes every append at once with g_append_status.
  f->io.append = [](struct raft_io*, struct raft_io_append* req, const struct raft_entry[], unsigned,
                    raft_io_append_cb cb) {
    cb(req, g_append_status);
    return 0;
  };
}

struct raft_message AppendEntries(raft_term term, raft_index prev, unsigned n, raft_index commit) {
  struct raft_message m {};
  m.type = RAFT_IO_APPEND_ENTRIES;
  m.append_entries.term = term;
  m.append_entries.prev_log_index = prev;
  m.append_entries.n_entries = n;
  m.append_entries.leader_commit = commit;
  return m;
}

// Sends an AppendEntries result through the guard, as libraft would.
void Reply(struct raft_io* proxy, raft_index last_log_index, raft_index rejected = 0) {
  struct raft_message r {};
  r.type = RAFT_IO_APPEND_ENTRIES_RESULT;
  r.append_entries_result.last_log_index = last_log_index;
  r.append_entries_result.rejected = rejected;
  struct raft_io_send req {};
  proxy->send(proxy, &req, &r, nullptr);
}

class IoGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitFake(&fake_);
    guard_ = std::make_unique<IoGuard>(&fake_.io);
    proxy_ = guard_->io();
    proxy_->start(proxy_, 100, [](struct raft_io*) {},
                  [](struct raft_io* proxy, struct raft_message* m) { g_libraft(proxy, m); });
  }
  void Deliver(struct raft_message m) { fake_.recv(&fake_.io, &m); }

  Fake fake_;
  std::unique_ptr<IoGuard> guard_;
  struct raft_io* proxy_ = nullptr;
};

// The libraft 0.15 bug: a follower with a stale tail (its log ends at 938,
// the leader verified it only through 910) answers a heartbeat with its
// whole log. The guard must cap the claim at prev + n.
TEST_F(IoGuardTest, HeartbeatReplyClaimsNoMoreThanVerified) {
  raft_index commit_seen = 0;
  g_libraft = [&](struct raft_io* proxy, struct raft_message* m) {
    commit_seen = m->append_entries.leader_commit;
    Reply(proxy, /*last_stored=*/938);
  };
  Deliver(AppendEntries(/*term=*/3, /*prev=*/910, /*n=*/0, /*commit=*/914));
  ASSERT_EQ(fake_.sent.size(), 1u);
  EXPECT_EQ(fake_.sent[0].append_entries_result.last_log_index, 910u);
  EXPECT_EQ(commit_seen, 910u) << "leader_commit must be capped at the last new entry";
  EXPECT_EQ(guard_->replies_clamped(), 1u);
  EXPECT_EQ(guard_->commits_clamped(), 1u);
}

TEST_F(IoGuardTest, AsyncRepliesPairWithTheirRequestsInOrder) {
  g_libraft = [](struct raft_io*, struct raft_message*) {};  // entries go to disk first
  Deliver(AppendEntries(3, 900, 5, 900));
  Deliver(AppendEntries(3, 905, 3, 900));
  Reply(proxy_, 938);  // first write done
  Reply(proxy_, 938);  // second write done
  ASSERT_EQ(fake_.sent.size(), 2u);
  EXPECT_EQ(fake_.sent[0].append_entries_result.last_log_index, 905u);
  EXPECT_EQ(fake_.sent[1].append_entries_result.last_log_index, 908u);
}

TEST_F(IoGuardTest, TruthfulRepliesAndRejectionsPassUnchanged) {
  g_libraft = [](struct raft_io* proxy, struct raft_message* m) {
    Reply(proxy, m->append_entries.prev_log_index + m->append_entries.n_entries);
  };
  Deliver(AppendEntries(3, 900, 4, 902));
  EXPECT_EQ(fake_.sent.back().append_entries_result.last_log_index, 904u);
  g_libraft = [](struct raft_io* proxy, struct raft_message*) { Reply(proxy, 938, /*rejected=*/950); };
  Deliver(AppendEntries(3, 950, 0, 902));
  EXPECT_EQ(fake_.sent.back().append_entries_result.last_log_index, 938u);  // a hint, not a claim
  EXPECT_EQ(guard_->replies_clamped(), 0u);
}

TEST_F(IoGuardTest, UnpairedReplyClaimsOnlyWhatWasAlreadyVerified) {
  g_libraft = [](struct raft_io* proxy, struct raft_message*) { Reply(proxy, 938); };
  Deliver(AppendEntries(4, 920, 0, 920));
  Reply(proxy_, 938);  // nothing pending: must not exceed 920
  EXPECT_EQ(fake_.sent.back().append_entries_result.last_log_index, 920u);
}

TEST_F(IoGuardTest, StaleTermMessageDoesNotDropPendingLimits) {
  g_libraft = [](struct raft_io*, struct raft_message*) {};
  Deliver(AppendEntries(5, 100, 2, 100));  // async, pending limit 102
  g_libraft = [](struct raft_io* proxy, struct raft_message*) { Reply(proxy, 0, 1); };
  Deliver(AppendEntries(4, 500, 0, 500));  // old leader: rejected inside recv
  Reply(proxy_, 938);                      // the term-5 write completes
  EXPECT_EQ(fake_.sent.back().append_entries_result.last_log_index, 102u);
}

TEST_F(IoGuardTest, OtherMessagesPassThrough) {
  struct raft_message vote {};
  vote.type = RAFT_IO_REQUEST_VOTE;
  vote.request_vote.term = 7;
  bool seen = false;
  g_libraft = [&](struct raft_io*, struct raft_message* m) { seen = m->request_vote.term == 7; };
  Deliver(vote);
  EXPECT_TRUE(seen);
  struct raft_io_send req {};
  proxy_->send(proxy_, &req, &vote, nullptr);
  EXPECT_EQ(fake_.sent.back().type, RAFT_IO_REQUEST_VOTE);
}

TEST_F(IoGuardTest, SuccessfulAppendReachesLibraft) {
  g_append_status = 0;
  struct raft_io_append req {};
  static int seen_status = -1;
  proxy_->append(proxy_, &req, nullptr, 0, [](struct raft_io_append*, int status) { seen_status = status; });
  EXPECT_EQ(seen_status, 0);
}

// A failed log write ends the process (fail-stop) rather than letting a
// libraft 0.15 leader go on with a truncated in-memory log.
TEST_F(IoGuardTest, FailedAppendExitsTheProcess) {
  EXPECT_EXIT(
      {
        g_append_status = RAFT_IOERR;
        struct raft_io_append req {};
        proxy_->append(proxy_, &req, nullptr, 0, [](struct raft_io_append*, int) {});
      },
      ::testing::ExitedWithCode(75), "");
}

}  // namespace
}  // namespace lockq::consensus

namespace lockq::consensus {
namespace {

// libraft 0.15's uv backend fills in async_work but says version 1; raft_init
// refuses snapshot_async below version 2. The guard offers the backend's
// async_work as version 2 (issue 13), and offers none when there is none.
TEST(IoGuardAsyncWork, OffersTheBackendsAsyncWorkAsVersionTwo) {
  struct raft_io real {};
  real.version = 1;
  static int calls = 0;
  real.async_work = [](struct raft_io* io, struct raft_io_async_work* req, raft_io_async_work_cb cb) {
    calls++;
    req->data = io->data;  // as raft_fixture's stub does
    cb(req, req->work(req));
    return 0;
  };
  IoGuard guard(&real);
  struct raft_io* proxy = guard.io();
  EXPECT_EQ(proxy->version, 2);
  ASSERT_NE(proxy->async_work, nullptr);
  struct raft_io_async_work req {};
  int libraft = 0;
  req.data = &libraft;
  static int status = -1;
  req.work = [](struct raft_io_async_work*) { return 7; };
  ASSERT_EQ(proxy->async_work(proxy, &req, [](struct raft_io_async_work*, int s) { status = s; }), 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status, 7);
  EXPECT_EQ(req.data, &libraft) << "libraft's req->data was not kept";

  struct raft_io bare {};
  bare.version = 1;
  IoGuard plain(&bare);
  EXPECT_EQ(plain.io()->version, 1);
  EXPECT_EQ(plain.io()->async_work, nullptr);
}

}  // namespace
}  // namespace lockq::consensus
