#pragma once
// The simulation's lock checkers (docs/simulation.md "Lock checkers"). A
// small model of the native lock commands (docs/design/native-locks.md
// "Built so far") follows the committed log in index order, with the
// replies every replica gives; every replica's state is then compared with
// the model as of the index that replica just applied (or restored):
//
//   1. exclusivity: at most one live exclusive holder per lock, and never an
//      exclusive holder together with a shared one (live: deadline > the
//      replica's state-machine now). Modes come from the grants observed,
//      not from the record, so a wrong mode flag cannot hide a conflict.
//   2. fencing tokens: every grant reply's token is greater than every
//      earlier committed grant (across all locks); each replica's counter and
//      per-lock newest grant equal the model's.
//   3. leases: a holder granted (or renewed) with lease t at state-machine
//      time T stays a holder, with a deadline >= T + t, at every applied
//      state whose clock is < T + t, unless its token released it. A
//      LOCKQ.ANNOUNCE re-base extends the promise as the design says (leases
//      live at the previous batch's clock gain now - that clock).
//   4. fencing: `SET k v FENCE lock token` with token older than the lock's
//      newest grant (or a lock never granted) is refused and leaves k
//      unchanged: every replica's value of k equals the last accepted fenced
//      write's at every index.
//   5. (try-lock answers) a refused ACQUIRE had a live conflicting holder;
//      RELEASE / RENEW succeed only for a token the model holds live.
//
// Assumptions: keys written with FENCE are written only by plain
// `SET k v FENCE lock token` (no other options, no other writers); the
// model's leases are exact, so check 5 relies on the sm keeping deadline ==
// the promise (check 3 only needs >=).
//
// Thread: the simulation's (single) thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sm/command.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::testing {

class LockAudit {
 public:
  LockAudit();

  // The committed entry at `index` (called in index order, once per entry),
  // its replies, and the state-machine clock while it applied. Updates the
  // model; checks 2 (grant replies), 4 (fenced write replies) and 5.
  // Returns "" or the violation.
  std::string OnCommitted(uint64_t index, const sm::Batch& batch,
                          const std::vector<sm::Reply>& replies, uint64_t sm_now_ms);

  // One replica's state after it applied or restored sm.applied_index(),
  // which OnCommitted has already passed. Checks 1, 2, 3 and 4 on that state.
  std::string CheckReplica(const sm::StateMachine& sm) const;

  // For workloads: every token granted on `lock`, oldest first.
  const std::vector<uint64_t>& TokensOf(const std::string& lock) const;
  uint64_t grants() const { return n_grants_; }
  uint64_t fenced_rejections() const { return n_fence_rejected_; }
  uint64_t rebases() const { return n_rebases_; }

 private:
  struct Promise {
    std::string lock;
    uint64_t until_ms = 0;  // the lease must last at least until here
  };
  // The model after some committed index; copied when a batch changes it.
  struct State {
    uint64_t max_token = 0;                       // newest grant, all locks
    std::map<std::string, uint64_t> newest;       // lock -> newest grant
    std::map<uint64_t, Promise> promises;         // token -> lease promise
    std::map<std::string, std::optional<std::string>> fenced;  // key -> value
  };

  const State& StateAt(uint64_t index) const;
  bool LivePromiseConflicts(const State& st, const std::string& lock, bool shared,
                            uint64_t now) const;

  State cur_;
  uint64_t clock_ = 0;  // sm clock after the previous committed entry
  std::map<uint64_t, std::shared_ptr<const State>> history_;  // index -> state from there
  std::map<uint64_t, bool> shared_of_;                         // token -> granted SHARED
  std::map<std::string, std::vector<uint64_t>> tokens_of_;
  uint64_t n_grants_ = 0, n_fence_rejected_ = 0, n_rebases_ = 0;
};

}  // namespace lockq::testing
