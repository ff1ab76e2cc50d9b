// liblockq locks against real lockqd processes: Mutex, SharedMutex and
// Semaphore with the std lock types, fencing tokens, sessions and loss.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

class MutexIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start().ok());
    a_ = std::make_unique<Client>(Endpoints(cluster_), FastOptions());
    b_ = std::make_unique<Client>(Endpoints(cluster_), FastOptions());
  }
  ProcessCluster cluster_;
  std::unique_ptr<Client> a_, b_;  // two clients: two default sessions
};

TEST_F(MutexIT, UniqueLockTakesAndReleasesWithIncreasingTokens) {
  Mutex m(*a_, "orders", LockOptions{.owner = "test-a"});
  EXPECT_EQ(m.name(), "orders");
  uint64_t first;
  {
    std::unique_lock guard(m);
    EXPECT_TRUE(m.held());
    EXPECT_FALSE(m.lost());
    first = m.fencing_token();
    EXPECT_GT(first, 0u);
    EXPECT_GT(m.guaranteed_until(), std::chrono::steady_clock::now());
    auto info = a_->Call({"LOCK.INFO", "orders"});
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_NE(sm::ToDebugString(*info).find("test-a"), std::string::npos) << sm::ToDebugString(*info);
  }
  EXPECT_FALSE(m.held());
  EXPECT_EQ(m.fencing_token(), 0u);
  {
    std::unique_lock guard(m);
    EXPECT_GT(m.fencing_token(), first);
  }
  EXPECT_TRUE(m.last_error().ok()) << m.last_error().ToString();
}

TEST_F(MutexIT, TryLockFailsWhileAnotherClientHoldsItAndTimedWaitGetsItOnRelease) {
  Mutex mine(*a_, "x"), theirs(*b_, "x");
  ASSERT_TRUE(mine.try_lock());
  EXPECT_FALSE(theirs.try_lock());
  EXPECT_FALSE(theirs.try_lock_for(200ms));
  EXPECT_FALSE(theirs.try_lock_until(std::chrono::steady_clock::now() + 100ms));
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    mine.unlock();
  });
  EXPECT_TRUE(theirs.try_lock_for(20s));  // granted by the server's FIFO wait
  releaser.join();
  EXPECT_GT(theirs.fencing_token(), 0u);
  theirs.unlock();
}

TEST_F(MutexIT, LockingTwiceIsAnErrorNotADeadlock) {
  Mutex m(*a_, "twice");
  m.lock();
  try {
    m.lock();
    ADD_FAILURE() << "second lock() returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition) << e.what();
  }
  auto r = m.Lock(0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  LQ_ASSERT_OK(m.Unlock());
  auto again = m.Unlock();  // not held any more
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
}

TEST_F(MutexIT, ScopedLockTakesTwoMutexes) {
  Mutex m1(*a_, "pair-1"), m2(*a_, "pair-2");
  {
    std::scoped_lock both(m1, m2);
    EXPECT_TRUE(m1.held() && m2.held());
  }
  EXPECT_FALSE(m1.held() || m2.held());
}

TEST_F(MutexIT, SharedMutexAdmitsReadersTogetherAndWritersAlone) {
  SharedMutex r1(*a_, "rw"), r2(*b_, "rw"), w(*b_, "rw");
  {
    std::shared_lock g1(r1);
    std::shared_lock g2(r2);
    EXPECT_TRUE(r1.held() && r2.held());
    EXPECT_FALSE(w.try_lock());
    EXPECT_FALSE(w.try_lock_for(100ms));
  }
  {
    std::unique_lock g(w);
    EXPECT_FALSE(r1.try_lock_shared());
    EXPECT_FALSE(r1.try_lock_shared_for(100ms));
    EXPECT_FALSE(r1.try_lock_shared_until(std::chrono::steady_clock::now() + 50ms));
  }
  EXPECT_TRUE(r1.try_lock_shared());
  r1.unlock_shared();
  EXPECT_TRUE(w.try_lock_until(std::chrono::steady_clock::now() + 5s));
  w.unlock();
}

TEST_F(MutexIT, SemaphoreGrantsItsPermitsAndNoMore) {
  Semaphore s1(*a_, "pool", 2), s2(*a_, "pool", 2), s3(*b_, "pool", 2);
  EXPECT_EQ(s1.permits(), 2u);
  s1.acquire();
  EXPECT_TRUE(s2.try_acquire());
  EXPECT_FALSE(s3.try_acquire());
  EXPECT_FALSE(s3.try_acquire_for(100ms));
  s2.release();
  {
    std::unique_lock g(s3);  // Lockable spelling
    EXPECT_TRUE(s3.held());
    EXPECT_FALSE(s2.try_lock());
    EXPECT_FALSE(s2.try_lock_for(50ms));
    EXPECT_FALSE(s2.try_lock_until(std::chrono::steady_clock::now() + 50ms));
  }
  s1.unlock();
  Semaphore wrong(*b_, "pool", 3);
  try {
    wrong.acquire();
    s1.lock();  // only reached if the mismatch was not refused
    ADD_FAILURE() << "a semaphore with a different number of permits was granted while held";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("permits"), std::string::npos) << e.what();
  }
}

TEST_F(MutexIT, ClosingTheSessionMarksTheLockLostAndCallsBack) {
  auto session = Session::Open(*a_, 2s);
  LQ_ASSERT_OK(session.status());
  EXPECT_GT((*session)->id(), 0u);
  EXPECT_EQ((*session)->ttl(), 2000ms);
  EXPECT_TRUE((*session)->alive());
  EXPECT_GT((*session)->guaranteed_until(), std::chrono::steady_clock::now());
  std::atomic<int> lost_calls{0}, session_calls{0};
  std::atomic<uint64_t> lost_token{0};
  Mutex m(*a_, "lose-me", LockOptions{.session = *session, .on_lost = [&](const std::string& name, uint64_t token) {
                                        EXPECT_EQ(name, "lose-me");
                                        lost_token = token;
                                        lost_calls++;
                                      }});
  (*session)->OnLost([&] { session_calls++; });
  m.lock();
  uint64_t token = m.fencing_token();
  LQ_ASSERT_OK((*session)->Close());
  EXPECT_FALSE((*session)->alive());
  EXPECT_TRUE(m.lost());
  EXPECT_EQ(lost_calls.load(), 1);
  EXPECT_EQ(lost_token.load(), token);
  EXPECT_EQ(session_calls.load(), 1);
  int late = 0;
  (*session)->OnLost([&] { late++; });  // already lost: runs at once
  EXPECT_EQ(late, 1);
  // The cluster released it: another client takes it at once.
  Mutex other(*b_, "lose-me");
  EXPECT_TRUE(other.try_lock());
  // A fenced write with the old token is refused.
  auto w = a_->Call({"SET", "guarded", "v", "FENCE", "lose-me", std::to_string(token)});
  EXPECT_EQ(w.status().code(), StatusCode::kFailedPrecondition) << w.status().ToString();
  m.unlock();  // fine on a lost lock
  EXPECT_TRUE(m.last_error().ok()) << m.last_error().ToString();
  // A dead session cannot take new locks.
  auto r = m.Lock(0ms);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(MutexIT, SessionTtlBelowMinimumIsRefused) {
  auto s = Session::Open(*a_, 50ms);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MutexIT, KeepaliveHoldsAShortSessionForLongerThanItsTtl) {
  auto session = Session::Open(*a_, 300ms);
  LQ_ASSERT_OK(session.status());
  Mutex m(*a_, "kept", LockOptions{.session = *session});
  m.lock();
  std::this_thread::sleep_for(1500ms);  // 5 TTLs, renewed every 100 ms
  EXPECT_TRUE((*session)->alive());
  EXPECT_FALSE(m.lost());
  Mutex other(*b_, "kept");
  EXPECT_FALSE(other.try_lock());
  m.unlock();
}

TEST_F(MutexIT, AProcessThatDiesWithTheLockReleasesItBySessionExpiry) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child takes the lock and dies without unlocking
    Client child(Endpoints(cluster_), FastOptions());
    auto session = Session::Open(child, 1s);
    if (!session.ok()) _exit(2);
    Mutex m(child, "crash", LockOptions{.session = *session});
    if (!m.try_lock()) _exit(3);
    char c = 'x';
    if (write(ready[1], &c, 1) != 1) _exit(4);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  Mutex m(*a_, "crash");
  EXPECT_FALSE(m.try_lock());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(m.try_lock_for(20s));  // after the child's 1 s session ends
  close(ready[0]);
  close(ready[1]);
}

TEST_F(MutexIT, BlockedWaitersAreGrantedInArrivalOrder) {
  Mutex holder(*a_, "fifo");
  holder.lock();
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<Mutex>> waiters;
  std::mutex order_mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    clients.push_back(std::make_unique<Client>(Endpoints(cluster_), FastOptions()));
    waiters.push_back(std::make_unique<Mutex>(*clients.back(), "fifo"));
  }
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&, i] {
      std::unique_lock g(*waiters[i]);
      std::lock_guard l(order_mu);
      order.push_back(i);
    });
    // Wait until the server has it queued before starting the next one.
    for (int tries = 0; tries < 200; tries++) {
      auto info = a_->Call({"LOCK.INFO", "fifo"});
      if (info.ok() && sm::ToDebugString(*info).find("waiters") != std::string::npos) {
        std::string s = sm::ToDebugString(*info);
        size_t n = 0;
        for (size_t p = s.find("wait_deadline_ms"); p != std::string::npos; p = s.find("wait_deadline_ms", p + 1)) n++;
        if (n == static_cast<size_t>(i + 1)) break;
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  holder.unlock();
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace lockq::testing
