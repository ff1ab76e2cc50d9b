#pragma once
// NodelayTransport: wraps libraft's TCP transport (raft_uv_tcp_init) and
// turns on TCP_NODELAY for every raft connection, accepted or dialed.
//
// libraft 0.15 never sets TCP_NODELAY, so small AppendEntries messages and
// their replies meet Nagle's algorithm and delayed ACKs: measured on a
// 3-node loopback cluster with 50 clients, p99 SET latency was ~45 ms with
// the plain transport and ~4 ms with TCP_NODELAY (bench/RESULTS.md).
//
// Thread: the raft loop.

#include "consensus/raft_c.h"

namespace lockq::consensus {

class NodelayTransport {
 public:
  // `real` is an initialized raft_uv_tcp transport that must outlive this.
  explicit NodelayTransport(struct raft_uv_transport* real);
  NodelayTransport(const NodelayTransport&) = delete;
  NodelayTransport& operator=(const NodelayTransport&) = delete;

  // Pass this to raft_uv_init instead of `real`.
  struct raft_uv_transport* transport() { return &proxy_; }

 private:
  static NodelayTransport* FromProxy(struct raft_uv_transport* t) { return static_cast<NodelayTransport*>(t->impl); }
  static void AcceptCb(struct raft_uv_transport* real, raft_id id, const char* address,
                       struct uv_stream_s* stream) noexcept;
  static void ConnectCb(struct raft_uv_connect* req, struct uv_stream_s* stream, int status) noexcept;

  struct raft_uv_transport* real_;
  struct raft_uv_transport proxy_ {};
  raft_uv_accept_cb accept_ = nullptr;
};

}  // namespace lockq::consensus
