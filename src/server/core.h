#pragma once
// Core: the replicated heart of lockqd. It owns the state machine and the
// Raft node, and is the one way a command reaches the log:
//
//   Submit(argv, cb) ─ leader ──► group-commit batch ─► Node::Propose ─► Apply
//                    └ follower ─► Forwarder (to the leader's RESP port)
//
// Group commit: every command submitted during one event-loop turn joins one
// Batch (one log entry, one fsync); a uv_check handle proposes it after the
// loop has processed that turn's I/O. Reads travel the same path, so every
// reply is linearizable: it reflects the state at the entry's log index.
//
// Replies: the entry's Apply() produces one reply per command; if this node
// proposed the entry (same index, same origin) the callbacks get them.
// Leadership lost before commit: callbacks get a TRYAGAIN error (the command
// may still commit).
//
// Thread: all methods and callbacks on the server's loop.

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "consensus/fsm.h"
#include "consensus/node.h"
#include "server/config.h"
#include "sm/command.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::server {

class Forwarder;

class Core : public consensus::Fsm {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  using EventsCb = std::function<void(const sm::Events&)>;

  Core(uv_loop_t* loop, const Config& config);
  ~Core() override;
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  Status Start();
  void Stop(std::function<void()> done);

  // `LOCKQ.AS <this node> <this process> conn slot argv...`: argv run for
  // connection `conn` of this node (slot: the request's reply slot for
  // kCmdClientRef commands, the channel for kCmdChannelRef ones).
  sm::Argv WrapAs(uint64_t conn, uint64_t slot, sm::Argv argv);
  // Submits an idempotent cleanup for a client that is gone (LOCKQ.CANCEL,
  // Q.CLOSE, Q.DISCONNECT) and submits it again while it fails with
  // TRYAGAIN, so a leader change cannot lose it (each attempt waits up to
  // --no-leader-timeout-ms for a leader). A node that dies meanwhile is
  // covered by its next incarnation's LOCKQ.INCARNATION.
  void SubmitCleanup(sm::Argv argv, int attempts = 20);

  // Runs a prechecked command through the log. `cb` fires exactly once.
  // `may_forward` false: fail with TRYAGAIN rather than forward (used for
  // commands that were themselves forwarded here).
  void Submit(sm::Argv argv, ReplyCb cb, bool may_forward = true);

  // Every front end (RESP, AMQP) receives the events of every applied
  // entry (sm/events.h), after the entry's replies went to their callbacks.
  void AddEventsListener(EventsCb cb) { on_events_.push_back(std::move(cb)); }
  // Called after every role change of this node, with the leader it knows
  // (0: none). The AMQP front end closes its connections when it changes.
  using RoleCb = std::function<void(consensus::Role role, uint64_t leader_id)>;
  void AddRoleListener(RoleCb cb) { on_role_.push_back(std::move(cb)); }
  // Called when the cluster declared this node down while it lived (it was
  // cut off or stopped): the state of its clients is gone, so the front
  // ends close their connections and the clients reconnect.
  void AddRevokedListener(std::function<void()> cb) { on_revoked_.push_back(std::move(cb)); }

  const sm::StateMachine& state() const { return sm_; }
  uint64_t nonce() const { return nonce_; }
  consensus::Node& node() { return *node_; }
  const Config& config() const { return config_; }
  uint64_t batches_proposed() const { return batches_proposed_; }
  uint64_t commands_proposed() const { return commands_proposed_; }
  uint64_t commands_forwarded() const;

  // consensus::Fsm
  void Apply(uint64_t index, std::string_view entry) override;
  std::function<std::string()> PrepareSnapshot() override;
  Status Restore(std::string_view bytes) override;

 private:
  struct Pending {
    sm::Argv argv;
    ReplyCb cb;
    bool may_forward;
    uint64_t deadline_ms;  // for commands waiting for a leader
  };
  struct InFlight {
    sm::BatchOrigin origin;
    std::vector<ReplyCb> cbs;
  };

  static void CheckCb(uv_check_t* h) noexcept;
  static void TickCb(uv_timer_t* h) noexcept;
  void OnRoleChange(consensus::Role role, uint64_t leader_id);
  void FlushBatch();
  void Route(Pending p);
  void RetryWaiting();
  void FailInFlight(uint64_t index, const std::string& error);
  void MaybeProposeExpiry();
  void MaybeAnnounceIncarnation();
  void MaybeDeclareNodesDown();
  void WatchIncarnations(const sm::Events& events);

  uv_loop_t* loop_;
  Config config_;
  sm::StateMachine sm_;
  std::unique_ptr<consensus::Node> node_;
  std::unique_ptr<Forwarder> forwarder_;
  uv_check_t check_ {};
  uv_timer_t tick_ {};
  uint64_t nonce_ = 0;
  uint64_t seq_ = 0;
  std::vector<sm::Argv> batch_argv_;
  std::vector<ReplyCb> batch_cbs_;
  size_t batch_bytes_ = 0;
  std::map<uint64_t, InFlight> in_flight_;  // by log index
  std::deque<Pending> waiting_;             // no usable leader yet
  bool expiry_in_flight_ = false;
  bool announced_ = false;
  bool incarnation_sent_ = false;
  bool incarnation_live_ = false;           // our LOCKQ.INCARNATION has applied
  bool clients_may_hold_state_ = false;     // WrapAs since the last revoke
  std::map<uint64_t, uint64_t> heard_ms_;   // leader: voter -> last time it answered
  std::set<uint64_t> declared_down_;        // leader: voters declared down, unheard since
  std::vector<std::function<void()>> on_revoked_;
  bool stopping_ = false;
  std::vector<EventsCb> on_events_;
  std::vector<RoleCb> on_role_;
  uint64_t batches_proposed_ = 0;
  uint64_t commands_proposed_ = 0;
};

// Milliseconds since the Unix epoch: the leader's clock stamped on entries.
uint64_t WallClockMs();

}  // namespace lockq::server
