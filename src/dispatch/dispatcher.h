#pragma once
// Dispatcher: the one way a command reaches the log.
//
//   Submit(argv, cb) ─ leader ──► group-commit batch ─► Proposer::Propose ─► Apply
//                    ├ follower ─► Forwarding (to the leader's RESP port)
//                    └ no leader ─► waiting (bounded in time and in number)
//
// Group commit: every command submitted during one event-loop turn joins one
// batch (one log entry, one fsync); the host calls EndOfTurn() after the loop
// processed that turn's I/O (lockqd: a uv_check handle), which proposes the
// batch unless kMaxInFlightBatches entries are already proposed and not yet
// applied: then the batch keeps growing until one applies. Reads travel the
// same path, so every reply is linearizable: it reflects the state at the
// entry's log index.
//
// Replies: Apply() produces one reply per command; if this node proposed the
// entry (same index, same origin) the callbacks get them, in order. Every
// callback passed to Submit fires exactly once: with the reply, or with a
// TRYAGAIN error (dispatch/errors.h) when leadership is lost before commit
// (the command may still commit), no leader shows up within
// --no-leader-timeout-ms, too many commands wait already (waiting_max), or
// the dispatcher stops.
//
// Forwarded commands (Submit with may_forward = false; the LOCKQ.FORWARD
// handler, issue 11 item 7): a follower forwarded them and gives up on them
// --no-leader-timeout-ms after it sent them. The dispatcher never proposes
// one after arrival + that bound (monotonic clock): past it, a command still
// unproposed (its batch held back by the in-flight cap, or leadership lost
// before it was proposed) is answered kErrNotLeader, not executed. So nothing
// a follower gave up on can enter the log later than this bound.
//
// Time: every interval on Clock::MonotonicMs(); Clock::WallMs() only for the
// leader_time_ms stamped on batches.
//
// Thread: every method and callback on one thread (lockqd's loop, the
// simulation's stepping thread). No libuv or libraft here: see proposer.h and
// forwarding.h for the seams.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "dispatch/forwarding.h"
#include "dispatch/proposer.h"
#include "sm/command.h"
#include "sm/events.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::dispatch {

// Log entries proposed but not yet applied. Past this, commands wait and
// join the next batch: while the disk is busy, arrivals pile into one
// larger entry instead of one small entry per (short) loop turn. Measured
// on 1 node, 50 clients: 256 in flight gave ~2.6 commands per entry, 35k
// SET/s, p99 3.6 ms; 4 gave ~9x larger entries, 41k SET/s, p99 1.7 ms, 20%
// less CPU. 3 nodes: no difference within noise.
inline constexpr size_t kMaxInFlightBatches = 4;

struct DispatcherOptions {
  // Tells this process's batches (and client refs) apart from an earlier
  // incarnation's; never 0 (an all-zero sm::ClientRef means "no client").
  uint64_t nonce = 1;
  uint64_t no_leader_timeout_ms = 3000;  // --no-leader-timeout-ms
  size_t max_batch_bytes = 8 << 20;      // --max-batch-bytes: one log entry
  // Commands waiting for a leader. Past it a command gets kErrTooManyWaiting
  // (not executed) instead of growing memory while the cluster has no leader.
  size_t waiting_max = 1 << 16;
  // kMaxInFlightBatches in lockqd. The simulation lifts it so that each of
  // its workload's turns stays one log entry, as its auditors and recorded
  // seeds expect.
  size_t max_in_flight_batches = kMaxInFlightBatches;
  // PrepareSnapshot freezes the state by fork() (fork_serializer.h) instead
  // of a deep copy: lockqd, so a snapshot never stalls its loop. Off in the
  // simulation by default (one fork per snapshot of every simulated node).
  bool fork_snapshots = false;
};

class Dispatcher {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  using EventsCb = std::function<void(const sm::Events&)>;
  // Runs inside OnRoleChange, after unproposed commands were rerouted and
  // before waiting ones are retried (LeaderDuties announces the leader here).
  using LeadershipHook = std::function<void(bool leader)>;
  // Sees every committed entry right after the state machine applied it and
  // before its replies go to their callbacks (batch null: the entry did not
  // decode). The simulation's auditors.
  using ApplyObserver = std::function<void(uint64_t index, std::string_view entry, const sm::Batch* batch,
                                           const std::vector<sm::Reply>& replies, const sm::Events& events)>;

  static constexpr size_t kMaxInFlightBatches = dispatch::kMaxInFlightBatches;

  // `proposer`, `forwarding` (may be null: followers then only wait for
  // leadership) and `clock` must outlive the dispatcher.
  Dispatcher(Proposer& proposer, Forwarding* forwarding, const Clock& clock, DispatcherOptions options);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // `LOCKQ.AS <this node> <this process> conn slot argv...`: argv run for
  // connection `conn` of this node (slot: the request's reply slot for
  // kCmdClientRef commands, the channel for kCmdChannelRef ones).
  sm::Argv WrapAs(uint64_t conn, uint64_t slot, sm::Argv argv);
  // WrapAs was called since the last ForgetClientState(): state in the log
  // may belong to this process's clients even before its own
  // LOCKQ.INCARNATION applied (LeaderDuties' revoke rule).
  bool clients_may_hold_state() const { return clients_may_hold_state_; }
  void ForgetClientState() { clients_may_hold_state_ = false; }

  // Runs a prechecked command through the log. `cb` fires exactly once.
  // `may_forward` false: the command was forwarded here; fail with
  // kErrNotLeader rather than forward it again, and never propose it later
  // than now + no_leader_timeout_ms (see above).
  void Submit(sm::Argv argv, ReplyCb cb, bool may_forward = true);
  // Submits an idempotent cleanup for a client that is gone (LOCKQ.CANCEL,
  // Q.CLOSE, Q.DISCONNECT) and submits it again while it fails with
  // TRYAGAIN, so a leader change cannot lose it (each attempt waits up to
  // no_leader_timeout_ms for a leader).
  void SubmitCleanup(sm::Argv argv, int attempts = 20);
  // Forwarding hands back a command it never sent: it waits for a leader
  // until `deadline_ms` (monotonic).
  void Requeue(sm::Argv argv, ReplyCb cb, uint64_t deadline_ms);

  // End of an event-loop turn: proposes this turn's batch (unless the
  // in-flight cap holds it back) and flushes forwarding.
  void EndOfTurn();
  // Periodic (every ~50 ms): retries commands waiting for a leader, fails
  // those past their deadline, answers forwarded commands past theirs.
  void Tick();
  // After every change of role or known leader (0: none).
  void OnRoleChange(bool leader, uint64_t leader_id);
  // Fails everything not yet proposed with kErrShuttingDown; later Submits
  // still work but SubmitCleanup stops retrying.
  void Stop();

  // The replicated state machine (consensus's Fsm, adapted by the host).
  void Apply(uint64_t index, std::string_view entry);
  std::function<std::string()> PrepareSnapshot();
  Status Restore(std::string_view bytes) { return sm_.Restore(bytes); }
  // Restore in two steps (sm::StateMachine::Decode on a worker, Install here).
  std::unique_ptr<sm::StateMachine::Detached> Install(std::unique_ptr<sm::StateMachine::Detached> decoded) {
    return sm_.Install(std::move(decoded));
  }

  // Every listener receives the events of every applied entry (sm/events.h),
  // after the entry's replies went to their callbacks, in registration order.
  void AddEventsListener(EventsCb cb) { on_events_.push_back(std::move(cb)); }
  void AddLeadershipHook(LeadershipHook hook) { on_leadership_.push_back(std::move(hook)); }
  void SetApplyObserver(ApplyObserver observer) { on_apply_ = std::move(observer); }

  const sm::StateMachine& state() const { return sm_; }
  Proposer& proposer() { return proposer_; }
  const Clock& clock() const { return clock_; }
  uint64_t nonce() const { return options_.nonce; }
  uint64_t no_leader_timeout_ms() const { return options_.no_leader_timeout_ms; }
  bool stopping() const { return stopping_; }
  uint64_t batches_proposed() const { return batches_proposed_; }
  uint64_t commands_proposed() const { return commands_proposed_; }
  uint64_t commands_forwarded() const { return forwarding_ == nullptr ? 0 : forwarding_->forwarded(); }
  size_t batched() const { return batch_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  size_t waiting() const { return waiting_.size(); }

 private:
  struct Pending {
    sm::Argv argv;
    ReplyCb cb;
    bool may_forward;
    uint64_t deadline_ms;  // monotonic: leader wait; for forwarded ones, the last moment to propose
  };
  struct InFlight {
    sm::BatchOrigin origin;
    std::vector<ReplyCb> cbs;
  };

  void Route(Pending p);
  void Wait(Pending p);
  void FlushBatch();
  // Answers forwarded commands in the batch whose deadline passed.
  void DropExpiredForwarded();
  // Routes again what was batched but not proposed (leadership lost).
  void Reroute(std::vector<Pending> pending);
  void RetryWaiting();
  void FailInFlight(uint64_t index, const std::string& error);
  uint64_t Deadline() const { return clock_.MonotonicMs() + options_.no_leader_timeout_ms; }

  Proposer& proposer_;
  Forwarding* forwarding_;
  const Clock& clock_;
  DispatcherOptions options_;
  sm::StateMachine sm_;
  uint64_t seq_ = 0;
  std::vector<Pending> batch_;
  size_t batch_bytes_ = 0;
  std::map<uint64_t, InFlight> in_flight_;  // by log index
  std::deque<Pending> waiting_;             // no usable leader yet
  bool stopping_ = false;
  std::vector<EventsCb> on_events_;
  std::vector<LeadershipHook> on_leadership_;
  ApplyObserver on_apply_;
  bool clients_may_hold_state_ = false;
  uint64_t batches_proposed_ = 0;
  uint64_t commands_proposed_ = 0;
};

}  // namespace lockq::dispatch
