#pragma once
// Deterministic simulation of a lockq cluster on libraft's raft_fixture
// (docs/simulation.md). Every server runs the REAL dispatch::Dispatcher and
// sm::StateMachine behind the REAL consensus::FsmAdapter; the fixture's in-memory io supplies the
// network, the disk and a global clock, so a run depends only on the seed.
//
// Besides driving the cluster, SimCluster audits it after every applied entry
// and every fixture step (STYLE.md habit 10):
//   - each replica must apply, at index i, the same bytes as every other
//     replica (and as its own raft log holds at i: checks the adapter's index);
//   - a reference sm::StateMachine replays the committed log in index order;
//     the fingerprint (snapshot bytes + replies) of every replica at index i
//     must equal the reference's at i;
//   - an acknowledged proposal (raft_apply callback status 0) must sit in the
//     committed log at the index libraft reported, exactly once;
//   - every replica and the reference produce the same events
//     (StateMachine::TakeEvents: deferred replies, pushes) at index i;
//   - the lock checkers (sim_lock_audit.h): a model of the native locks
//     follows the committed log and its events, and every replica's lock
//     table, fencing counter and fenced keys are checked against it after
//     every apply and restore (exclusivity, token order, leases, fenced
//     writes, waiters and their answers, lost wakeups, sessions);
//   - the queue checkers (sim_queue_audit.h): no delivered or held message
//     that was never published, and no confirmed message on a plain queue
//     lost on any replica at any index.
// The first violation is recorded in failure(); the run is then useless and
// the test prints the seed and stops.
//
// Thread: single-threaded. Everything, including libraft callbacks, runs on
// the caller's thread inside Step(). Snapshots are synchronous (the fixture's
// stub io has no async_work).

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "consensus/fsm.h"
#include "consensus/fsm_adapter.h"
#include "consensus/io_guard.h"
#include "dispatch/dispatcher.h"
#include "dispatch/leader_duties.h"
#include "sm/command.h"
#include "sm/reply.h"
#include "sm/state_machine.h"
#include "testlib/sim_lock_audit.h"
#include "testlib/sim_queue_audit.h"

struct raft;
struct raft_fixture;
struct raft_fixture_event;

namespace lockq::testing {

// 64-bit FNV-1a; deterministic across runs (std::hash is not promised to be).
uint64_t Fnv1a64(std::string_view bytes, uint64_t seed = 14695981039346656037ull);

class SimCluster;
struct SimOptions;
struct StubIo;

// One simulated lockqd: the REAL dispatch::Dispatcher (group commit,
// in-flight matching by index and origin, Apply, reply callbacks) over a
// Proposer on this server's raft in the fixture (consensus::ApplyFramed, as
// consensus::Node proposes), with the fixture's clock as its monotonic clock
// and fixture time + this server's skew as its wall clock. Like lockqd's
// Core, it hands libraft's committed entries to Dispatcher::Apply; the
// dispatcher's apply observer reports each one to the cluster's auditor.
class SimFsm final : public consensus::Fsm {
 public:
  SimFsm(SimCluster* cluster, unsigned server, uint64_t nonce, const SimOptions& options);
  ~SimFsm() override;
  SimFsm(const SimFsm&) = delete;
  SimFsm& operator=(const SimFsm&) = delete;

  void Apply(uint64_t index, std::string_view entry) override;
  std::function<std::string()> PrepareSnapshot() override;
  Status Restore(std::string_view bytes) override;
  std::unique_ptr<Detached> Decode(std::string_view bytes) override;
  std::unique_ptr<Detached> Install(std::string_view bytes, std::unique_ptr<Detached> decoded) override;

  const sm::StateMachine& sm() const { return dispatcher_->state(); }
  // Snapshots this server decoded off its raft thread (Decode).
  uint64_t decodes() const { return decodes_; }
  dispatch::Dispatcher& dispatcher() { return *dispatcher_; }
  uint64_t last_apply_index() const { return last_apply_index_; }

 private:
  friend class SimCluster;
  class SimClock;
  class SimProposer;
  class SimForwarding;
  // SimOptions::leader_duties: feeds role changes and, every kTickMs, the
  // dispatcher's and duties' ticks, then ends the loop turn.
  void Drive();
  void OnRestored(std::string_view bytes);  // after Restore or Install
  SimCluster* cluster_;
  unsigned server_;
  std::unique_ptr<SimClock> clock_;
  std::unique_ptr<SimProposer> proposer_;
  std::unique_ptr<SimForwarding> forwarding_;  // with leader_duties only
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  std::unique_ptr<dispatch::LeaderDuties> duties_;  // with leader_duties only
  bool leader_ = false;        // as last fed to Dispatcher::OnRoleChange
  uint64_t leader_id_ = 0;
  uint64_t next_tick_ms_ = 0;
  uint64_t last_apply_index_ = 0;  // raft index of the last Apply()
  bool restored_since_apply_ = false;
  uint64_t decodes_ = 0;
};

// A client proposal, alive until the cluster is destroyed (libraft holds a
// pointer to `req` until its callback fires).
struct SimProposal {
  uint64_t id = 0;      // unique per cluster
  unsigned server = 0;  // where it was proposed
  std::vector<sm::Argv> commands;
  std::string bytes;
  sm::BatchOrigin origin;  // the dispatcher's (node id, nonce, its sequence)
  std::vector<int> answers;  // per command: reply callbacks fired (must end at 1)
  bool internal = false;     // proposed by the dispatcher on its own (LeaderDuties): replies not tracked
  bool done = false;    // callback fired
  int status = -1;      // libraft status (0 = acknowledged)
  uint64_t index = 0;   // log index libraft assigned
};

struct SimOptions {
  unsigned servers = 3;
  uint64_t seed = 1;
  consensus::SnapshotPolicy policy{32, 1 << 20, 8, /*async=*/false};
  // lockqd's way (issue 13): with policy.async and io_guard, snapshots are
  // serialized in the fixture's async_work (run when the fixture steps)
  // from a fork()ed image of the state (dispatch/fork_serializer.h).
  bool fork_snapshots = false;
  bool pre_vote = false;
  // Route every server through consensus::IoGuard, as lockqd does. Off (or
  // LOCKQ_SIM_NO_IO_GUARD=1) runs bare libraft 0.15.
  bool io_guard = true;
  // Host dispatch::LeaderDuties on every server too (expiry, LOCKQ.ANNOUNCE,
  // LOCKQ.INCARNATION, node-down), ticked every LeaderDuties::kTickMs of
  // fixture time, with role changes fed to the dispatcher and a Forwarding
  // that hands a follower's commands to the leader's dispatcher. The
  // workload must then not propose expiry or announcements itself; the
  // random-fault workload does, so it runs with this off.
  bool leader_duties = false;
  uint64_t node_down_ms = 3000;  // --node-down-ms of the hosted duties
};

class SimCluster {
 public:
  // Called by the reference replay for every committed command entry, in
  // index order, after the reference state machine applied it.
  using ReferenceObserver = std::function<void(uint64_t index, const sm::Batch& batch,
                                               const std::vector<sm::Reply>& replies,
                                               const sm::StateMachine& ref)>;

  explicit SimCluster(SimOptions options);
  ~SimCluster();
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;

  unsigned size() const { return options_.servers; }
  std::mt19937_64& rng() { return rng_; }
  uint64_t now_ms() const;  // the fixture's global clock
  struct raft* raft(unsigned i) const;
  const SimFsm& fsm(unsigned i) const { return *fsms_[i]; }
  const consensus::FsmAdapter& adapter(unsigned i) const { return *adapters_[i]; }
  uint64_t last_applied(unsigned i) const;
  uint64_t commit_index(unsigned i) const;
  uint64_t snapshot_index(unsigned i) const;  // last index of the newest snapshot
  uint64_t term(unsigned i) const;

  // ---- driving -------------------------------------------------------------
  void Step();
  void StepN(unsigned n);
  // Steps until pred() holds or `max_ms` of simulated time passed.
  bool StepUntil(const std::function<bool()>& pred, uint64_t max_ms);
  // Highest-term alive server in leader state, or -1. May be a stale leader
  // cut off from the majority: proposing there is allowed and realistic.
  int AnyLeader() const;
  // The fixture's notion of a stable leader (acknowledged by a majority), or -1.
  int StableLeader() const;

  // ---- faults ----------------------------------------------------------------
  bool alive(unsigned i) const { return alive_[i]; }
  bool unavailable(unsigned i) const;  // RAFT_UNAVAILABLE: cannot recover in the fixture
  // Servers that went RAFT_UNAVAILABLE (an io fault hit a write libraft
  // cannot continue without). The fixture cannot restart a raft instance,
  // so they are killed for good: a crashed process that never comes back.
  unsigned lost_count() const;
  void Kill(unsigned i);
  void Revive(unsigned i);
  void Disconnect(unsigned i, unsigned j);  // both directions
  void Reconnect(unsigned i, unsigned j);
  bool cut(unsigned i, unsigned j) const { return cut_[i][j]; }
  void SetDiskLatency(unsigned i, unsigned ms);
  void SetNetworkLatency(unsigned i, unsigned ms);
  void SetElectionTimeout(unsigned i, unsigned ms);  // the fixture's "random" value
  // Fails server i's io call number `delay` and the `repeat` - 1 after it
  // (raft_fixture_io_fault's semantics, injected by the harness: see StubIo
  // in sim_cluster.cc for why and which calls).
  void IoFault(unsigned i, int delay, int repeat);
  void ClearIoFault(unsigned i);
  // Leader clock = fixture time + skew (clamped at 0).
  void SetClockSkew(unsigned i, int64_t skew_ms) { skew_ms_[i] = skew_ms; }
  uint64_t LeaderClock(unsigned i) const;
  // raft_fixture_depose when its preconditions hold; false otherwise.
  bool Depose();
  // raft_fixture_elect when its preconditions hold; false otherwise.
  bool Elect(unsigned i);
  // Everything back to normal: revive all, reconnect all, no io faults,
  // default latencies.
  void HealAll();

  // ---- clients -----------------------------------------------------------------
  // Submits the commands to server i's Dispatcher as one loop turn (as
  // forwarded commands: a non-leader refuses them) and ends the turn, so
  // they are proposed as one batch stamped with i's leader clock. nullptr
  // when it was refused synchronously (not the leader, raft_apply failed).
  const SimProposal* Propose(unsigned i, std::vector<sm::Argv> commands);
  const std::deque<std::unique_ptr<SimProposal>>& proposals() const { return proposals_; }

  // ---- audit -----------------------------------------------------------------
  void set_reference_observer(ReferenceObserver obs) { ref_observer_ = std::move(obs); }
  const sm::StateMachine& reference() const { return ref_sm_; }
  uint64_t reference_index() const { return ref_index_; }
  const LockAudit& lock_audit() const { return lock_audit_; }
  const QueueAudit& queue_audit() const { return queue_audit_; }
  // Committed command entries seen so far (index -> bytes).
  size_t committed_commands() const { return committed_commands_; }
  // Records a violation (the first one is kept with the recent trace).
  void Fail(const std::string& what);
  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  // A short log of recent actions, printed with a failure.
  void Trace(std::string line);
  std::string RecentTrace() const;
  // One line per server: alive, role, term, commit/applied/last index.
  std::string Describe() const;

  // Heals, then steps until every live replica applied the same last index
  // and the cluster is idle; then checks equal snapshots on all of them and
  // against the reference. Returns the common applied index (0 on failure).
  uint64_t ConvergeAndCheck(uint64_t max_ms = 120000);

 private:
  friend class SimFsm;
  friend class SimFsm::SimProposer;
  friend class SimFsm::SimForwarding;
  friend struct StubIo;
  struct IoFaultState {
    int countdown = -1;  // calls to let through first; -1 = no fault armed
    int repeat = 0;      // calls to fail once the countdown reaches 0
  };
  struct LogRecord {
    bool command = false;
    std::string bytes;
    unsigned first_server = 0;
  };

  void OnApply(unsigned server, uint64_t index, std::string_view entry, const sm::Batch* batch,
               const std::vector<sm::Reply>& replies, const sm::Events& events,
               uint64_t state_hash);
  void OnRestore(unsigned server, std::string_view bytes, const sm::StateMachine& restored);
  void RecordLog(uint64_t index, bool command, std::string_view bytes, unsigned server);
  void CheckFingerprint(uint64_t index, uint64_t fp, const std::string& who);
  // Every replica (and the reference) must produce the same events at index.
  void CheckEvents(uint64_t index, const sm::Events& events, const std::string& who);
  // The lock checkers on one replica's (or the reference's) state.
  void CheckLocks(const std::string& who, const sm::StateMachine& sm);
  // The queue checkers on one replica's (or the reference's) state.
  void CheckQueues(const std::string& who, const sm::StateMachine& sm);
  void AdvanceReference();
  void OnProposalDone(SimProposal* p);
  // A follower's forwarded command reaches the dispatcher of the server
  // with raft id `leader` (server leader - 1) at once, as LOCKQ.FORWARD does.
  void Deliver(uint64_t leader, sm::Argv argv, dispatch::Forwarding::ReplyCb cb);
  // Server i's Proposer: raft_apply of the framed entry for proposing_ (or
  // for an entry of the dispatcher's own, e.g. LeaderDuties').
  Result<uint64_t> RaftPropose(unsigned i, std::string_view entry, dispatch::Proposer::DoneCb done);
  // A reply callback of command k of `p` fired.
  void OnReply(SimProposal* p, size_t k);
  void AfterStep();
  bool TickIoFault(unsigned i, const char* method);  // true: fail this io call
  void SyncNetwork();
  static void HookCb(struct raft_fixture* f, struct raft_fixture_event* event) noexcept;

  SimOptions options_;
  std::mt19937_64 rng_;
  uint64_t nonce_;
  struct Box;
  std::unique_ptr<Box> box_;  // the raft_fixture, plus a back pointer for the hook
  std::vector<std::unique_ptr<SimFsm>> fsms_;
  std::vector<std::unique_ptr<consensus::FsmAdapter>> adapters_;
  std::vector<std::unique_ptr<consensus::IoGuard>> guards_;
  std::vector<bool> alive_;
  std::vector<bool> lost_;
  std::vector<std::vector<bool>> cut_;            // wanted partition
  std::vector<std::vector<bool>> fixture_cut_;    // applied to the fixture
  std::vector<int64_t> skew_ms_;
  std::vector<IoFaultState> io_faults_;
  struct ApplyReq;
  std::deque<std::unique_ptr<ApplyReq>> reqs_;  // raft_apply requests libraft points into
  std::deque<std::unique_ptr<SimProposal>> proposals_;
  SimProposal* proposing_ = nullptr;  // inside Propose(): what the SimProposer submits
  uint64_t next_proposal_id_ = 0;
  bool closing_ = false;

  std::map<uint64_t, LogRecord> log_;                // committed entries seen
  std::map<uint64_t, std::pair<uint64_t, std::string>> fingerprints_;  // index -> (fp, who)
  std::map<uint64_t, uint64_t> state_hashes_;        // sm applied_index -> snapshot hash
  std::map<uint64_t, std::pair<std::string, std::string>> events_;  // index -> (encoded, who)
  size_t committed_commands_ = 0;
  sm::StateMachine ref_sm_;
  uint64_t ref_index_ = 0;  // highest raft index the reference has passed
  ReferenceObserver ref_observer_;
  LockAudit lock_audit_;
  QueueAudit queue_audit_;

  std::string failure_;
  std::deque<std::string> trace_;
};

}  // namespace lockq::testing
