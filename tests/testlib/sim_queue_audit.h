#pragma once
// The simulation's queue checkers (docs/simulation.md "Queue checkers").
// Follows the committed log in index order (fed by the reference replay
// with every entry's replies and events) and checks every replica's queue
// engine against what was published, confirmed and settled:
//
//   1. no phantom message: every message delivered (a Q.FETCH reply or a
//      ["deliver", tag, message] push) and every message held by a replica
//      (ready or unacked, in any queue) has a body that an earlier committed
//      Q.PUBLISH carried (the workload's bodies are unique); a (queue, id)
//      is never delivered with two different bodies.
//   2. no confirmed message lost: on a "plain" queue (no max-length, TTL or
//      DLX), a publish whose reply was [1, 0] is, at every applied index >=
//      its own on every replica (and after every snapshot restore), ready
//      or unacked exactly once, until a Q.ACK or a Q.NACK without REQUEUE
//      of its (queue, id) committed with a reply saying every id it named
//      was settled; after that it never shows again. At the end of a run
//      (the workload drains: closes every channel, fetches and acks all)
//      every confirmed body was delivered at least once (CheckDrained).
//   3. replicas agree: per-queue counts (ready, unacked, consumers, next
//      id) are equal on every replica at every index (the snapshot
//      fingerprint covers the whole engine; events per index are compared
//      by SimCluster::CheckEvents).
//
// Assumptions: bodies are unique per run; plain queues are published to
// through the default exchange ("" routing key = queue name) and never
// purged, deleted or consumed with NOACK; every Q.ACK / Q.NACK is a
// LOCKQ.AS-wrapped command.
//
// Thread: the simulation's (single) thread.

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sm/command.h"
#include "sm/events.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::testing {

class QueueAudit {
 public:
  explicit QueueAudit(std::set<std::string> plain_queues = {"q:plain"});

  // The committed entry at `index` (index order, once each), its replies,
  // its events and their split by command (StateMachine::LastEventMarks).
  // Returns "" or the violation (check 1 on deliveries).
  std::string OnCommitted(uint64_t index, const sm::Batch& batch,
                          const std::vector<sm::Reply>& replies, const sm::Events& events,
                          const std::vector<size_t>& marks);
  // One replica's queue engine after it applied or restored
  // sm.applied_index() (already passed to OnCommitted). Checks 1 and 2.
  std::string CheckReplica(const sm::StateMachine& sm) const;
  // Check 3: the per-queue counts (ready, unacked, consumers, next id, as
  // Q.INFO reports them) of `who` at sm.applied_index() equal those of the
  // first replica that reached that index. Redundant with the snapshot
  // fingerprint, but names the queue that differs.
  std::string CheckCounts(const std::string& who, const sm::StateMachine& sm);
  // End of a drained run: every confirmed body was delivered at least once.
  std::string CheckDrained() const;

  // For workloads: recent unsettled deliveries (channel, queue, id).
  struct Delivery {
    sm::ClientRef channel;
    std::string queue;
    uint64_t id = 0;
  };
  const std::deque<Delivery>& recent_deliveries() const { return recent_; }
  uint64_t published() const { return published_.size(); }
  uint64_t confirmed() const { return confirmed_.size(); }
  uint64_t deliveries() const { return n_deliveries_; }
  uint64_t settled() const { return n_settled_; }
  uint64_t rejected() const { return n_rejected_; }

 private:
  struct Confirmed {
    std::string queue;
    uint64_t at = 0;       // index of the confirmed publish
    uint64_t gone_at = 0;  // index of the ack / nack that settled it; 0: not yet
  };
  std::string OnDelivered(uint64_t index, const sm::ClientRef& channel, const sm::Reply& msg);
  void OnSettled(uint64_t index, const sm::ClientRef& channel, const sm::Argv& argv,
                 const sm::Reply& r, bool nack);

  std::set<std::string> plain_;
  std::map<std::string, uint64_t> published_;  // body -> index of its first publish
  std::map<std::string, Confirmed> confirmed_;  // body -> confirmed publish on a plain queue
  std::set<std::string> delivered_;             // bodies delivered at least once
  std::map<std::pair<std::string, uint64_t>, std::string> body_of_;  // (queue, id) -> body
  std::deque<Delivery> recent_;
  std::map<uint64_t, std::pair<uint64_t, std::string>> counts_;  // index -> (counts hash, who)
  uint64_t n_deliveries_ = 0, n_settled_ = 0, n_rejected_ = 0;
};

}  // namespace lockq::testing
