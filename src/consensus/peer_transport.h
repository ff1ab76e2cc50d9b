#pragma once
// PeerTransport: libraft's raft_uv_transport on net::PeerEndpoint, so raft
// links are authenticated (net/peer_link.h's handshake) and share the raft
// port with the forwarding channel. Replaces libraft's own TCP transport
// (raft_uv_tcp_init), which neither authenticates peers nor sets
// TCP_NODELAY (every peer link has it: with Nagle, p99 SET latency on a
// 3-node loopback cluster was ~45 ms instead of ~4 ms, bench/RESULTS.md).
//
// Streams handed to libraft are uv_tcp_t handles allocated with
// raft_malloc, as libraft frees them with raft_free.
//
// Thread: the raft loop.

#include <map>
#include <memory>

#include "consensus/raft_c.h"
#include "net/peer_link.h"

namespace lockq::consensus {

class PeerTransport {
 public:
  PeerTransport(uv_loop_t* loop, net::PeerEndpoint* endpoint);
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Pass this to raft_uv_init.
  struct raft_uv_transport* transport() { return &transport_; }

 private:
  struct Dial {
    std::shared_ptr<net::PeerDial> dial;
    raft_uv_connect_cb cb;
  };
  static PeerTransport* From(struct raft_uv_transport* t) { return static_cast<PeerTransport*>(t->impl); }
  struct uv_stream_s* Wrap(uv_os_sock_t fd);
  void Close(raft_uv_transport_close_cb cb);

  uv_loop_t* loop_;
  net::PeerEndpoint* endpoint_;
  struct raft_uv_transport transport_ {};
  raft_uv_accept_cb accept_ = nullptr;
  std::map<struct raft_uv_connect*, Dial> dials_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lockq::consensus
