#include "server/resp/resp_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/resp/resp_session.h"
#include "server/core.h"
#include "server/errors.h"
#include "server/forwarder.h"
#include "server/listen_options.h"
#include "common/hex.h"
#include "lockq/grant.h"
#include "server/resp/local_commands.h"
#include "common/strings.h"
#include "sm/acl_store.h"
#include "sm/acl_user.h"
#include "sm/errors.h"
#include "sm/state_machine.h"

namespace lockq::server {

RespServer::RespServer(uv_loop_t* loop, Core* core, const Config& config, std::shared_ptr<net::TlsContext> tls)
    : loop_(loop),
      core_(core),
      config_(config),
      listener_(
          loop, ListenerOptions(config, config.resp_port),
          [this](std::shared_ptr<net::StreamConnection> s) { Accept(std::move(s)); },
          [this](std::shared_ptr<net::StreamConnection> s) { Reject(std::move(s)); }) {
  if (tls && config.tls.port != 0) {
    tls_listener_ = std::make_unique<net::Listener>(
        loop, ListenerOptions(config, config.tls.port, std::move(tls)),
        [this](std::shared_ptr<net::StreamConnection> s) { Accept(std::move(s)); },
        [this](std::shared_ptr<net::StreamConnection> s) { Reject(std::move(s)); });
  }
}

RespServer::~RespServer() = default;

Status RespServer::Listen() {
  started_ms_ = WallClockMs();
  core_->AddEventsListener([this](const sm::Events& events) { OnEvents(events); });
  core_->AddRevokedListener([this] {  // declared down while cut off (docs/queues.md)
    auto conns = conns_;
    for (auto& [id, c] : conns) c->CloseNow();
  });
  Status s = ListenAll("resp", listener_, config_.resp_port != 0, tls_listener_.get());
  if (!s.ok()) return s;
  listening_ = true;
  // Followers' LOCKQ.FORWARD links arrive on the raft port, authenticated
  // (net/peer_link.h); only those sessions may run it.
  core_->peers().SetHandler(net::PeerChannel::kForward, [this](net::PeerLink link) { AdoptPeer(std::move(link)); });
  uv_timer_init(loop_, &backstop_timer_);
  backstop_timer_.data = this;
  uv_timer_start(&backstop_timer_, &RespServer::BackstopCb, 100, 100);
  uv_timer_init(loop_, &delayed_timer_);
  delayed_timer_.data = this;
  return Status::Ok();
}

void RespServer::Close() {
  if (!listening_) return;
  listening_ = false;
  core_->peers().SetHandler(net::PeerChannel::kForward, nullptr);
  listener_.Close();
  if (tls_listener_) tls_listener_->Close();
  uv_close(reinterpret_cast<uv_handle_t*>(&backstop_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&delayed_timer_), nullptr);
  delayed_.clear();
  auto conns = conns_;
  for (auto& [id, c] : conns) c->CloseNow();
}

void RespServer::Accept(std::shared_ptr<net::StreamConnection> stream) {
  if (ProtectedModeRefuses(stream->PeerName())) {
    stats_.protected_mode_refused++;
    RefuseWith(*stream, kErrProtectedMode);
    return;
  }
  auto conn = std::make_shared<RespSession>(this, next_id_++, std::move(stream));
  conns_[conn->id()] = conn;
  conn->Start();
  stats_.connections_accepted++;
}

void RespServer::AdoptPeer(net::PeerLink link) {
  auto stream = listener_.Adopt(link.fd);
  if (!stream.ok()) {
    spdlog::warn("resp: forward link from node {}: {}", link.id, stream.status().ToString());
    return;
  }
  auto conn = std::make_shared<RespSession>(this, next_id_++, std::move(stream.value()));
  conn->set_peer_node(link.id);
  conns_[conn->id()] = conn;
  peer_count_++;
  conn->Start();
  spdlog::debug("resp: forward link from node {} ({})", link.id, link.address);
}

// Past --max-clients: the client is told why, then closed.
void RespServer::Reject(std::shared_ptr<net::StreamConnection> stream) {
  stats_.connections_rejected++;
  RefuseWith(*stream, kErrMaxClients);
}

void RespServer::RefuseWith(net::StreamConnection& stream, const char* error) {
  std::string bytes;
  resp::WriteReply(sm::Reply::Error(error), 2, &bytes);
  stream.Start(nullptr);
  stream.Fill(stream.ReserveSlot(), std::move(bytes));
  stream.CloseAfterWrite();
}

void RespServer::Forget(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  RespSession& c = *it->second;
  // Requests still waiting for a lock leave their queues.
  for (uint64_t slot : c.deferred()) ProposeCancel(RefOf(id, slot));
  if (c.used_queues()) core_->SubmitCleanup(core_->WrapAs(id, 0, {"Q.DISCONNECT"}));
  auto watching = c.watching();
  for (const std::string& election : watching) Unobserve(c, election);
  if (c.peer_node() != 0) peer_count_--;
  conns_.erase(it);
}

void RespServer::Dispatch(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot) {
  if (argv.empty()) {
    conn->Fill(slot, sm::Reply::Error("ERR empty command"));
    return;
  }
  // Redis processCommand: before authentication only AUTH, HELLO, QUIT
  // and RESET run (their handlers decide what they allow). A follower's
  // forward link is a peer session, authenticated by the peer handshake
  // (net/peer_link.h); its commands keep their LOCKQ.USER wrappers and are
  // checked at apply.
  if (conn->peer_node() == 0 && !Authenticated(*conn) && !IsNoAuthCommand(argv[0])) {
    conn->Fill(slot, sm::Reply::Error(std::string(sm::errors::kNoAuth)));
    return;
  }
  if (RunLocalCommand(*this, conn, argv, slot)) return;
  if (auto err = sm::StateMachine::Precheck(argv, /*from_client=*/true)) {
    conn->Fill(slot, *err);
    return;
  }
  if (auto denied = CheckPermission(*conn, argv)) {
    conn->Fill(slot, *denied);
    return;
  }
  // Cleartext passwords stay out of the log (docs/security.md).
  if (argv.size() > 3 && EqualsIgnoreCase(argv[0], "ACL") && EqualsIgnoreCase(argv[1], "SETUSER")) {
    for (size_t i = 3; i < argv.size(); i++) argv[i] = sm::HashCleartextRule(argv[i]);
  }
  if (sm::StateMachine::NeedsSigningKeySecret(argv)) {
    // The key's bytes are drawn here, on the node the operator asked, and
    // travel in the entry, so every replica stores the same key (apply
    // never draws randomness: docs/locks.md "Signed grants").
    Result<std::string> secret = NewGrantKeySecret();
    if (!secret.ok()) {
      conn->Fill(slot, sm::Reply::Error("ERR " + secret.status().message()));
      return;
    }
    argv.insert(argv.end(), {"KEY", HexEncode(*secret)});
  }
  const sm::CommandSpec* spec = sm::StateMachine::FindCommand(argv[0]);
  if (spec->flags & sm::kCmdClientRef) {
    SubmitWithClient(conn, std::move(argv), slot);
    return;
  }
  if (spec->flags & sm::kCmdChannelRef) {
    SubmitForChannel(conn, std::move(argv), slot);
    return;
  }
  std::weak_ptr<RespSession> weak = conn;
  core_->Submit(WrapUser(*conn, std::move(argv)), [weak, slot](sm::Reply reply) {
    if (auto c = weak.lock()) c->Fill(slot, reply);
  });
}

}  // namespace lockq::server
