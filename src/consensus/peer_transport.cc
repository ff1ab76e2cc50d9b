#include "consensus/peer_transport.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <functional>
#include <vector>

namespace lockq::consensus {

PeerTransport::PeerTransport(uv_loop_t* loop, net::PeerEndpoint* endpoint) : loop_(loop), endpoint_(endpoint) {
  transport_.impl = this;
  transport_.init = [](struct raft_uv_transport*, raft_id, const char*) { return 0; };
  transport_.listen = [](struct raft_uv_transport* t, raft_uv_accept_cb cb) {
    PeerTransport* self = From(t);
    self->accept_ = cb;
    self->endpoint_->SetHandler(net::PeerChannel::kRaft, [self](net::PeerLink link) {
      struct uv_stream_s* stream = self->Wrap(link.fd);
      if (stream == nullptr) return;
      self->accept_(&self->transport_, link.id, link.address.c_str(), stream);
    });
    return 0;
  };
  transport_.connect = [](struct raft_uv_transport* t, struct raft_uv_connect* req, raft_id, const char* address,
                          raft_uv_connect_cb cb) {
    PeerTransport* self = From(t);
    std::weak_ptr<bool> alive = self->alive_;
    auto dial = self->endpoint_->Dial(address, net::PeerChannel::kRaft, [self, alive, req](Status st, net::PeerLink link) {
      if (alive.expired()) {
        if (link.fd >= 0) ::close(link.fd);
        return;
      }
      auto it = self->dials_.find(req);
      if (it == self->dials_.end()) {
        if (link.fd >= 0) ::close(link.fd);
        return;
      }
      raft_uv_connect_cb done = it->second.cb;
      self->dials_.erase(it);
      if (!st.ok()) {
        spdlog::debug("raft: {}", st.ToString());
        done(req, nullptr, RAFT_NOCONNECTION);
        return;
      }
      struct uv_stream_s* stream = self->Wrap(link.fd);
      done(req, stream, stream == nullptr ? RAFT_NOCONNECTION : 0);
    });
    self->dials_[req] = Dial{std::move(dial), cb};
    return 0;
  };
  transport_.close = [](struct raft_uv_transport* t, raft_uv_transport_close_cb cb) { From(t)->Close(cb); };
}

PeerTransport::~PeerTransport() {
  endpoint_->SetHandler(net::PeerChannel::kRaft, nullptr);
  for (auto& [req, d] : dials_) d.dial->Cancel();
}

struct uv_stream_s* PeerTransport::Wrap(uv_os_sock_t fd) {
  auto* tcp = static_cast<uv_tcp_t*>(raft_malloc(sizeof(uv_tcp_t)));
  if (tcp == nullptr) {
    ::close(fd);
    return nullptr;
  }
  uv_tcp_init(loop_, tcp);
  int rv = uv_tcp_open(tcp, fd);
  if (rv != 0) {
    spdlog::warn("raft: cannot adopt a peer socket: {}", uv_strerror(rv));
    ::close(fd);
    uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { raft_free(h); });
    return nullptr;
  }
  return reinterpret_cast<struct uv_stream_s*>(tcp);
}

void PeerTransport::Close(raft_uv_transport_close_cb cb) {
  endpoint_->SetHandler(net::PeerChannel::kRaft, nullptr);
  std::vector<std::pair<struct raft_uv_connect*, raft_uv_connect_cb>> cancelled;
  for (auto& [req, d] : dials_) {
    d.dial->Cancel();
    cancelled.emplace_back(req, d.cb);
  }
  dials_.clear();
  struct raft_uv_transport* t = &transport_;
  net::RunLater(loop_, [cancelled, t, cb] {
    for (auto& [req, done] : cancelled) done(req, nullptr, RAFT_CANCELED);
    cb(t);
  });
}

}  // namespace lockq::consensus
