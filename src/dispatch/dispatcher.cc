#include "dispatch/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "common/check.h"
#include "common/error_class.h"
#include "dispatch/errors.h"
#include "dispatch/fork_serializer.h"

namespace lockq::dispatch {

namespace {

// Not answered by the state machine (outcome table, common/error_class.h).
bool IsTryAgain(const sm::Reply& r) { return r.is_error() && lockq::IsTryAgain(r.str); }

}  // namespace

Dispatcher::Dispatcher(Proposer& proposer, Forwarding* forwarding, const Clock& clock, DispatcherOptions options)
    : proposer_(proposer), forwarding_(forwarding), clock_(clock), options_(options) {
  LOCKQ_CHECK(options_.nonce != 0);
}

sm::Argv Dispatcher::WrapAs(uint64_t conn, uint64_t slot, sm::Argv argv) {
  clients_may_hold_state_ = true;
  sm::Argv wrapped{"LOCKQ.AS", std::to_string(proposer_.id()), std::to_string(options_.nonce),
                   std::to_string(conn), std::to_string(slot)};
  wrapped.reserve(wrapped.size() + argv.size());
  for (std::string& a : argv) wrapped.push_back(std::move(a));
  return wrapped;
}

void Dispatcher::SubmitCleanup(sm::Argv argv, int attempts) {
  sm::Argv copy = argv;
  Submit(std::move(argv), [this, copy = std::move(copy), attempts](sm::Reply r) mutable {
    if (!r.is_error()) return;
    const std::string& what = copy[0] == "LOCKQ.AS" && copy.size() > 5 ? copy[5] : copy[0];
    if (IsTryAgain(r) && attempts != 1 && !stopping_) {
      if (cleanup_retries_.size() < options_.waiting_max) {
        // Next Tick, not now: a TRYAGAIN that comes at once (too many
        // waiting) must not turn into a loop on the stack.
        cleanup_retries_.push_back({std::move(copy), attempts > 1 ? attempts - 1 : 0});
        return;
      }
      spdlog::warn("{} dropped: {} cleanups already wait to be retried", what, cleanup_retries_.size());
      return;
    }
    spdlog::warn("{} failed: {}", what, r.str);
  });
}

void Dispatcher::Submit(sm::Argv argv, ReplyCb cb, bool may_forward) {
  Route(Pending{std::move(argv), std::move(cb), may_forward, Deadline()});
}

void Dispatcher::Requeue(sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) {
  Wait(Pending{std::move(argv), std::move(cb), true, deadline_ms});
}

void Dispatcher::Route(Pending p) {
  if (proposer_.is_leader()) {
    size_t bytes = sm::EncodedArgvBytes(p.argv);
    if (bytes > options_.max_batch_bytes) {
      p.cb(sm::Reply::Error(kErrBatchTooBig));
      return;
    }
    if (batch_bytes_ + bytes > options_.max_batch_bytes) FlushBatch();
    batch_bytes_ += bytes;
    batch_.push_back(std::move(p));
    return;
  }
  if (!p.may_forward) {
    p.cb(sm::Reply::Error(kErrNotLeader));
    return;
  }
  uint64_t leader = proposer_.leader_id();
  const auto& nodes = sm_.nodes();
  auto it = leader != 0 ? nodes.find(leader) : nodes.end();
  if (it != nodes.end() && leader != proposer_.id() && forwarding_ != nullptr) {
    forwarding_->Send(leader, std::move(p.argv), std::move(p.cb), p.deadline_ms);
    return;
  }
  // No leader, or its address is not announced yet: wait (bounded).
  Wait(std::move(p));
}

void Dispatcher::Wait(Pending p) {
  if (waiting_.size() >= options_.waiting_max) {
    p.cb(sm::Reply::Error(kErrTooManyWaiting));
    return;
  }
  waiting_.push_back(std::move(p));
}

void Dispatcher::EndOfTurn() {
  if (!batch_.empty() && in_flight_.size() < options_.max_in_flight_batches) FlushBatch();
  if (forwarding_ != nullptr) forwarding_->Flush();
}

void Dispatcher::Tick() {
  if (forwarding_ != nullptr) forwarding_->ExpireDeadlines();
  RetryWaiting();
  DropExpiredForwarded();
  std::vector<CleanupRetry> retries = std::move(cleanup_retries_);
  cleanup_retries_.clear();
  for (CleanupRetry& c : retries) SubmitCleanup(std::move(c.argv), c.attempts);
}

void Dispatcher::DropExpiredForwarded() {
  uint64_t now = clock_.MonotonicMs();
  auto is_expired = [now](const Pending& p) { return !p.may_forward && now >= p.deadline_ms; };
  if (std::none_of(batch_.begin(), batch_.end(), is_expired)) return;  // the usual case: one cheap pass
  std::vector<ReplyCb> expired;
  size_t kept = 0;
  batch_bytes_ = 0;
  for (Pending& p : batch_) {
    if (is_expired(p)) {
      expired.push_back(std::move(p.cb));
      continue;
    }
    batch_bytes_ += sm::EncodedArgvBytes(p.argv);
    if (&batch_[kept] != &p) batch_[kept] = std::move(p);
    kept++;
  }
  batch_.resize(kept);
  // Callbacks last: one may submit again, which appends to batch_.
  for (ReplyCb& cb : expired) cb(sm::Reply::Error(kErrNotLeader));
}

void Dispatcher::FlushBatch() {
  DropExpiredForwarded();
  if (batch_.empty()) return;
  std::vector<Pending> pending = std::move(batch_);
  batch_.clear();
  batch_bytes_ = 0;
  sm::Batch batch;
  batch.origin = {proposer_.id(), options_.nonce, ++seq_};
  batch.leader_time_ms = clock_.WallMs();
  batch.commands.reserve(pending.size());
  for (Pending& p : pending) batch.commands.push_back(std::move(p.argv));  // no copy on the hot path
  std::string entry = sm::EncodeBatch(batch);
  auto index = proposer_.Propose(entry, [this, origin = batch.origin](Status s) {
    if (s.ok()) return;  // Apply() answered
    for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
      if (it->second.origin == origin) {
        FailInFlight(it->first, kErrLeadershipLost);
        break;
      }
    }
  });
  if (!index.ok()) {
    // Lost leadership between Route and now: route each command again.
    for (size_t i = 0; i < pending.size(); i++) pending[i].argv = std::move(batch.commands[i]);
    Reroute(std::move(pending));
    return;
  }
  std::vector<ReplyCb> cbs;
  cbs.reserve(pending.size());
  for (Pending& p : pending) cbs.push_back(std::move(p.cb));
  batches_proposed_++;
  commands_proposed_ += cbs.size();
  in_flight_[index.value()] = InFlight{batch.origin, std::move(cbs)};
}

// Local commands get a fresh wait for the next leader. Forwarded ones are
// answered kErrNotLeader, not executed: never sent on a second hop, and not
// batched again either (Propose may fail while this node still reads as
// leader, e.g. during a leadership transfer; the follower retries).
void Dispatcher::Reroute(std::vector<Pending> pending) {
  for (Pending& p : pending) {
    if (!p.may_forward) {
      p.cb(sm::Reply::Error(kErrNotLeader));
      continue;
    }
    p.deadline_ms = Deadline();
    Route(std::move(p));
  }
}

void Dispatcher::FailInFlight(uint64_t index, const std::string& error) {
  auto it = in_flight_.find(index);
  if (it == in_flight_.end()) return;
  auto cbs = std::move(it->second.cbs);
  in_flight_.erase(it);
  for (auto& cb : cbs) {
    if (cb) cb(sm::Reply::Error(error));
  }
}

void Dispatcher::Apply(uint64_t index, std::string_view entry) {
  auto batch = sm::DecodeBatch(entry);
  if (!batch.ok()) {
    // Every replica sees the same bytes, so skipping keeps them identical.
    spdlog::error("apply: entry {} does not decode: {}", index, batch.status().ToString());
    if (on_apply_) on_apply_(index, entry, nullptr, {}, {});
    FailInFlight(index, kErrEntryUndecodable);
    return;
  }
  std::vector<sm::Reply> replies = sm_.Apply(batch.value(), index);
  sm::Events events = sm_.TakeEvents();
  if (on_apply_) on_apply_(index, entry, &batch.value(), replies, events);
  auto it = in_flight_.find(index);
  if (it != in_flight_.end() && it->second.origin == batch->origin) {
    auto cbs = std::move(it->second.cbs);
    in_flight_.erase(it);
    // One reply per command of the batch we proposed; anything else would
    // strand callbacks (clients waiting forever) or answer the wrong ones.
    LOCKQ_CHECK(cbs.size() == replies.size());
    for (size_t i = 0; i < cbs.size(); i++) {
      if (cbs[i]) cbs[i](std::move(replies[i]));
    }
  }
  // An entry may have announced the leader's address (LOCKQ.ANNOUNCE):
  // what waits for it goes now, not on the next tick. A node's own
  // LOCKQ.INCARNATION must not lag behind its clients' first commands.
  if (!waiting_.empty()) RetryWaiting();
  if (events.empty()) return;
  for (const EventsCb& cb : on_events_) cb(events);
}

std::function<std::string()> Dispatcher::PrepareSnapshot() {
  if (options_.fork_snapshots) {
    // The child reads its frozen image of sm_; the loop pays only the fork.
    uint64_t t0 = clock_.MonotonicMs();
    if (auto read = ForkSerializer([this] { return sm_.Snapshot(); })) {
      spdlog::info("snapshot at index {}: state frozen by fork in {} ms, serialized by the child",
                   sm_.applied_index(), clock_.MonotonicMs() - t0);
      return read;
    }
    spdlog::warn("snapshot: fork failed ({}); copying the state on the loop instead", std::strerror(errno));
  }
  auto copy = std::make_shared<sm::StateMachine>(sm_);
  return [copy]() { return copy->Snapshot(); };
}

void Dispatcher::OnRoleChange(bool leader, uint64_t leader_id) {
  if (!leader && !batch_.empty()) {
    // Commands batched while leader but not yet proposed: route elsewhere.
    std::vector<Pending> pending = std::move(batch_);
    batch_.clear();
    batch_bytes_ = 0;
    Reroute(std::move(pending));
  }
  for (const LeadershipHook& hook : on_leadership_) hook(leader);
  if (leader_id != 0 && forwarding_ != nullptr) forwarding_->Reset(kErrLeaderChanged);
  RetryWaiting();
}

void Dispatcher::RetryWaiting() {
  if (waiting_.empty()) return;
  std::deque<Pending> waiting = std::move(waiting_);
  waiting_.clear();
  uint64_t now = clock_.MonotonicMs();
  for (auto& p : waiting) {
    if (now >= p.deadline_ms) {
      p.cb(sm::Reply::Error(kErrNoLeader));
      continue;
    }
    Route(std::move(p));
  }
}

void Dispatcher::Stop() {
  stopping_ = true;
  cleanup_retries_.clear();  // the leader declares this node down, which cleans up after its clients
  if (forwarding_ != nullptr) forwarding_->Reset(kErrShutdownOutcomeUnknown, /*requeue_unsent=*/false);
  std::deque<Pending> waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& p : waiting) p.cb(sm::Reply::Error(kErrShuttingDown));
  std::vector<Pending> batch = std::move(batch_);
  batch_.clear();
  batch_bytes_ = 0;
  for (auto& p : batch) p.cb(sm::Reply::Error(kErrShuttingDown));
}

}  // namespace lockq::dispatch
