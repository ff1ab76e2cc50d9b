// Issue 6 must-demonstrate: 8 processes x 100 increments under
// lockq::Mutex + std::unique_lock give exactly 800 on 3 nodes while the
// leader is killed mid-run (and restarted).

#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "client_util.h"

namespace lockq::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kProcs = 8;
constexpr int kRounds = 100;

// One worker process: kRounds increments, each read-modify-write under the
// lock with the write fenced by the grant's token. A write refused as
// stale (the lock was lost in a failover) is not counted and is redone.
int Worker(const std::vector<std::string>& endpoints) {
  Client client(endpoints, FastOptions());
  Mutex m(client, "counter-lock");
  for (int done = 0; done < kRounds;) {
    try {
      std::unique_lock guard(m);
      auto v = client.Call({"GET", "counter"}, CallOptions{.idempotent = true});
      if (!v.ok()) continue;
      int64_t n = v->kind == Reply::Kind::kBulk ? std::stoll(v->str) : 0;
      auto w = client.Call({"SET", "counter", std::to_string(n + 1), "FENCE", "counter-lock",
                            std::to_string(m.fencing_token())},
                           CallOptions{.idempotent = true});  // same value again: safe to repeat
      if (w.ok()) done++;
    } catch (const Error& e) {
      std::fprintf(stderr, "worker %d: %s\n", getpid(), e.what());
      std::this_thread::sleep_for(100ms);
    }
  }
  return 0;
}

TEST(CounterFailoverIT, EightProcessesCountExactlyWhileTheLeaderIsKilled) {
  ProcessCluster c(ClusterOptions{.nodes = 3});
  LQ_ASSERT_OK(c.Start());
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; i++) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(Worker(Endpoints(c)));
    pids.push_back(pid);
  }
  // Kill the leader once the count passes 200, then bring it back.
  Client observer(Endpoints(c), FastOptions());
  int64_t seen = 0;
  for (int i = 0; i < 600 && seen < 200; i++) {
    auto v = observer.Call({"GET", "counter"}, CallOptions{.idempotent = true});
    if (v.ok() && v->kind == Reply::Kind::kBulk) seen = std::stoll(v->str);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(seen, 200) << "the workers made no progress";
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  c.Kill9(leader);
  std::fprintf(stderr, "killed leader node %d at count %lld\n", leader, static_cast<long long>(seen));
  std::this_thread::sleep_for(1s);
  LQ_ASSERT_OK(c.Restart(leader));
  for (pid_t pid : pids) {
    int status = 0;
    // Bounded: each worker finishes or the ctest timeout kills the binary,
    // whose children die with it (PR_SET_PDEATHSIG is not set for forks, so
    // kill them on failure below).
    for (int i = 0; i < 1200; i++) {
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      std::this_thread::sleep_for(100ms);
      if (i == 1199) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ADD_FAILURE() << "worker " << pid << " did not finish in 120 s";
      }
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker status " << status;
  }
  auto v = observer.Call({"GET", "counter"}, CallOptions{.idempotent = true});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->str, std::to_string(kProcs * kRounds));
  std::fprintf(stderr, "final count %s (expected %d)\n", v->str.c_str(), kProcs * kRounds);
}

}  // namespace
}  // namespace lockq::testing
