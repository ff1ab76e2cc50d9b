#pragma once
// Core: lockqd's wiring of the request path. The logic lives in src/dispatch
// (docs/architecture.md): dispatch::Dispatcher (group commit, routing to the
// leader, apply and events fan-out) and dispatch::LeaderDuties (expiry,
// announce, incarnation, node-down). Core owns what ties them to the process:
//
//   - the consensus::Node, seen by the dispatcher as a dispatch::Proposer;
//   - the consensus::Fsm that hands committed entries to Dispatcher::Apply;
//   - the Forwarder (a dispatch::Forwarding to the leader's RESP port);
//   - the loop handles: a uv_check that ends every loop turn
//     (Dispatcher::EndOfTurn: group commit) and a uv_timer every
//     LeaderDuties::kTickMs (Dispatcher::Tick, LeaderDuties::Tick).
//
// Its methods are the front ends' (RESP, AMQP) view of the request path and
// forward to the Dispatcher; see dispatch/dispatcher.h for the contract
// (every callback fires exactly once; TRYAGAIN when leadership is lost).
//
// Thread: all methods and callbacks on the server's loop.

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "consensus/fsm.h"
#include "consensus/node.h"
#include "dispatch/dispatcher.h"
#include "dispatch/leader_duties.h"
#include "server/auth_gate.h"
#include "server/config.h"
#include "server/loop_lag.h"
#include "sm/command.h"
#include "sm/reply.h"
#include "sm/state_machine.h"

namespace lockq::server {

class Forwarder;

class Core {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  using EventsCb = std::function<void(const sm::Events&)>;

  Core(uv_loop_t* loop, const Config& config);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  Status Start();
  void Stop(std::function<void()> done);

  // Dispatcher::WrapAs, SubmitCleanup, Submit (dispatch/dispatcher.h).
  sm::Argv WrapAs(uint64_t conn, uint64_t slot, sm::Argv argv) {
    return dispatcher_->WrapAs(conn, slot, std::move(argv));
  }
  void SubmitCleanup(sm::Argv argv, int attempts = 20) { dispatcher_->SubmitCleanup(std::move(argv), attempts); }
  // `may_forward` false: the command was forwarded here (LOCKQ.FORWARD):
  // TRYAGAIN rather than forward, and never proposed past its deadline.
  void Submit(sm::Argv argv, ReplyCb cb, bool may_forward = true) {
    dispatcher_->Submit(std::move(argv), std::move(cb), may_forward);
  }

  // Every front end (RESP, AMQP) receives the events of every applied
  // entry (sm/events.h), after the entry's replies went to their callbacks.
  void AddEventsListener(EventsCb cb) { dispatcher_->AddEventsListener(std::move(cb)); }
  // Called after every role change of this node, with the leader it knows
  // (0: none). The AMQP front end closes its connections when it changes.
  using RoleCb = std::function<void(consensus::Role role, uint64_t leader_id)>;
  void AddRoleListener(RoleCb cb) { on_role_.push_back(std::move(cb)); }
  // Called when the cluster declared this node down while it lived (it was
  // cut off or stopped): the state of its clients is gone, so the front
  // ends close their connections and the clients reconnect.
  void AddRevokedListener(std::function<void()> cb) { duties_->AddRevokedListener(std::move(cb)); }

  const sm::StateMachine& state() const { return dispatcher_->state(); }
  uint64_t nonce() const { return dispatcher_->nonce(); }
  consensus::Node& node() { return *node_; }
  // The raft port's peer links: the RESP front end takes the forward channel.
  net::PeerEndpoint& peers() { return *peers_; }
  // Node `id`'s raft address in the current configuration ("" if unknown).
  std::string PeerAddress(uint64_t id) const;
  const Config& config() const { return config_; }
  // The login check, ACL LOG and brute-force brake every protocol shares.
  AuthGate& auth() { return auth_; }
  uint64_t batches_proposed() const { return dispatcher_->batches_proposed(); }
  uint64_t commands_proposed() const { return dispatcher_->commands_proposed(); }
  uint64_t commands_forwarded() const { return dispatcher_->commands_forwarded(); }
  // Each loop turn's busy time (loop_lag.h; INFO "latency").
  LoopLag& loop_lag() { return loop_lag_; }

 private:
  class NodeProposer;
  class DispatchFsm;

  static void CheckCb(uv_check_t* h) noexcept;
  static void TickCb(uv_timer_t* h) noexcept;
  void OnRoleChange(consensus::Role role, uint64_t leader_id);

  uv_loop_t* loop_;
  Config config_;
  std::unique_ptr<net::PeerEndpoint> peers_;  // outlives the Node and the Forwarder
  // Destroyed bottom-up: the Node first (it calls the Fsm), then the
  // Forwarder (its last callbacks may submit again), while the dispatcher
  // they call into still lives.
  std::unique_ptr<NodeProposer> proposer_;
  std::unique_ptr<dispatch::Dispatcher> dispatcher_;
  std::unique_ptr<dispatch::LeaderDuties> duties_;
  std::unique_ptr<DispatchFsm> fsm_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<consensus::Node> node_;
  uv_check_t check_ {};
  uv_timer_t tick_ {};
  LoopLag loop_lag_{loop_};
  std::vector<RoleCb> on_role_;
  AuthGate auth_{this, config_};
};

// Milliseconds since the Unix epoch (SystemClock().WallMs()): uptime and
// INFO fields only; intervals use SystemClock().MonotonicMs().
uint64_t WallClockMs();

}  // namespace lockq::server
