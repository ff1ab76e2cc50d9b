#pragma once
// lockq::Election: leader election on top of the FIFO lock (docs/locks.md
// "Elections"). Candidates queue in order; the leader's token fences its
// writes; leadership lasts while the session lives.
//
//   lockq::Election e(client, "scheduler");
//   e.Campaign("node-a");              // blocks until this process leads
//   ... lead, using e.token() to fence writes ...
//   e.Resign();

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lockq/client_core.h"
#include "lockq/mutex.h"

namespace lockq {

struct LeaderInfo {
  std::string value;   // what the leader campaigned with
  uint64_t token = 0;  // its fencing token
};

// Stops observing when destroyed.
class Observer {
 public:
  virtual ~Observer() = default;
};

class Election : public LockBase {
 public:
  Election(Client& client, std::string name, LockOptions options = {});

  // Waits until this object leads (wait nullopt: without limit). Ok(false)
  // when `wait` passed first.
  Result<bool> Campaign(const std::string& value, std::optional<std::chrono::milliseconds> wait = std::nullopt);
  // Gives up leadership (or leaves the line).
  Status Resign();
  bool is_leader() const { return held() && !lost(); }
  uint64_t token() const { return fencing_token(); }

  // The current leader, or nullopt when there is none.
  Result<std::optional<LeaderInfo>> Leader();
  // Calls fn with the current leader, then on every change, until the
  // returned Observer is destroyed. fn runs on a library thread.
  Result<std::unique_ptr<Observer>> Observe(std::function<void(const std::optional<LeaderInfo>&)> fn);

 private:
  std::string election_;
  Client& client_;
};

}  // namespace lockq
