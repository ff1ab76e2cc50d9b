#pragma once
// `lockq lock NAME -- COMMAND`: run a command while holding a lock
// (lock_run.cc). Mirrors flock(1) and `etcdctl lock`.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cli/output.h"

namespace lockq::cli {

struct LockRunArgs {
  std::string name;
  std::chrono::milliseconds ttl{30000};            // the session's TTL
  std::optional<std::chrono::milliseconds> wait;   // nullopt: until granted; 0: try once
  bool shared = false;
  std::string owner;                               // shown by `lockq lock info`
  bool signed_grant = false;                       // --signed: LOCKQ_GRANT for the command
  std::vector<std::string> command;
};

// Acquires, runs the command with LOCKQ_FENCING_TOKEN and LOCKQ_LOCK_NAME
// (and with --signed LOCKQ_GRANT, the signed grant) in its environment, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to it, sends it
// SIGTERM if the lock is lost, releases, and returns the command's exit
// status (128+signal when it was killed by one). Blocks those signals in
// the calling thread, which must be the process's only thread so far (the
// library's threads inherit the mask and never take them).
int RunLocked(const Globals& g, const LockRunArgs& args);

}  // namespace lockq::cli
