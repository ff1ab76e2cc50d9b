#pragma once
// ProcessCluster: real lockqd processes on 127.0.0.1 for integration tests
// (STYLE.md habit 10). Each node gets its own free ports (RESP and raft),
// its own temporary data directory and a log file holding its stdout and
// stderr.
//
//   ProcessCluster c({.nodes = 3});
//   ASSERT_TRUE(c.Start().ok());
//   auto conn = c.Client(c.Leader());
//   c.Kill9(0); c.Restart(0);
//
// Every wait is bounded. The destructor SIGKILLs whatever still runs, fails
// the current test if a node died without being told to, prints the tail
// of every node's log when the current test failed (keeping the data
// directory for inspection), and removes the directory otherwise. Children
// also get PR_SET_PDEATHSIG(SIGKILL), so a crashed or timed-out test binary
// leaves no lockqd behind.
//
// Ports: picked at random below the kernel's ephemeral range (so outgoing
// client sockets cannot hold them), checked free by binding, and never
// reused within one test process; a node that fails to start (e.g. a port
// taken by a test running in parallel) makes Start() pick new ports and
// retry.
//
// Thread: the test's. Not thread-safe.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/resp_connection.h"
#include "common/status.h"
#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::testing {

using Millis = std::chrono::milliseconds;

// Path of the lockqd binary in the build tree.
std::string LockqdPath();

// One lockqd process (it may be restarted on the same ports and data dir).
class LockqProcess {
 public:
  LockqProcess(int node_id, std::string data_dir, std::string log_path, int resp_port, int raft_port);
  ~LockqProcess();
  LockqProcess(const LockqProcess&) = delete;
  LockqProcess& operator=(const LockqProcess&) = delete;

  // fork + exec of `lockqd args...`; output appended to the log file.
  Status Spawn(const std::vector<std::string>& args);
  // SIGKILL and reap. No-op when not running.
  void Kill9();
  // SIGTERM, wait up to `timeout` for exit (then SIGKILL). Returns an
  // error if it had to SIGKILL or the exit status was not 0.
  Status Stop(Millis timeout = Millis(10000));
  // True while the process runs (reaps it if it exited).
  bool Running();
  // Set when the process exited without Kill9/Stop: a crash.
  std::optional<std::string> unexpected_exit() const { return unexpected_exit_; }
  // Returns and clears it (so a crash is reported once).
  std::optional<std::string> TakeUnexpectedExit() { return std::exchange(unexpected_exit_, std::nullopt); }

  pid_t pid() const { return pid_; }
  int node_id() const { return node_id_; }
  int resp_port() const { return resp_port_; }
  int raft_port() const { return raft_port_; }
  std::string resp_addr() const { return "127.0.0.1:" + std::to_string(resp_port_); }
  std::string raft_addr() const { return "127.0.0.1:" + std::to_string(raft_port_); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  // The last `max_bytes` of the log file.
  std::string LogTail(size_t max_bytes = 16 * 1024) const;
  // Resident set size from /proc/<pid>/status (VmRSS), in bytes; 0 if unknown.
  size_t RssBytes() const;
  // Peak resident set size (VmHWM) since the process started; 0 if unknown.
  size_t PeakRssBytes() const;

 private:
  void Reap(int status);

  int node_id_;
  std::string data_dir_;
  std::string log_path_;
  int resp_port_;
  int raft_port_;
  pid_t pid_ = -1;
  bool expect_exit_ = false;
  std::optional<std::string> unexpected_exit_;
};

struct ClusterOptions {
  int nodes = 1;
  // Extra lockqd flags for every node (e.g. {"--snapshot-entries", "64"}).
  std::vector<std::string> extra_args;
  unsigned election_timeout_ms = 300;
  unsigned heartbeat_timeout_ms = 50;
  Millis ready_timeout = Millis(20000);
  std::string log_level = "info";
};

class ProcessCluster {
 public:
  explicit ProcessCluster(ClusterOptions options = {});
  ~ProcessCluster();
  ProcessCluster(const ProcessCluster&) = delete;
  ProcessCluster& operator=(const ProcessCluster&) = delete;

  // Starts every node and waits until ready: each answers PING and agrees
  // on one leader whose RESP address is announced.
  Status Start();

  int size() const { return static_cast<int>(nodes_.size()); }
  // Starts one more node (id size()+1) with --join: empty, outside the
  // cluster until `LOCKQ.CLUSTER ADD id raft_addr` runs on the leader.
  // Returns its index once it answers PING.
  Result<int> StartJoiner();
  LockqProcess& node(int i) { return *nodes_.at(i); }
  std::string RespAddr(int i) const { return nodes_.at(i)->resp_addr(); }
  int RespPort(int i) const { return nodes_.at(i)->resp_port(); }
  const std::string& root_dir() const { return root_; }

  void Kill9(int i);
  Status Stop(int i, Millis timeout = Millis(10000));
  // Starts node i again (same ports, same data dir) and waits until it
  // answers PING and knows a leader (for a cluster: unless `wait_leader`
  // is false, e.g. when no majority is up).
  Status Restart(int i, bool wait_leader = true);

  // A connected client to node i (RESP2).
  Result<client::RespConnection> Client(int i, Millis timeout = Millis(5000));

  // INFO [section] of node i as key -> value.
  Result<std::map<std::string, std::string>> Info(int i, const std::string& section = "replication");
  // LOCKQ.CLUSTER STATUS of node i as field -> reply (map or flat array).
  Result<std::map<std::string, sm::Reply>> ClusterStatus(int i);

  // Index of the node that reports raft_role:leader with leader_id equal to
  // its own id, waiting up to `timeout`; -1 if none.
  int Leader(Millis timeout = Millis(10000));
  // Waits until node i answers PING (and, if `want_leader`, reports a
  // leader with a known RESP address).
  Status WaitReady(int i, bool want_leader, Millis timeout);
  // Waits until every running node agrees on one leader.
  Status WaitAgreedLeader(Millis timeout);
  // Waits until node i's applied_index >= `index`.
  Status WaitApplied(int i, uint64_t index, Millis timeout);

  // Fails the current test (ADD_FAILURE) for every node that exited
  // without being killed or stopped; returns how many.
  int CheckNoCrashes();
  // Prints every node's log tail to stderr.
  void DumpLogs(size_t max_bytes_per_node = 24 * 1024) const;

 private:
  std::vector<std::string> ArgsFor(int i) const;
  Status StartOnce();
  void KillAll();

  ClusterOptions options_;
  std::string root_;
  std::vector<std::unique_ptr<LockqProcess>> nodes_;
};

// --- helpers for tests -----------------------------------------------------

// Field helpers for a map reply (RESP3 map or RESP2 flat array).
std::map<std::string, sm::Reply> ReplyToFieldMap(const sm::Reply& r);
// Parses INFO text into key -> value.
std::map<std::string, std::string> ParseInfo(const std::string& text);
// Integer of a field, or -1.
int64_t FieldInt(const std::map<std::string, sm::Reply>& m, const std::string& key);
int64_t InfoInt(const std::map<std::string, std::string>& m, const std::string& key);

bool IsTryAgain(const sm::Reply& r);

// Calls `argv` on node i until it gets a reply that is not a TRYAGAIN error
// and no I/O error happens, reconnecting as needed, within `timeout`. The
// connection is kept in *conn between calls (pass an empty one to start).
Result<sm::Reply> CallWithRetry(ProcessCluster& cluster, int i, client::RespConnection* conn, const sm::Argv& argv,
                                Millis timeout = Millis(15000), int* attempts = nullptr);

// Milliseconds since `t0` as a double.
double MsSince(std::chrono::steady_clock::time_point t0);

}  // namespace lockq::testing
