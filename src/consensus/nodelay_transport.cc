#include "consensus/nodelay_transport.h"

#include <cstring>
#include <unordered_map>

namespace lockq::consensus {

namespace {

void SetNodelay(struct uv_stream_s* stream) {
  if (stream != nullptr && stream->type == UV_TCP) uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream), 1);
}

// Dial requests in flight and libraft's callbacks for them; req->data
// belongs to libraft, so the request pointer is the key. Raft loop only.
std::unordered_map<struct raft_uv_connect*, raft_uv_connect_cb>& PendingConnects() {
  static std::unordered_map<struct raft_uv_connect*, raft_uv_connect_cb> pending;
  return pending;
}

// A dial to a local address nobody listens on yet can connect to itself
// (TCP simultaneous open: Linux may pick the destination port as the
// ephemeral source port). The node would then hold the port its peer is
// about to bind, and the peer fails to start. Such a stream is dropped.
bool SelfConnected(struct uv_stream_s* stream) {
  if (stream == nullptr || stream->type != UV_TCP) return false;
  auto* tcp = reinterpret_cast<uv_tcp_t*>(stream);
  struct sockaddr_storage self {}, peer {};
  int self_len = sizeof(self), peer_len = sizeof(peer);
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&self), &self_len) != 0 ||
      uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return false;
  }
  return self_len == peer_len && std::memcmp(&self, &peer, static_cast<size_t>(self_len)) == 0;
}

}  // namespace

NodelayTransport::NodelayTransport(struct raft_uv_transport* real) : real_(real) {
  proxy_.impl = this;
  proxy_.init = [](struct raft_uv_transport* t, raft_id id, const char* address) {
    NodelayTransport* self = FromProxy(t);
    return self->real_->init(self->real_, id, address);
  };
  proxy_.listen = [](struct raft_uv_transport* t, raft_uv_accept_cb cb) {
    NodelayTransport* self = FromProxy(t);
    self->accept_ = cb;
    self->real_->data = self;
    return self->real_->listen(self->real_, &NodelayTransport::AcceptCb);
  };
  proxy_.connect = [](struct raft_uv_transport* t, struct raft_uv_connect* req, raft_id id, const char* address,
                      raft_uv_connect_cb cb) {
    NodelayTransport* self = FromProxy(t);
    PendingConnects()[req] = cb;
    int rv = self->real_->connect(self->real_, req, id, address, &NodelayTransport::ConnectCb);
    if (rv != 0) PendingConnects().erase(req);
    return rv;
  };
  proxy_.close = [](struct raft_uv_transport* t, raft_uv_transport_close_cb cb) {
    // libraft's close callback is called with the real transport and finds
    // its uv state through ->data, which raft_uv_init stored in the proxy.
    NodelayTransport* self = FromProxy(t);
    self->real_->data = t->data;
    self->real_->close(self->real_, cb);
  };
}

void NodelayTransport::AcceptCb(struct raft_uv_transport* real, raft_id id, const char* address,
                                struct uv_stream_s* stream) noexcept {
  auto* self = static_cast<NodelayTransport*>(real->data);
  SetNodelay(stream);
  self->accept_(&self->proxy_, id, address, stream);
}

void NodelayTransport::ConnectCb(struct raft_uv_connect* req, struct uv_stream_s* stream, int status) noexcept {
  auto it = PendingConnects().find(req);
  raft_uv_connect_cb cb = it->second;
  PendingConnects().erase(it);
  if (status == 0 && SelfConnected(stream)) {
    // libraft allocated the handle (raft_malloc) and hands it over on
    // success; it is ours to close and free. libraft retries the dial.
    uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
    cb(req, nullptr, RAFT_NOCONNECTION);
    return;
  }
  if (status == 0) SetNodelay(stream);
  cb(req, stream, status);
}

}  // namespace lockq::consensus
