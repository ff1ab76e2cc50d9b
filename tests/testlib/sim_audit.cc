// SimCluster's checkers: failure reporting, the trace, and the audit of
// every apply and restore against the committed log and a reference replay
// (docs/simulation.md).

#include <algorithm>
#include <map>
#include <sstream>

#include "common/check.h"
#include "consensus/entry_frame.h"
#include "testlib/sim_cluster.h"
#include "testlib/sim_internal.h"

namespace lockq::testing {

using sim_internal::kTraceMax;
using sim_internal::LogEntryAt;
using sim_internal::Who;

// ---- audit ---------------------------------------------------------------------

void SimCluster::Fail(const std::string& what) {
  if (!failure_.empty()) return;
  failure_ = what + " (sim time " + std::to_string(now_ms()) + " ms)";
}

void SimCluster::Trace(std::string line) {
  trace_.push_back("t=" + std::to_string(now_ms()) + " " + std::move(line));
  // LOCKQ_SIM_TRACE=1 streams the trace to stderr (for crashes in libraft).
  static const bool stream = std::getenv("LOCKQ_SIM_TRACE") != nullptr;
  if (stream) std::fprintf(stderr, "[sim] %s\n", trace_.back().c_str());
  if (trace_.size() > kTraceMax) trace_.pop_front();
}

std::string SimCluster::RecentTrace() const {
  std::ostringstream out;
  for (const auto& line : trace_) out << "  " << line << "\n";
  return out.str();
}

void SimCluster::OnApply(unsigned server, uint64_t index, std::string_view entry,
                         const sm::Batch* batch, const std::vector<sm::Reply>& replies,
                         const sm::Events& events, uint64_t state_hash) {
  // raft_fixture_close can still apply entries; the test's observer (and
  // the model it feeds) may already be gone, and the run is over anyway.
  if (closing_) return;
  const SimFsm& fsm = *fsms_[server];
  const struct raft* r = raft(server);
  if (batch == nullptr) {
    Fail(Who(server) + ": entry " + std::to_string(index) + " does not decode");
    return;
  }
  // The adapter derives the index from raft_last_applied()+1: check it
  // against the replica's own log.
  const struct raft_entry* e = LogEntryAt(r->log, index);
  std::optional<std::string_view> framed_payload;
  if (e != nullptr) framed_payload = consensus::ReadFrame(std::string_view(static_cast<const char*>(e->buf.base), e->buf.len));
  if (e == nullptr || e->type != RAFT_COMMAND || !framed_payload || *framed_payload != entry) {
    Fail(Who(server) + ": Apply(" + std::to_string(index) +
         ") got bytes that are not the command entry at that index of its raft log");
    return;
  }
  // Entries between the previous apply (or the restored snapshot) and this
  // one were applied too, without reaching the Fsm: they must not be commands.
  uint64_t prev = fsm.restored_since_apply_ ? r->log.snapshot.last_index : fsm.last_apply_index_;
  if (prev >= index) {
    Fail(Who(server) + ": applied index " + std::to_string(index) + " after " +
         std::to_string(prev) + " (not increasing)");
    return;
  }
  for (uint64_t j = prev + 1; j < index; j++) {
    const struct raft_entry* gap = LogEntryAt(r->log, j);
    if (gap == nullptr) continue;
    if (gap->type == RAFT_COMMAND) {
      Fail(Who(server) + ": command entry " + std::to_string(j) + " was never applied");
      return;
    }
    RecordLog(j, false, {}, server);
  }
  RecordLog(index, true, entry, server);
  state_hashes_.emplace(index, state_hash);
  CheckFingerprint(index, Fnv1a64(sm::EncodeReplies(replies), state_hash), Who(server));
  CheckEvents(index, events, Who(server));
  AdvanceReference();
  // The reference has passed `index`, so the lock model has too.
  CheckLocks(Who(server), fsm.sm());
  CheckQueues(Who(server), fsm.sm());
}

void SimCluster::CheckQueues(const std::string& who, const sm::StateMachine& sm) {
  if (failed()) return;
  std::string err = queue_audit_.CheckReplica(sm);
  if (!err.empty()) Fail("queue audit: " + who + " " + err);
  err = queue_audit_.CheckCounts(who, sm);
  if (!err.empty()) Fail("queue audit: " + err);
}

void SimCluster::CheckLocks(const std::string& who, const sm::StateMachine& sm) {
  if (failed()) return;
  std::string err = lock_audit_.CheckReplica(sm);
  if (!err.empty()) Fail("lock audit: " + who + " " + err);
}

void SimCluster::OnRestore(unsigned server, std::string_view bytes,
                           const sm::StateMachine& restored) {
  if (closing_) return;
  if (restored.Snapshot() != bytes) {
    Fail(Who(server) + ": restored state does not re-serialize to the snapshot it came from");
    return;
  }
  // The snapshot must equal the state every replica had after applying the
  // same last command.
  auto it = state_hashes_.find(restored.applied_index());
  if (restored.applied_index() != 0 && it != state_hashes_.end() &&
      it->second != Fnv1a64(bytes)) {
    Fail(Who(server) + ": restored a snapshot that differs from the state at index " +
         std::to_string(restored.applied_index()));
  }
  Trace(Who(server) + " restored snapshot at sm index " +
        std::to_string(restored.applied_index()));
  CheckLocks(Who(server), restored);
  CheckQueues(Who(server), restored);
}

void SimCluster::RecordLog(uint64_t index, bool command, std::string_view bytes,
                           unsigned server) {
  auto [it, inserted] = log_.try_emplace(index, LogRecord{command, std::string(bytes), server});
  if (inserted) {
    if (command) committed_commands_++;
    return;
  }
  if (it->second.command != command || it->second.bytes != bytes) {
    Fail("log divergence at index " + std::to_string(index) + ": " + Who(server) +
         " applied " + (command ? "a command" : "a non-command entry") + " that differs from " +
         Who(it->second.first_server) + "'s");
  }
}

void SimCluster::CheckFingerprint(uint64_t index, uint64_t fp, const std::string& who) {
  auto [it, inserted] = fingerprints_.try_emplace(index, fp, who);
  if (!inserted && it->second.first != fp) {
    Fail("state divergence at index " + std::to_string(index) + ": " + who +
         " has a different snapshot or replies than " + it->second.second);
  }
}

namespace {
// Events as bytes, to compare replicas (kind, client, topic, reply).
std::string EncodeEvents(const sm::Events& events) {
  std::string out;
  for (const sm::Event& e : events) {
    out += std::to_string(static_cast<int>(e.kind)) + " " + std::to_string(e.client.node) + "/" +
           std::to_string(e.client.nonce) + "/" + std::to_string(e.client.conn) + "/" +
           std::to_string(e.client.slot) + " " + std::to_string(e.topic.size()) + ":" + e.topic +
           " " + sm::EncodeReplies({e.reply}) + "\n";
  }
  return out;
}
}  // namespace

void SimCluster::CheckEvents(uint64_t index, const sm::Events& events, const std::string& who) {
  std::string bytes = EncodeEvents(events);
  auto [it, inserted] = events_.try_emplace(index, bytes, who);
  if (!inserted && it->second.first != bytes) {
    Fail("event divergence at index " + std::to_string(index) + ": " + who +
         " produced other events than " + it->second.second + ":\n" + bytes + "vs\n" +
         it->second.first);
  }
}

void SimCluster::AdvanceReference() {
  for (;;) {
    auto it = log_.find(ref_index_ + 1);
    if (it == log_.end()) return;
    uint64_t index = ref_index_ + 1;
    ref_index_ = index;
    if (!it->second.command) continue;
    auto batch = sm::DecodeBatch(it->second.bytes);
    if (!batch.ok()) {
      Fail("reference: committed entry " + std::to_string(index) + " does not decode");
      return;
    }
    std::vector<sm::Reply> replies = ref_sm_.Apply(batch.value(), index);
    sm::Events events = ref_sm_.TakeEvents();
    uint64_t state_hash = Fnv1a64(ref_sm_.Snapshot());
    CheckFingerprint(index, Fnv1a64(sm::EncodeReplies(replies), state_hash), "reference");
    CheckEvents(index, events, "reference");
    // The lock model follows the committed log; the reference is checked
    // against it first (before the test's observer decodes its snapshot).
    std::string lock_err = lock_audit_.OnCommitted(index, batch.value(), replies, events,
                                                   ref_sm_.LastEventMarks(), ref_sm_.now_ms());
    if (!lock_err.empty()) Fail("lock audit: " + lock_err);
    CheckLocks("reference", ref_sm_);
    std::string queue_err = queue_audit_.OnCommitted(index, batch.value(), replies, events,
                                                     ref_sm_.LastEventMarks());
    if (!queue_err.empty()) Fail("queue audit: " + queue_err);
    CheckQueues("reference", ref_sm_);
    if (ref_observer_) ref_observer_(index, batch.value(), replies, ref_sm_);
  }
}

uint64_t SimCluster::ConvergeAndCheck(uint64_t max_ms) {
  HealAll();
  uint64_t deadline = now_ms() + max_ms;
  // Commit a no-op through a stable leader: then every earlier entry is
  // committed too (Raft thesis 3.6.2, Leader Completeness).
  const SimProposal* noop = nullptr;
  while (!failed() && now_ms() < deadline) {
    if (!StepUntil([&] { return StableLeader() >= 0; }, deadline - now_ms())) break;
    noop = Propose(static_cast<unsigned>(StableLeader()), {{"LOCKQ.NOOP"}});
    if (noop == nullptr) {
      StepN(1);
      continue;
    }
    StepUntil([&] { return noop->done; }, std::min<uint64_t>(10000, deadline - now_ms()));
    if (noop->done && noop->status == 0) break;
  }
  if (failed()) return 0;
  if (noop == nullptr || !noop->done || noop->status != 0) {
    Fail("no stable leader committed an entry within " + std::to_string(max_ms) +
         " ms after healing");
    return 0;
  }
  auto live = [&](unsigned i) { return alive_[i] && !unavailable(i); };
  auto settled = [&] {
    int l = StableLeader();
    if (l < 0) return false;
    struct raft* lr = raft(l);
    if (raft_last_index(lr) != lr->commit_index) return false;
    for (unsigned i = 0; i < size(); i++) {
      if (live(i) && raft_last_applied(raft(i)) != lr->commit_index) return false;
    }
    return true;
  };
  if (!StepUntil(settled, deadline > now_ms() ? deadline - now_ms() : 1)) {
    if (!failed()) Fail("replicas did not converge on one applied index after healing");
    return 0;
  }
  uint64_t applied = raft_last_applied(raft(StableLeader()));
  std::string leader_snapshot = fsms_[StableLeader()]->sm().Snapshot();
  for (unsigned i = 0; i < size(); i++) {
    if (!live(i)) {
      Trace(Who(i) + " is unavailable (io fault) and left out of the final check");
      continue;
    }
    if (fsms_[i]->sm().Snapshot() != leader_snapshot) {
      Fail(Who(i) + ": final snapshot differs from the leader's at index " +
           std::to_string(applied));
      return 0;
    }
  }
  if (ref_index_ != applied) {
    Fail("reference replay stopped at index " + std::to_string(ref_index_) + ", replicas at " +
         std::to_string(applied) + " (gap in the observed committed log)");
    return 0;
  }
  if (ref_sm_.Snapshot() != leader_snapshot) {
    Fail("final replica state differs from the reference replay");
    return 0;
  }
  // Every proposal is committed at most once; acknowledged ones exactly once.
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> committed_at;  // (node, seq) -> index
  for (const auto& [index, rec] : log_) {
    if (!rec.command) continue;
    auto batch = sm::DecodeBatch(rec.bytes);
    if (!batch.ok() || batch->origin.nonce != nonce_) continue;
    if (!committed_at.emplace(std::make_pair(batch->origin.node_id, batch->origin.seq), index).second) {
      Fail("proposal of node " + std::to_string(batch->origin.node_id) + " seq " +
           std::to_string(batch->origin.seq) + " committed twice");
      return 0;
    }
  }
  for (const auto& p : proposals_) {
    if (p->done && p->status == 0 && committed_at.count({p->origin.node_id, p->origin.seq}) == 0) {
      Fail("acknowledged proposal #" + std::to_string(p->id) + " is not in the committed log");
      return 0;
    }
  }
  return applied;
}

}  // namespace lockq::testing
