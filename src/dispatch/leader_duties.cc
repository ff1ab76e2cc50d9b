#include "dispatch/leader_duties.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "common/error_class.h"
#include "sm/acl_store.h"

namespace lockq::dispatch {

namespace {

constexpr const char* kExpireBatchKeys = "1000";

}  // namespace

LeaderDuties::LeaderDuties(Dispatcher& dispatcher, LeaderDutiesOptions options)
    : dispatcher_(dispatcher),
      proposer_(dispatcher.proposer()),
      clock_(dispatcher.clock()),
      options_(std::move(options)),
      acl_boot_digest_(sm::AclBootDigest(options_.acl_boot_lines)) {
  dispatcher_.AddEventsListener([this](const sm::Events& events) { WatchIncarnations(events); });
  dispatcher_.AddLeadershipHook([this](bool leader) { OnLeadership(leader); });
}

void LeaderDuties::Tick() {
  MaybeProposeExpiry();
  MaybeAnnounceIncarnation();
  MaybeDeclareNodesDown();
  MaybeBootstrapAcl();
}

void LeaderDuties::MaybeBootstrapAcl() {
  if (!proposer_.is_leader() || !announced_ || acl_boot_in_flight_ || acl_boot_refused_) return;
  if (dispatcher_.state().acl().boot_digest() == acl_boot_digest_) return;
  acl_boot_in_flight_ = true;
  sm::Argv argv{"LOCKQ.ACLBOOT"};
  argv.insert(argv.end(), options_.acl_boot_lines.begin(), options_.acl_boot_lines.end());
  spdlog::info("leader: proposing the users of --aclfile/--requirepass ({} lines)", options_.acl_boot_lines.size());
  dispatcher_.Submit(std::move(argv), [this](sm::Reply r) {
    acl_boot_in_flight_ = false;
    if (!r.is_error()) return;
    // The state machine's answer is final; only "not executed" is retried.
    acl_boot_refused_ = !IsTryAgain(r.str);
    spdlog::warn("leader: ACL bootstrap failed ({}){}", r.str, acl_boot_refused_ ? "" : "; will retry");
  }, /*may_forward=*/false);
}

void LeaderDuties::OnLeadership(bool leader) {
  if (!leader) {
    announced_ = false;
    return;
  }
  if (announced_) return;
  // Tell every replica where clients reach the leader (for forwarding).
  announced_ = true;
  spdlog::info("leader: announcing client address {}", options_.resp_addr);
  dispatcher_.Submit({"LOCKQ.ANNOUNCE", std::to_string(proposer_.id()), options_.resp_addr},
                     [this](sm::Reply r) {
                       if (!r.is_error()) return;
                       spdlog::warn("leader: announce failed ({}); will retry", r.str);
                       announced_ = false;
                     },
                     /*may_forward=*/false);
}

// Our own LOCKQ.INCARNATION marks this process live in the log; a later
// declaration of this node as down (nonce 0) means the cluster dropped our
// clients' waiters, consumers and deliveries while we were cut off. Those
// connections would now wait forever, so they are closed (clients
// reconnect and start over) and the incarnation is announced again.
void LeaderDuties::WatchIncarnations(const sm::Events& events) {
  for (const sm::Event& e : events) {
    if (e.kind != sm::Event::Kind::kChange || e.topic != sm::kIncarnationTopic || e.client.node != proposer_.id()) {
      continue;
    }
    if (e.client.nonce == dispatcher_.nonce()) {
      incarnation_live_ = true;
    } else if (e.client.nonce == 0 && (incarnation_live_ || dispatcher_.clients_may_hold_state())) {
      dispatcher_.ForgetClientState();
      spdlog::warn("the cluster declared this node down; closing client connections");
      incarnation_live_ = false;
      incarnation_sent_ = false;  // the next tick announces us again
      for (auto& cb : on_revoked_) cb();
    }
  }
}

// Once per process: waiters that earlier incarnations of this node queued
// for their clients leave their queues (those connections died with them).
void LeaderDuties::MaybeAnnounceIncarnation() {
  if (incarnation_sent_ || proposer_.leader_id() == 0) return;
  incarnation_sent_ = true;
  dispatcher_.Submit({"LOCKQ.INCARNATION", std::to_string(proposer_.id()), std::to_string(dispatcher_.nonce())},
                     [this](sm::Reply r) {
                       if (r.is_error()) incarnation_sent_ = false;  // the next tick retries
                     });
}

// libraft sets recent_recv on every answer and clears it every election
// timeout, so a live voter reads true on most 50 ms ticks. Silence is
// measured on the monotonic clock: a wall clock stepped back by an hour
// must not make `now - heard` wrap and declare live voters down.
void LeaderDuties::MaybeDeclareNodesDown() {
  auto contacts = proposer_.VoterContacts();
  if (contacts.empty()) {
    heard_ms_.clear();  // not leading: a new leader gives everyone a full grace period
    declared_down_.clear();
    return;
  }
  uint64_t now = clock_.MonotonicMs();
  for (const auto& [id, recent] : contacts) {
    auto [it, fresh] = heard_ms_.try_emplace(id, now);
    if (recent) {
      it->second = now;
      declared_down_.erase(id);
      continue;
    }
    if (fresh || declared_down_.count(id) != 0 || now - it->second < options_.node_down_ms) continue;
    declared_down_.insert(id);
    spdlog::warn("node {} has not answered for {} ms: declaring it down", id, now - it->second);
    dispatcher_.SubmitCleanup({"LOCKQ.INCARNATION", std::to_string(id), "0"});
  }
}

// Expiry compares the state machine's clock (the max of leader_time_ms
// stamped on batches, wall time) with this leader's wall clock: the same
// clock its batches carry.
void LeaderDuties::MaybeProposeExpiry() {
  if (!proposer_.is_leader() || expiry_in_flight_) return;
  uint64_t next = dispatcher_.state().next_expiry_ms();
  if (next == 0 || next > clock_.WallMs()) return;
  expiry_in_flight_ = true;
  dispatcher_.Submit({"LOCKQ.EXPIRE", kExpireBatchKeys}, [this](sm::Reply) { expiry_in_flight_ = false; },
                     /*may_forward=*/false);
}

}  // namespace lockq::dispatch
