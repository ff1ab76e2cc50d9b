#pragma once
// LeaderDuties: what a node proposes on its own, through the Dispatcher.
//
//  - Expiry (leader): when the state machine's next expiry is due by this
//    leader's wall clock (sm::StateMachine::next_expiry_ms() is in leader
//    time, the clock stamped on batches), one LOCKQ.EXPIRE at a time.
//  - Announce (leader): LOCKQ.ANNOUNCE tells every replica where clients
//    reach the leader (followers forward there); again until it succeeds.
//  - Incarnation (every node, once per process): LOCKQ.INCARNATION drops the
//    waiters earlier incarnations of this node queued for their clients.
//  - Node-down (leader): a voter that has not answered for --node-down-ms of
//    MONOTONIC time is declared down once (LOCKQ.INCARNATION id 0), so its
//    clients' lock waits, consumers and unacked messages do not wait for it
//    to restart. A wall clock stepped back declares nobody down.
//  - ACL bootstrap (leader): once announced, if the user store's
//    boot_digest differs from this node's --aclfile/--requirepass lines,
//    proposes LOCKQ.ACLBOOT with them (sm/acl_family.cc; applying it twice
//    is harmless). Nodes should share these flags: each new leader whose
//    flags differ resets the store to its own.
//  - Revoked: a later declaration of THIS node as down (nonce 0) after our
//    incarnation applied means the cluster dropped our clients' state while
//    we were cut off; the revoked listeners close those connections and the
//    incarnation is announced again.
//
// The host calls Tick() every kTickMs (after Dispatcher::Tick()) and, while
// the node leads but announced() is false, Dispatcher::OnRoleChange(true, id).
//
// Thread: the dispatcher's thread.

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "dispatch/dispatcher.h"
#include "sm/events.h"

namespace lockq::dispatch {

struct LeaderDutiesOptions {
  std::string resp_addr;         // this node's client address, announced when leading
  uint64_t node_down_ms = 10000;  // --node-down-ms
  std::vector<std::string> acl_boot_lines;  // server/acl_config.h
};

class LeaderDuties {
 public:
  static constexpr unsigned kTickMs = 50;  // expiry check, leader wait retries, node-down sampling

  // Registers with `dispatcher` (an events listener and a leadership hook);
  // construct it before anything else registers, so incarnations are
  // watched before the front ends see the events.
  LeaderDuties(Dispatcher& dispatcher, LeaderDutiesOptions options);
  LeaderDuties(const LeaderDuties&) = delete;
  LeaderDuties& operator=(const LeaderDuties&) = delete;

  void Tick();
  bool announced() const { return announced_; }
  void AddRevokedListener(std::function<void()> cb) { on_revoked_.push_back(std::move(cb)); }

 private:
  void OnLeadership(bool leader);
  void MaybeProposeExpiry();
  void MaybeAnnounceIncarnation();
  void MaybeDeclareNodesDown();
  void MaybeBootstrapAcl();
  void WatchIncarnations(const sm::Events& events);

  Dispatcher& dispatcher_;
  Proposer& proposer_;
  const Clock& clock_;
  LeaderDutiesOptions options_;
  bool expiry_in_flight_ = false;
  bool acl_boot_in_flight_ = false;
  bool acl_boot_refused_ = false;  // the state machine refused our lines: do not retry
  std::string acl_boot_digest_;  // sm::AclBootDigest(options_.acl_boot_lines)
  bool announced_ = false;
  bool incarnation_sent_ = false;
  bool incarnation_live_ = false;          // our LOCKQ.INCARNATION has applied
  std::map<uint64_t, uint64_t> heard_ms_;  // leader: voter -> last monotonic ms it answered
  std::set<uint64_t> declared_down_;       // leader: voters declared down, unheard since
  std::vector<std::function<void()>> on_revoked_;
};

}  // namespace lockq::dispatch
