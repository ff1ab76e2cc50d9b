// AMQP listener, event fan-out and leader-change handling (amqp_server.h).

#include "server/amqp_server.h"

#include <spdlog/spdlog.h>

#include "server/amqp_connection.h"
#include "server/core.h"
#include "server/forwarder.h"

namespace lockq::server {

namespace {
constexpr unsigned kTickMs = 1000;  // heartbeats are in seconds (section 4.2.7)
}  // namespace

AmqpServer::AmqpServer(uv_loop_t* loop, Core* core, const Config& config)
    : loop_(loop), core_(core), config_(config) {}

AmqpServer::~AmqpServer() = default;

Status AmqpServer::Listen() {
  core_->AddEventsListener([this](const sm::Events& events) { OnEvents(events); });
  core_->AddRoleListener([this](consensus::Role role, uint64_t leader) { OnRoleChange(role, leader); });
  core_->AddRevokedListener([this] {
    auto conns = conns_;
    for (auto& [id, c] : conns) c->ForceClose(320, "CONNECTION_FORCED - this node was declared down; reconnect");
  });
  std::string addr;
  Status s = ListenTcp(loop_, &listener_, this, config_.bind, config_.amqp_port, &AmqpServer::AcceptCb, &addr);
  if (!s.ok()) return s;
  listening_ = true;
  uv_check_init(loop_, &flush_);
  flush_.data = this;
  uv_check_start(&flush_, &AmqpServer::CheckCb);
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, &AmqpServer::TickCb, kTickMs, kTickMs);
  spdlog::info("amqp: listening on {}", addr);
  return Status::Ok();
}

void AmqpServer::Close() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_check_stop(&flush_);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  auto conns = conns_;
  for (auto& [id, c] : conns) c->CloseNow();
}

void AmqpServer::AcceptCb(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<AmqpServer*>(listener->data);
  if (status != 0) return;
  auto conn = std::make_shared<AmqpConnection>(self, self->next_id_++);
  uv_tcp_init(self->loop_, conn->tcp());
  conn->tcp()->data = conn.get();
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0 ||
      self->conns_.size() >= self->config_.limits.max_clients) {
    conn->self_ref_ = conn;  // the handle lives in conn: keep it until closed
    uv_close(reinterpret_cast<uv_handle_t*>(conn->tcp()), [](uv_handle_t* h) {
      auto ref = std::move(static_cast<AmqpConnection*>(h->data)->self_ref_);
    });
    return;
  }
  uv_tcp_nodelay(conn->tcp(), 1);
  self->conns_[conn->id()] = conn;
  conn->Start();
}

void AmqpServer::Forget(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  // Its channels' consumers and unacked messages go (unacked come back,
  // redelivered); its exclusive queues are deleted.
  if (it->second->used_queues()) {
    core_->SubmitCleanup(core_->WrapAs(id, 0, {"Q.DISCONNECT"}));
  }
  conns_.erase(it);
}

void AmqpServer::MarkDirty(AmqpConnection* conn) { dirty_.push_back(conn->weak_from_this()); }

void AmqpServer::CheckCb(uv_check_t* h) noexcept {
  auto* self = static_cast<AmqpServer*>(h->data);
  self->UpdateBlocked();
  if (self->dirty_.empty()) return;
  auto dirty = std::move(self->dirty_);
  self->dirty_.clear();
  for (auto& w : dirty) {
    if (auto c = w.lock()) c->FlushOutput();
  }
}

void AmqpServer::TickCb(uv_timer_t* h) noexcept {
  auto* self = static_cast<AmqpServer*>(h->data);
  uint64_t now = WallClockMs();
  auto conns = self->conns_;
  for (auto& [id, c] : conns) c->Tick(now);
}

void AmqpServer::OnEvents(const sm::Events& events) {
  uint64_t me = core_->node().id();
  uint64_t nonce = core_->nonce();
  for (const sm::Event& e : events) {
    if (e.kind != sm::Event::Kind::kPush || e.client.node != me || e.client.nonce != nonce) continue;
    auto it = conns_.find(e.client.conn);
    if (it == conns_.end() || e.client.slot > UINT16_MAX) continue;
    it->second->OnPush(static_cast<uint16_t>(e.client.slot), e.reply);
  }
}

// The high-water mark (RabbitMQ's memory alarm): past it, connections
// that publish stop being read and are told connection.blocked; below 90%
// of it they are told connection.unblocked and read again. Consumers keep
// being served, so acks can drain the queues.
void AmqpServer::UpdateBlocked() {
  uint64_t bytes = core_->state().queue_bytes();
  uint64_t high = config_.limits.queue_high_water_bytes;
  bool want = blocked_ ? bytes >= high / 10 * 9 : bytes >= high;
  if (want == blocked_) return;
  blocked_ = want;
  spdlog::warn("amqp: queues hold {} bytes; publishers {}", bytes, blocked_ ? "blocked" : "unblocked");
  auto conns = conns_;
  for (auto& [id, c] : conns) c->SetBlocked(blocked_);
}

void AmqpServer::OnRoleChange(consensus::Role role, uint64_t leader_id) {
  // Closed when another leader is known, not when this node merely lost
  // track of it: the clients then reconnect to a working cluster, and a
  // node cut off from the majority answers TRYAGAIN (320) on its own.
  if (leader_id == 0 || leader_id == last_leader_) return;
  bool changed = last_leader_ != 0;
  last_leader_ = leader_id;
  if (!changed || conns_.empty()) return;
  spdlog::info("amqp: leader changed; closing {} connection(s) so that clients reconnect", conns_.size());
  auto conns = conns_;
  for (auto& [id, c] : conns) c->ForceClose(320, "CONNECTION_FORCED - leader changed; reconnect");
}

}  // namespace lockq::server
