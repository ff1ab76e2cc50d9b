#pragma once
// Forwarding: a follower's way to the leader. lockqd's server::Forwarder
// sends commands as LOCKQ.FORWARD on a peer link to the leader's raft port
// (net/peer_link.h); the simulation and unit tests use their own.
//
// Deadlines are on Clock::MonotonicMs() (arrival + --no-leader-timeout-ms).
// Commands never sent are handed back to the dispatcher
// (Dispatcher::Requeue) to wait for the next leader within their deadline;
// commands sent and lost get an "outcome unknown" TRYAGAIN.
//
// Thread: the dispatcher's thread (the loop).

#include <cstdint>
#include <functional>
#include <string>

#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::dispatch {

class Forwarding {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  virtual ~Forwarding() = default;

  // Queues argv for node `leader` (the leader this node knows, once it
  // announced itself); `cb` fires exactly once.
  virtual void Send(uint64_t leader, sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) = 0;
  // Sends what Send() queued this turn (called at the end of every turn).
  virtual void Flush() = 0;
  // Drops the link: commands sent get `reason`; unsent ones are requeued,
  // or failed with `reason` too when `requeue_unsent` is false.
  virtual void Reset(const std::string& reason, bool requeue_unsent = true) = 0;
  // Answers every command past its deadline (forwarded but unanswered:
  // "outcome unknown", and the link is aborted so nothing sent on it can be
  // applied later; never sent: "not executed"). Called on every Tick().
  // Returns how many were answered.
  virtual size_t ExpireDeadlines() = 0;
  // Commands forwarded so far (INFO).
  virtual uint64_t forwarded() const = 0;
};

}  // namespace lockq::dispatch
