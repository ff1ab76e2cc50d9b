#pragma once
// Peer links: node-to-node connections, all on the raft port (--raft-addr).
// Two channels share that port: kRaft carries libraft's messages
// (consensus::PeerTransport) and kForward a follower's LOCKQ.FORWARD link to
// the leader (server::Forwarder). The client ports never accept either, and
// the raft port accepts nothing else (docs/security.md).
//
// Every link opens with a handshake in which each end proves it knows the
// cluster secret (--cluster-secret) without sending it (docs/formats.md,
// "Peer handshake"):
//
//   dialer   -> HELLO     "LQPEER" u8 version u8 channel u64 id
//                         u16 len, address[len], nonce_d[32]
//   acceptor -> CHALLENGE nonce_a[32], mac_a[32]
//   dialer   -> PROOF     mac_d[32]
//   acceptor -> WELCOME   u8 1
//
//   mac_a = HMAC-SHA256(secret, "lockq peer acceptor" || HELLO || nonce_a)
//   mac_d = HMAC-SHA256(secret, "lockq peer dialer"   || HELLO || nonce_a)
//
// Both MACs cover both fresh nonces (nonce_d is inside HELLO), so neither
// can be replayed, and the distinct labels keep one end's MAC from being
// reflected as the other's. A wrong MAC, bad magic or a handshake not
// finished within handshake_timeout_ms drops the connection with a reset
// and logs it (rate-limited per remote host). Without a secret the same
// exchange runs with an empty key: it checks framing, not identity, and
// lockqd warns at startup when a cluster has more than one member and no
// secret.
//
// After the handshake the socket carries plain protocol bytes and is handed
// over as a file descriptor (the caller wraps it in its own libuv handle).
//
// Thread: the loop. Every callback runs on it, never inside the call that
// registered it.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace lockq::net {

class TlsContext;

enum class PeerChannel : uint8_t { kRaft = 1, kForward = 2 };
const char* PeerChannelName(PeerChannel channel);

struct PeerOptions {
  uint64_t id = 0;       // this node's --node-id
  std::string address;   // this node's --raft-addr ("host:port"); also where Listen binds
  std::string secret;    // --cluster-secret; empty: no authentication
  // Bounds a handshake that stalls (a peer that connects and never speaks).
  // Generous on purpose: libuv runs timers before the I/O of the same loop
  // turn, so after a long loop stall a short deadline fires although the
  // answer is already in the socket, and the link is dropped for nothing.
  unsigned handshake_timeout_ms = 5000;
  // A dial whose TCP connect has not completed by then fails, so that the
  // caller dials afresh instead of waiting for SYN retransmissions that
  // back off to seconds (a link cut for 30 s would otherwise stay down up
  // to 30 s more after it heals).
  unsigned connect_timeout_ms = 1000;
  // Established links (both ends, every channel): bytes unacknowledged for
  // this long, or an idle link whose keepalive probes go unanswered for
  // this long, drop the connection (TCP_USER_TIMEOUT, TCP keepalive), and
  // the owner dials again: a cut or stalled peer is noticed within about
  // this, not after TCP's backed-off retransmissions. 0: kernel defaults.
  unsigned link_timeout_ms = 0;
  // --peer-tls: both set, or neither. The TLS handshake comes first and the
  // exchange above runs inside it; each side verifies the other's chain
  // against --peer-ca-file, the dialer checks that the acceptor's
  // certificate names the address it dialed, and the acceptor that the
  // dialer's names the address its HELLO claims (or has a CN in
  // allowed_cn). The link then stays encrypted: the receiver gets one end of
  // a socketpair that the endpoint pumps through TLS.
  std::shared_ptr<TlsContext> tls_server;
  std::shared_ptr<TlsContext> tls_client;
  std::vector<std::string> allowed_cn;  // --peer-cert-allowed-cn
  // The raft address the cluster's configuration gives node `id` ("" when
  // it is not a member yet: then the address it claims is checked). With
  // TLS, the dialer's certificate must name this host.
  std::function<std::string(uint64_t id)> member_address;
};

// What the dialer claimed in its HELLO (proven only as far as the secret
// goes), and the socket, now the receiver's to close.
struct PeerLink {
  PeerChannel channel = PeerChannel::kRaft;
  uint64_t id = 0;
  std::string address;
  uv_os_sock_t fd = -1;
};

class PeerHandshake;

// One pending dial; dropping the last reference does not cancel it, Cancel
// does (the callback then never runs).
class PeerDial {
 public:
  virtual ~PeerDial() = default;
  virtual void Cancel() = 0;
};

class PeerEndpoint {
 public:
  using LinkCb = std::function<void(PeerLink link)>;
  // Ok and link.fd set, or an error (and no fd).
  using DialCb = std::function<void(Status status, PeerLink link)>;

  PeerEndpoint(uv_loop_t* loop, PeerOptions options);
  ~PeerEndpoint();
  PeerEndpoint(const PeerEndpoint&) = delete;
  PeerEndpoint& operator=(const PeerEndpoint&) = delete;

  // Sets --peer-tls's contexts (before Listen and any Dial).
  void SetTls(std::shared_ptr<TlsContext> server, std::shared_ptr<TlsContext> client) {
    options_.tls_server = std::move(server);
    options_.tls_client = std::move(client);
  }
  // Binds options.address and accepts peers.
  Status Listen();
  // Where accepted links of `channel` go; without a handler they are closed.
  void SetHandler(PeerChannel channel, LinkCb cb);
  // Connects to the peer listening on `address`; `cb` runs once, unless
  // the dial is cancelled first.
  std::shared_ptr<PeerDial> Dial(const std::string& address, PeerChannel channel, DialCb cb);
  // Stops listening and drops handshakes in progress without running their
  // callbacks. Idempotent; the destructor calls it.
  void Close();

  const PeerOptions& options() const { return options_; }
  uint64_t rejected() const { return rejected_; }  // handshakes refused or timed out

 private:
  friend class PeerHandshake;
  static void AcceptCb(uv_stream_t* server, int status) noexcept;
  void OnAccepted(PeerLink link);
  // A handshake failed (rate-limited warning; counted in rejected()).
  void LogRejected(bool accepted, const std::string& remote, const std::string& why);

  uv_loop_t* loop_;
  PeerOptions options_;
  uv_tcp_t* listener_ = nullptr;  // freed by its close callback
  LinkCb handlers_[3];
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // handshakes check it
  std::vector<std::weak_ptr<PeerHandshake>> handshakes_;
  uint64_t rejected_ = 0;
  uint64_t last_reject_log_ms_ = 0;
  uint64_t rejects_not_logged_ = 0;
};

// Runs `fn` on a later loop turn (a 0 ms timer), for callbacks that must
// not run inside the call that caused them.
void RunLater(uv_loop_t* loop, std::function<void()> fn);

// HMAC-SHA256(key, data), 32 bytes (exposed for tests).
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace lockq::net
