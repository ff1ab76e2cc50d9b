// SimFsm (sim_cluster.h): one simulated server's host for the real
// dispatch::Dispatcher (and, with SimOptions::leader_duties, the real
// LeaderDuties), with the seams it runs through: the fixture's clock, a
// Proposer over the fixture's raft and a Forwarding that delivers at once.
// Split from sim_cluster.cc, which drives the cluster and its faults.

#include "testlib/sim_cluster.h"

// libraft 0.15's headers have no extern "C" guards.
extern "C" {
#include <raft.h>
#include <raft/fixture.h>
}

#include "consensus/leader_view.h"
#include "testlib/sim_internal.h"

namespace lockq::testing {

using sim_internal::Who;

// The fixture's global clock; this server's wall clock runs skewed
// (SimCluster::SetClockSkew): the leader_time_ms its batches carry.
class SimFsm::SimClock final : public Clock {
 public:
  SimClock(const SimCluster* c, unsigned server) : c_(c), server_(server) {}
  uint64_t MonotonicMs() const override { return c_->now_ms(); }
  uint64_t WallMs() const override { return c_->LeaderClock(server_); }

 private:
  const SimCluster* c_;
  unsigned server_;
};

class SimFsm::SimProposer final : public dispatch::Proposer {
 public:
  SimProposer(SimCluster* c, unsigned server) : c_(c), server_(server) {}
  Result<uint64_t> Propose(std::string_view entry, DoneCb done) override {
    return c_->RaftPropose(server_, entry, std::move(done));
  }
  bool is_leader() const override { return raft_state(c_->raft(server_)) == RAFT_LEADER; }
  uint64_t leader_id() const override {
    raft_id id = 0;
    const char* address = nullptr;
    raft_leader(c_->raft(server_), &id, &address);
    return id;
  }
  uint64_t id() const override { return server_ + 1; }
  std::vector<std::pair<uint64_t, bool>> VoterContacts() const override {
    return consensus::VoterContactsOf(c_->raft(server_));
  }

 private:
  SimCluster* c_;
  unsigned server_;
};

class SimFsm::SimForwarding final : public dispatch::Forwarding {
 public:
  explicit SimForwarding(SimCluster* c) : c_(c) {}
  void Send(uint64_t leader, sm::Argv argv, ReplyCb cb, uint64_t) override {
    forwarded_++;
    c_->Deliver(leader, std::move(argv), std::move(cb));
  }
  void Flush() override {}
  void Reset(const std::string&, bool) override {}  // nothing is ever held
  size_t ExpireDeadlines() override { return 0; }    // delivered at once
  uint64_t forwarded() const override { return forwarded_; }

 private:
  SimCluster* c_;
  uint64_t forwarded_ = 0;
};

SimFsm::SimFsm(SimCluster* cluster, unsigned server, uint64_t nonce, const SimOptions& sim)
    : cluster_(cluster),
      server_(server),
      clock_(std::make_unique<SimClock>(cluster, server)),
      proposer_(std::make_unique<SimProposer>(cluster, server)) {
  if (sim.leader_duties) forwarding_ = std::make_unique<SimForwarding>(cluster);
  dispatch::DispatcherOptions options;
  options.nonce = nonce;
  // One workload turn, one entry: the auditors and recorded seeds count on
  // it (the in-flight cap itself is unit-tested, tests/unit/dispatch).
  options.max_in_flight_batches = SIZE_MAX;
  options.fork_snapshots = sim.fork_snapshots;
  dispatcher_ = std::make_unique<dispatch::Dispatcher>(*proposer_, forwarding_.get(), *clock_, options);
  dispatcher_->SetApplyObserver([this](uint64_t index, std::string_view entry, const sm::Batch* batch,
                                       const std::vector<sm::Reply>& replies, const sm::Events& events) {
    // Every replica must produce the same events for the same index
    // (SimCluster::OnApply checks).
    cluster_->OnApply(server_, index, entry, batch, replies, events, Fnv1a64(sm().Snapshot()));
  });
  if (sim.leader_duties) {
    duties_ = std::make_unique<dispatch::LeaderDuties>(
        *dispatcher_, dispatch::LeaderDutiesOptions{"sim:" + std::to_string(server), sim.node_down_ms});
  }
}

SimFsm::~SimFsm() = default;

void SimFsm::Drive() {
  bool leader = proposer_->is_leader();
  uint64_t leader_id = proposer_->leader_id();
  if (leader != leader_ || leader_id != leader_id_) {
    leader_ = leader;
    leader_id_ = leader_id;
    dispatcher_->OnRoleChange(leader, leader_id);
    dispatcher_->EndOfTurn();
  }
  if (cluster_->now_ms() < next_tick_ms_) return;
  next_tick_ms_ = cluster_->now_ms() + dispatch::LeaderDuties::kTickMs;
  // As lockqd's Core::TickCb.
  dispatcher_->Tick();
  duties_->Tick();
  if (leader && !duties_->announced()) dispatcher_->OnRoleChange(true, leader_id);
  dispatcher_->EndOfTurn();
}

void SimFsm::Apply(uint64_t index, std::string_view entry) {
  dispatcher_->Apply(index, entry);
  last_apply_index_ = index;
  restored_since_apply_ = false;
}

std::function<std::string()> SimFsm::PrepareSnapshot() { return dispatcher_->PrepareSnapshot(); }

Status SimFsm::Restore(std::string_view bytes) {
  Status s = dispatcher_->Restore(bytes);
  if (s.ok()) {
    OnRestored(bytes);
  } else {
    cluster_->Fail(Who(server_) + ": restoring a snapshot failed: " + s.ToString());
  }
  return s;
}

// As lockqd's Core::DispatchFsm: the fixture runs Decode as its io's async
// work (at a later step), and Install when libraft restores.
namespace {
struct DetachedSm final : consensus::Fsm::Detached {
  explicit DetachedSm(std::unique_ptr<sm::StateMachine::Detached> s) : sm(std::move(s)) {}
  std::unique_ptr<sm::StateMachine::Detached> sm;
};
}  // namespace

std::unique_ptr<consensus::Fsm::Detached> SimFsm::Decode(std::string_view bytes) {
  auto decoded = sm::StateMachine::Decode(bytes);
  if (!decoded.ok()) return nullptr;
  decodes_++;
  return std::make_unique<DetachedSm>(std::move(decoded).value());
}

std::unique_ptr<consensus::Fsm::Detached> SimFsm::Install(std::string_view bytes, std::unique_ptr<Detached> decoded) {
  auto& sm = static_cast<DetachedSm&>(*decoded).sm;
  sm = dispatcher_->Install(std::move(sm));
  OnRestored(bytes);
  return decoded;
}

void SimFsm::OnRestored(std::string_view bytes) {
  restored_since_apply_ = true;
  cluster_->OnRestore(server_, bytes, sm());
}

}  // namespace lockq::testing
