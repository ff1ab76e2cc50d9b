// liblockq locks against real lockqd processes: Mutex, SharedMutex,
// Semaphore with the std lock types, fencing tokens, loss and sessions.

#include <mutex>
#include <shared_mutex>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

TEST(MutexIT, UniqueLockTakesAndReleasesWithIncreasingTokens) {
  ProcessCluster c;
  LQ_ASSERT_OK(c.Start());
  Client client(Endpoints(c), FastOptions());
  Mutex m(client, "orders", LockOptions{.owner = "test-a"});
  uint64_t first;
  {
    std::unique_lock guard(m);
    EXPECT_TRUE(m.held());
    EXPECT_FALSE(m.lost());
    first = m.fencing_token();
    EXPECT_GT(first, 0u);
    EXPECT_GT(m.guaranteed_until(), std::chrono::steady_clock::now());
    auto info = client.Call({"LOCK.INFO", "orders"});
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

}  // namespace
}  // namespace lockq::testing
