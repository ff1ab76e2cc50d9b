#include "server/core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "common/clock.h"
#include "server/errors.h"
#include "server/forwarder.h"

namespace lockq::server {

uint64_t WallClockMs() { return SystemClock().WallMs(); }

// The dispatcher's view of the Raft node (created in Start()).
class Core::NodeProposer final : public dispatch::Proposer {
 public:
  explicit NodeProposer(const std::unique_ptr<consensus::Node>& node) : node_(node) {}
  Result<uint64_t> Propose(std::string_view entry, DoneCb done) override {
    return node_->Propose(entry, std::move(done));
  }
  bool is_leader() const override { return node_ != nullptr && node_->is_leader(); }
  uint64_t leader_id() const override { return node_ == nullptr ? 0 : node_->leader_id(); }
  uint64_t id() const override { return node_->id(); }
  std::vector<std::pair<uint64_t, bool>> VoterContacts() const override { return node_->VoterContacts(); }

 private:
  const std::unique_ptr<consensus::Node>& node_;
};

// consensus's Fsm: committed entries, snapshots and restores go to the
// dispatcher's state machine.
class Core::DispatchFsm final : public consensus::Fsm {
 public:
  explicit DispatchFsm(dispatch::Dispatcher& d) : d_(d) {}
  void Apply(uint64_t index, std::string_view entry) override { d_.Apply(index, entry); }
  std::function<std::string()> PrepareSnapshot() override { return d_.PrepareSnapshot(); }
  Status Restore(std::string_view bytes) override { return d_.Restore(bytes); }
  std::unique_ptr<Detached> Decode(std::string_view bytes) override {
    auto decoded = sm::StateMachine::Decode(bytes);
    if (!decoded.ok()) return nullptr;  // Restore reports it
    return std::make_unique<DetachedSm>(std::move(decoded).value());
  }
  std::unique_ptr<Detached> Install(std::string_view, std::unique_ptr<Detached> decoded) override {
    auto& sm = static_cast<DetachedSm&>(*decoded).sm;
    sm = d_.Install(std::move(sm));
    return decoded;  // now holding the replaced state
  }

 private:
  struct DetachedSm final : Detached {
    explicit DetachedSm(std::unique_ptr<sm::StateMachine::Detached> s) : sm(std::move(s)) {}
    std::unique_ptr<sm::StateMachine::Detached> sm;
  };
  dispatch::Dispatcher& d_;
};

namespace {

// Tells this process's batches apart from an earlier incarnation's.
uint64_t NewNonce() {
  std::random_device rd;
  uint64_t nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ SystemClock().WallMs();
  return nonce == 0 ? 1 : nonce;  // an all-zero sm::ClientRef means "no client"
}

}  // namespace

Core::Core(uv_loop_t* loop, const Config& config) : loop_(loop), config_(config) {
  net::PeerOptions peer_options{config_.node_id, config_.raft_addr, config_.peer.secret};
  peer_options.allowed_cn = config_.peer.allowed_cn;
  // A cut or stalled peer link is dropped and dialed again after about two
  // election timeouts of unacknowledged bytes (docs/architecture.md "Peer links").
  peer_options.link_timeout_ms = std::max(1000u, 2 * config_.election_timeout_ms);
  peer_options.member_address = [this](uint64_t id) { return PeerAddress(id); };
  peers_ = std::make_unique<net::PeerEndpoint>(loop, std::move(peer_options));
  proposer_ = std::make_unique<NodeProposer>(node_);
  forwarder_ = std::make_unique<Forwarder>(
      loop, peers_.get(), [this](uint64_t id) { return PeerAddress(id); },
      [this](sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) {
        dispatcher_->Requeue(std::move(argv), std::move(cb), deadline_ms);
      });
  dispatch::DispatcherOptions options;
  options.nonce = NewNonce();
  options.fork_snapshots = true;
  options.no_leader_timeout_ms = config_.limits.no_leader_timeout_ms;
  options.max_batch_bytes = config_.limits.max_batch_bytes;
  dispatcher_ = std::make_unique<dispatch::Dispatcher>(*proposer_, forwarder_.get(), SystemClock(), options);
  duties_ = std::make_unique<dispatch::LeaderDuties>(
      *dispatcher_,
      dispatch::LeaderDutiesOptions{config_.RespAddress(), config_.limits.node_down_ms, config_.acl_boot_lines});
  fsm_ = std::make_unique<DispatchFsm>(*dispatcher_);
}

Core::~Core() = default;

Status Core::Start() {
  auto opts = config_.ToNodeOptions();
  if (!opts.ok()) return opts.status();
  auto tls = config_.peer.Load();
  if (!tls.ok()) return tls.status();
  peers_->SetTls(tls->server, tls->client);
  Status listening = peers_->Listen();
  if (!listening.ok()) return listening;
  if (config_.peer.secret.empty() && !config_.peer.tls && (opts->initial_cluster.size() > 1 || opts->join)) {
    spdlog::warn("neither --cluster-secret nor --peer-tls: anyone who reaches {} can join this cluster's raft and "
                 "forward commands as any client (docs/security.md)", config_.raft_addr);
  }
  opts->peers = peers_.get();
  node_ = std::make_unique<consensus::Node>(loop_, std::move(opts.value()), fsm_.get());
  node_->SetRoleChangeCallback([this](consensus::Role role, uint64_t leader, uint64_t) { OnRoleChange(role, leader); });
  Status s = node_->Start();
  if (!s.ok()) return s;
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, &Core::CheckCb);
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, &Core::TickCb, dispatch::LeaderDuties::kTickMs, dispatch::LeaderDuties::kTickMs);
  loop_lag_.Start();
  return Status::Ok();
}

void Core::Stop(std::function<void()> done) {
  uv_check_stop(&check_);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  loop_lag_.Stop();
  dispatcher_->Stop();
  node_->Stop([this, done = std::move(done)] {
    peers_->Close();
    if (done) done();
  });
}

std::string Core::PeerAddress(uint64_t id) const {
  if (node_ == nullptr) return {};
  for (const consensus::MemberStatus& m : node_->GetStatus().members) {
    if (m.id == id) return m.address;
  }
  return {};
}

void Core::CheckCb(uv_check_t* h) noexcept { static_cast<Core*>(h->data)->dispatcher_->EndOfTurn(); }

void Core::OnRoleChange(consensus::Role role, uint64_t leader_id) {
  dispatcher_->OnRoleChange(role == consensus::Role::kLeader, leader_id);
  for (auto& cb : on_role_) cb(role, leader_id);
}

void Core::TickCb(uv_timer_t* h) noexcept {
  auto* self = static_cast<Core*>(h->data);
  self->dispatcher_->Tick();
  self->duties_->Tick();
  if (self->node_->is_leader() && !self->duties_->announced()) {
    self->OnRoleChange(consensus::Role::kLeader, self->node_->id());
  }
}

}  // namespace lockq::server
