// AMQP listener, event fan-out and leader-change handling (amqp_server.h).

#include "server/amqp/amqp_server.h"

#include <spdlog/spdlog.h>

#include "server/amqp/amqp_connection.h"
#include "server/core.h"
#include "server/listen_options.h"

namespace lockq::server {

namespace {
constexpr unsigned kTickMs = 1000;  // heartbeats are in seconds (section 4.2.7)
}  // namespace

namespace {
net::Listener::Options AmqpListenerOptions(const Config& config, int port, const Clock& clock,
                                           std::shared_ptr<net::TlsContext> tls = nullptr) {
  net::Listener::Options o = ListenerOptions(config, port, std::move(tls));
  o.conn.clock = &clock;
  o.conn.render_marks = &AmqpConnection::RenderConfirms;
  return o;
}
}  // namespace

AmqpServer::AmqpServer(uv_loop_t* loop, Core* core, const Config& config, const Clock& clock,
                       std::shared_ptr<net::TlsContext> tls)
    : loop_(loop),
      core_(core),
      config_(config),
      clock_(clock),
      listener_(loop, AmqpListenerOptions(config, config.amqp_port, clock),
                [this](std::shared_ptr<net::StreamConnection> s) { Accept(std::move(s)); }) {
  // The high-water mark is checked once per turn, before output is written.
  listener_.flush().set_before_flush([this] { UpdateBlocked(); });
  if (tls && config.tls.amqps_port > 0) {
    tls_listener_ = std::make_unique<net::Listener>(
        loop, AmqpListenerOptions(config, config.tls.amqps_port, clock, std::move(tls)),
        [this](std::shared_ptr<net::StreamConnection> s) { Accept(std::move(s)); });
    tls_listener_->flush().set_before_flush([this] { UpdateBlocked(); });
  }
}

AmqpServer::~AmqpServer() = default;

Status AmqpServer::Listen() {
  core_->AddEventsListener([this](const sm::Events& events) { OnEvents(events); });
  core_->AddRoleListener([this](consensus::Role role, uint64_t leader) { OnRoleChange(role, leader); });
  core_->AddRevokedListener([this] {
    auto conns = conns_;
    for (auto& [id, c] : conns) c->ForceClose(320, "CONNECTION_FORCED - this node was declared down; reconnect");
  });
  Status s = ListenAll("amqp", listener_, config_.amqp_port != 0, tls_listener_.get());
  if (!s.ok()) return s;
  listening_ = true;
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, &AmqpServer::TickCb, kTickMs, kTickMs);
  return Status::Ok();
}

void AmqpServer::Close() {
  if (!listening_) return;
  listening_ = false;
  listener_.Close();
  if (tls_listener_) tls_listener_->Close();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  auto conns = conns_;
  for (auto& [id, c] : conns) c->CloseNow();
}

void AmqpServer::Accept(std::shared_ptr<net::StreamConnection> stream) {
  auto conn = std::make_shared<AmqpConnection>(this, next_id_++, std::move(stream), clock_);
  conns_[conn->id()] = conn;
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

void AmqpServer::TickCb(uv_timer_t* h) noexcept {
  auto* self = static_cast<AmqpServer*>(h->data);
  auto conns = self->conns_;
  for (auto& [id, c] : conns) c->Tick();
}

void AmqpServer::OnEvents(const sm::Events& events) {
  uint64_t me = core_->node().id();
  uint64_t nonce = core_->nonce();
  for (const sm::Event& e : events) {
    if (e.kind == sm::Event::Kind::kChange && e.topic == sm::kAclUserDeletedTopic) {
      CloseConnections(&AmqpConnection::user, e.reply.str, "user '" + e.reply.str + "' was deleted");
      continue;
    }
    if (e.kind == sm::Event::Kind::kChange && e.topic == sm::kVhostDeletedTopic) {
      CloseConnections(&AmqpConnection::vhost, e.reply.str, "vhost '" + e.reply.str + "' is deleted");
      continue;
    }
    if (e.kind != sm::Event::Kind::kPush || e.client.node != me || e.client.nonce != nonce) continue;
    auto it = conns_.find(e.client.conn);
    if (it == conns_.end() || e.client.slot > UINT16_MAX) continue;
    it->second->OnPush(static_cast<uint16_t>(e.client.slot), e.reply);
  }
}

// ACL DELUSER (or a bootstrap that drops the user) or LOCKQ.VHOST DELETE
// applied: as RabbitMQ, the user's or vhost's connections close.
void AmqpServer::CloseConnections(const std::string& (AmqpConnection::*field)() const, const std::string& value,
                                  const std::string& why) {
  auto conns = conns_;
  size_t closed = 0;
  for (auto& [id, c] : conns) {
    if (((*c).*field)() != value) continue;
    c->ForceClose(320, "CONNECTION_FORCED - " + why);
    closed++;
  }
  if (closed > 0) spdlog::info("amqp: {}; closed {} connection(s)", why, closed);
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
