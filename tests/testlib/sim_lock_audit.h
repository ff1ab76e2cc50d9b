#pragma once
// The simulation's lock checkers (docs/simulation.md "Lock checkers"). A
// small model of the native lock commands (docs/design/native-locks.md
// "As built") follows the committed log in index order, with the
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
//   5. (try-lock answers) a refused ACQUIRE had a live conflicting holder
//      or a queued waiter; a grant had neither (no queue jumping); RELEASE /
//      RENEW succeed only for a token the model holds live.
//   6. waiters (LOCK.ACQUIRE ... WAIT through LOCKQ.AS): every deferred
//      request gets exactly one answer event (grant, nil, NOSESSION) unless
//      LOCKQ.CANCEL / LOCKQ.INCARNATION removed it; a grant goes to the head
//      of the FIFO queue, never after its wait deadline or after its session
//      ended (etcd #11456); nil only past the wait deadline, NOSESSION only
//      when the session ended. Each replica's queues equal the model's, in
//      order. Deferred grants count for checks 1 to 3 and 5 like immediate
//      ones; the tokens of one command's events and then its reply strictly
//      increase (events are attributed to commands with LastEventMarks()).
//   7. no lost wakeups: on every replica at every index, the head waiter of
//      every queue is not grantable next to the holders physically present
//      (the queue was pumped after every change).
//   8. sessions: each replica's live sessions and their deadlines equal the
//      model's exactly (OPEN / KEEPALIVE: now + ttl, re-based by
//      LOCKQ.ANNOUNCE like leases); a lock held through a session is a live
//      holder while the session's deadline is > now, and no holder (session
//      or lease) is live once the model's promise ended: session locks are
//      released exactly when the session expires or closes.
//   9. signed grants: a SIGNED grant (immediate or deferred) carries a grant
//      that verifies with the signing key committed LOCK.SIGNKEY commands
//      left, for exactly that lock, token and lease end (now + guaranteed);
//      an unsigned request gets none; a SIGNED request is refused for want of
//      a key only when no key signs.
//
// Assumptions: keys written with FENCE are written only by plain
// `SET k v FENCE lock token` (no other options, no other writers); the
// model's leases are exact, so check 5 and "no holder outlives its promise"
// rely on the sm keeping deadline == the promise (check 3 only needs >=);
// locks are exclusive or SHARED (no SEMAPHORE); every LOCKQ.AS request has
// its own ClientRef; a batch's LOCKQ.ANNOUNCE re-base comes before any
// command of that batch that reads a session or lease (the sim proposes
// ANNOUNCE alone, as lockqd does).
//
// Thread: the simulation's (single) thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sm/command.h"
#include "sm/events.h"
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
  // `events` are the entry's events (StateMachine::TakeEvents) and `marks`
  // their split by command (StateMachine::LastEventMarks). Checks 6 and 8
  // on the answers.
  std::string OnCommitted(uint64_t index, const sm::Batch& batch,
                          const std::vector<sm::Reply>& replies, const sm::Events& events,
                          const std::vector<size_t>& marks, uint64_t sm_now_ms);

  // One replica's state after it applied or restored sm.applied_index(),
  // which OnCommitted has already passed. Checks 1 to 4 and 6 to 8 on that
  // state.
  std::string CheckReplica(const sm::StateMachine& sm) const;

  // For workloads: every token granted on `lock`, oldest first.
  const std::vector<uint64_t>& TokensOf(const std::string& lock) const;
  uint64_t grants() const { return n_grants_; }
  uint64_t deferred_grants() const { return n_deferred_grants_; }
  uint64_t wait_timeouts() const { return n_wait_timeouts_; }
  uint64_t nosession_answers() const { return n_nosession_; }
  uint64_t session_releases() const { return n_session_releases_; }

  // A request waiting in the model (as of the newest committed index).
  struct Waiter {
    std::string lock;
    bool shared = false;
    uint64_t session = 0;
    uint64_t lease_ms = 0;         // TTL lease once granted (0 with a session)
    uint64_t wait_deadline_ms = 0; // 0: no limit
    uint64_t since_ms = 0;
    bool sign = false;             // SIGNED: its grant must carry a valid signed grant
  };
  const std::map<sm::ClientRef, Waiter>& waiters() const { return cur_.waiters; }
  // Session ids handed out by committed SESSION.OPENs, oldest first.
  const std::vector<uint64_t>& session_ids() const { return session_ids_; }
  bool SessionLive(uint64_t id) const;  // at the newest committed index
  uint64_t fenced_rejections() const { return n_fence_rejected_; }
  uint64_t rebases() const { return n_rebases_; }
  uint64_t signed_grants() const { return n_signed_grants_; }

 private:
  struct Promise {
    std::string lock;
    uint64_t until_ms = 0;  // TTL: the lease must last at least until here
    uint64_t session = 0;   // held through this session instead (until_ms 0)
    sm::ClientRef client;   // the request granted (LOCKQ.CANCEL releases it)
  };
  struct SessionModel {
    uint64_t ttl_ms = 0;
    uint64_t deadline_ms = 0;
  };
  // The model after some committed index; copied when a batch changes it.
  struct State {
    uint64_t max_token = 0;                       // newest grant, all locks
    std::map<std::string, uint64_t> newest;       // lock -> newest grant
    std::map<uint64_t, Promise> promises;         // token -> lease promise
    std::map<std::string, std::optional<std::string>> fenced;  // key -> value
    std::map<sm::ClientRef, Waiter> waiters;                    // unanswered requests
    std::map<std::string, std::vector<sm::ClientRef>> queues;   // lock -> FIFO
    std::map<uint64_t, SessionModel> sessions;                  // not yet ended
  };

  const State& StateAt(uint64_t index) const;
  bool LivePromiseConflicts(const State& st, const std::string& lock, bool shared,
                            uint64_t now) const;
  static bool ModelSessionLive(const State& st, uint64_t id, uint64_t now);
  void EndSession(uint64_t id);      // in cur_: its promises end with it
  void DropWaiter(const sm::ClientRef& c);  // from cur_ (waiters and queue)
  // Records a grant (immediate or deferred) in cur_; "" or the violation.
  std::string RecordGrant(const std::string& lock, bool shared, uint64_t session,
                          uint64_t lease_ms, bool sign, const sm::ClientRef& client,
                          const sm::Reply& r, uint64_t now);
  // Check 9 (signed grants): a SIGNED grant verifies with the model's
  // signing key and says exactly this lock, token and lease end.
  std::string CheckSignedGrant(const std::string& lock, uint64_t token, uint64_t lease_end_ms,
                               const sm::Reply& r) const;
  // Committed LOCK.SIGNKEY commands, applied to the model's keys.
  void TrackSignKey(const sm::Argv& argv, const sm::Reply& r);

  State cur_;
  uint64_t clock_ = 0;  // sm clock after the previous committed entry
  std::map<uint64_t, std::shared_ptr<const State>> history_;  // index -> state from there
  std::map<uint64_t, bool> shared_of_;                         // token -> granted SHARED
  std::map<std::string, std::vector<uint64_t>> tokens_of_;
  std::vector<uint64_t> session_ids_;
  std::map<uint64_t, std::string> sign_keys_;  // id -> secret, from committed LOCK.SIGNKEY
  uint64_t signing_key_ = 0;                   // 0: none signs
  uint64_t n_signed_grants_ = 0;
  uint64_t n_grants_ = 0, n_fence_rejected_ = 0, n_rebases_ = 0;
  uint64_t n_deferred_grants_ = 0, n_wait_timeouts_ = 0, n_nosession_ = 0,
           n_session_releases_ = 0;
};

}  // namespace lockq::testing
