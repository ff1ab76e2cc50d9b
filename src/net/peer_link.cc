#include "net/peer_link.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/bytes.h"
#include "common/check.h"
#include "net/host_port.h"
#include "net/tls.h"

namespace lockq::net {

namespace {

constexpr std::string_view kMagic = "LQPEER";
constexpr uint8_t kVersion = 1;
constexpr size_t kNonceBytes = 32;
constexpr size_t kMacBytes = 32;
constexpr size_t kMaxAddress = 255;
constexpr size_t kHelloFixed = 6 + 1 + 1 + 8 + 2;  // magic, version, channel, id, address length
constexpr uint8_t kWelcome = 1;
constexpr uint64_t kRejectLogEveryMs = 10000;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  LOCKQ_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
  return out;
}

bool SameBytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Mac(std::string_view secret, std::string_view label, std::string_view hello, std::string_view nonce_a) {
  std::string data;
  data.reserve(label.size() + hello.size() + nonce_a.size());
  data.append(label).append(hello).append(nonce_a);
  return HmacSha256(secret, data);
}

std::string RemoteName(uv_tcp_t* tcp) {
  sockaddr_storage sa {};
  int len = sizeof(sa);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return "?";
  char host[64] = {0};
  if (sa.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<sockaddr_in*>(&sa), host, sizeof(host));
  } else if (sa.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&sa), host, sizeof(host));
  }
  return host;
}

// A dial to a local address nobody listens on yet can connect to itself
// (TCP simultaneous open: Linux may pick the destination port as the
// ephemeral source port). The node would then hold the port its peer is
// about to bind, and the peer fails to start. Such a link is dropped.
// No Nagle delay; and with options.link_timeout_ms, a connection whose
// bytes go unacknowledged (or whose idle keepalive probes go unanswered)
// that long is dropped by the kernel (PeerOptions::link_timeout_ms).
void TuneSocket(uv_tcp_t* tcp, const PeerOptions& o) {
  uv_tcp_nodelay(tcp, 1);
  if (o.link_timeout_ms == 0) return;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) != 0) return;
  unsigned timeout = o.link_timeout_ms;
  int idle_s = static_cast<int>(std::max(1u, timeout / 3000));
  int interval_s = idle_s;
  int probes = 3;
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}

bool SelfConnected(uv_tcp_t* tcp) {
  sockaddr_storage self {}, peer {};
  int self_len = sizeof(self), peer_len = sizeof(peer);
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&self), &self_len) != 0 ||
      uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return false;
  }
  return self_len == peer_len && std::memcmp(&self, &peer, static_cast<size_t>(self_len)) == 0;
}

}  // namespace

void RunLater(uv_loop_t* loop, std::function<void()> fn) {
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);
  timer->data = new std::function<void()>(std::move(fn));
  uv_timer_start(timer, [](uv_timer_t* t) {
    auto* f = static_cast<std::function<void()>*>(t->data);
    (*f)();
    delete f;
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }, 0, 0);
}

const char* PeerChannelName(PeerChannel channel) {
  switch (channel) {
    case PeerChannel::kRaft: return "raft";
    case PeerChannel::kForward: return "forward";
  }
  return "?";
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  LOCKQ_CHECK(HMAC(EVP_sha256(), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
                   data.size(), out, &len) != nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

// "host" of "host:port" or "[v6]:port".
std::string HostOf(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// One peer link, either end. Owns its TCP handle and timer. Without TLS it
// hands the socket itself over after the handshake (Finish) and goes away;
// with TLS it stays as the link's pump: the receiver gets one end of a
// socketpair, and this object moves bytes between the other end and the
// TLS connection until either side closes. Keeps itself alive until all its
// handles are closed.
class PeerHandshake final : public PeerDial, public std::enable_shared_from_this<PeerHandshake> {
 public:
  enum class Role { kAccept, kDial };

  PeerHandshake(PeerEndpoint* endpoint, Role role) : ep_(endpoint), role_(role), loop_(endpoint->loop_) {
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop_, tcp_);
    tcp_->data = this;
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
  }

  uv_tcp_t* tcp() { return tcp_; }

  // The acceptor: tcp_ was just accepted.
  void StartAccept() {
    Begin();
    remote_ = RemoteName(tcp_);
    if (ep_->options_.tls_server != nullptr) tls_ = TlsEngine::NewServer(ep_->options_.tls_server);
    uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), &AllocCb, &ReadCb);
  }

  Status StartDial(const std::string& address, PeerChannel channel, const PeerEndpoint::DialCb& cb) {
    sockaddr_storage sa {};
    if (!ParseHostPort(address, &sa)) {
      Drop();
      return Status::InvalidArgument("bad peer address: " + address);
    }
    if (ep_->options_.tls_client != nullptr) {
      // The acceptor's certificate must name the address we dial.
      auto engine = TlsEngine::NewClient(ep_->options_.tls_client, HostOf(address));
      if (!engine.ok()) {
        Drop();
        return engine.status();
      }
      tls_ = std::move(engine.value());
    }
    remote_ = address;
    link_.channel = channel;
    link_.id = ep_->options_.id;
    link_.address = ep_->options_.address;
    dial_cb_ = cb;
    Begin();
    connect_req_.data = this;
    int rv = uv_tcp_connect(&connect_req_, tcp_, reinterpret_cast<sockaddr*>(&sa), &ConnectCb);
    if (rv != 0) {
      dial_cb_ = nullptr;
      Drop();
      return Status::Unavailable(std::string("connect ") + address + ": " + uv_strerror(rv));
    }
    return Status::Ok();
  }

  void Cancel() override {
    dial_cb_ = nullptr;
    if (!pumping_) Drop();
  }

  // The endpoint closes: stop without telling anyone.
  void Abort() {
    ep_ = nullptr;
    dial_cb_ = nullptr;
    Drop();
  }

 private:
  struct WriteReq {
    uv_write_t req;
    std::string bytes;
    std::weak_ptr<PeerHandshake> owner;
    bool finish;
  };

  void Begin() {
    self_ = shared_from_this();
    const PeerOptions& o = ep_->options_;
    unsigned first = role_ == Role::kDial ? std::min(o.connect_timeout_ms, o.handshake_timeout_ms)
                                          : o.handshake_timeout_ms;
    // The loop's cached time may be stale (work earlier in this loop turn):
    // the deadline counts from now.
    uv_update_time(loop_);
    uv_timer_start(timer_, &TimeoutCb, first, 0);
  }

  static void AllocCb(uv_handle_t* h, size_t, uv_buf_t* buf) noexcept {
    auto* self = static_cast<PeerHandshake*>(h->data);
    buf->base = self->read_buf_;
    buf->len = sizeof(self->read_buf_);
  }

  static void ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
    auto* self = static_cast<PeerHandshake*>(s->data);
    if (self->done_) return;
    if (n < 0) {
      if (self->pumping_) return self->Drop();
      // The other end checks our MAC first when it dials us, and drops the
      // link if the secrets differ.
      bool answered = self->state_ == State::kWaitProof;
      self->Fail(answered ? "the peer dropped the link after our challenge (does it have this --cluster-secret?)"
                          : std::string("closed during the handshake: ") + uv_strerror(static_cast<int>(n)));
      return;
    }
    std::string_view bytes(buf->base, static_cast<size_t>(n));
    if (self->tls_ == nullptr) {
      self->in_.append(bytes);
      self->Advance();
      return;
    }
    Status st = self->tls_->FeedCiphertext(bytes);
    self->FlushCiphertext(false);
    if (!st.ok()) {
      if (self->pumping_) return self->Drop();
      return self->Fail("TLS: " + st.message());
    }
    std::string& plain = self->tls_->plain_in();
    if (self->pumping_) {
      self->ToPipe(std::move(plain));
      plain.clear();
      if (self->tls_->peer_closed()) self->Drop();
      return;
    }
    self->in_.append(plain);
    plain.clear();
    if (!self->in_.empty()) self->Advance();
  }

  static void ConnectCb(uv_connect_t* req, int status) noexcept {
    auto* self = static_cast<PeerHandshake*>(req->data);
    if (self->done_) return;  // cancelled meanwhile
    if (status != 0) {
      self->Fail(std::string("connect: ") + uv_strerror(status));
      return;
    }
    if (SelfConnected(self->tcp_)) {
      self->Fail("connected to itself (nobody listens there yet)");
      return;
    }
    self->connected_ = true;
    uv_update_time(self->loop_);
    uv_timer_start(self->timer_, &TimeoutCb, self->ep_->options_.handshake_timeout_ms, 0);
    TuneSocket(self->tcp_, self->ep_->options_);
    self->nonce_d_ = RandomBytes(kNonceBytes);
    std::string hello;
    ByteWriter w(&hello);
    hello.append(kMagic);
    w.PutU8(kVersion);
    w.PutU8(static_cast<uint8_t>(self->link_.channel));
    w.PutU64(self->link_.id);
    size_t alen = std::min(self->link_.address.size(), kMaxAddress);
    w.PutU8(static_cast<uint8_t>(alen & 0xff));
    w.PutU8(static_cast<uint8_t>(alen >> 8));
    hello.append(self->link_.address, 0, alen);
    hello.append(self->nonce_d_);
    self->hello_ = hello;
    self->state_ = State::kWaitChallenge;
    if (self->tls_ != nullptr) self->tls_->Start();  // ClientHello; HELLO follows the TLS handshake
    self->SendPlain(std::move(hello), false);
    uv_read_start(reinterpret_cast<uv_stream_t*>(self->tcp_), &AllocCb, &ReadCb);
  }

  static void TimeoutCb(uv_timer_t* t) noexcept {
    auto* self = static_cast<PeerHandshake*>(t->data);
    if (self->role_ == Role::kDial && !self->connected_) return self->Fail("connect timed out");
    self->Fail(self->tls_ != nullptr && !self->tls_->handshake_done() ? "TLS handshake timed out"
                                                                       : "handshake timed out");
  }

  // With peer TLS the acceptor holds the dialer to the address it claims:
  // the client certificate must name that host (an IP or DNS SAN), or carry
  // an allowed common name (--peer-cert-allowed-cn).
  bool CertificateMatchesClaim(std::string* why) const {
    if (tls_ == nullptr || role_ != Role::kAccept) return true;
    std::string configured = ep_->options_.member_address ? ep_->options_.member_address(link_.id) : std::string();
    std::string host = HostOf(configured.empty() ? link_.address : configured);
    for (const std::string& ip : tls_->PeerSanIps()) {
      if (ip == host) return true;
    }
    for (const std::string& dns : tls_->PeerSanDns()) {
      if (dns == host) return true;
    }
    const auto& allowed = ep_->options_.allowed_cn;
    std::string cn = tls_->PeerCommonName();
    if (std::find(allowed.begin(), allowed.end(), cn) != allowed.end()) return true;
    *why = "its certificate (CN " + cn + ") does not name " + host + ", node " + std::to_string(link_.id) + "'s " +
           (configured.empty() ? "claimed address" : "configured address");
    return false;
  }

  // Parses what arrived, as far as it goes.
  void Advance() {
    const std::string& secret = ep_->options_.secret;
    if (state_ == State::kWaitHello) {
      if (in_.size() < kHelloFixed) return;
      if (std::string_view(in_).substr(0, kMagic.size()) != kMagic) return Fail("not a lockq peer (bad magic)");
      ByteReader r(std::string_view(in_).substr(kMagic.size()));
      uint8_t version = 0, channel = 0, alen_lo = 0, alen_hi = 0;
      r.GetU8(&version);
      r.GetU8(&channel);
      r.GetU64(&link_.id);
      r.GetU8(&alen_lo);
      r.GetU8(&alen_hi);
      size_t alen = alen_lo | (static_cast<size_t>(alen_hi) << 8);
      if (version != kVersion) return Fail("peer handshake version " + std::to_string(version) + ", want 1");
      if (channel != static_cast<uint8_t>(PeerChannel::kRaft) && channel != static_cast<uint8_t>(PeerChannel::kForward)) {
        return Fail("unknown channel " + std::to_string(channel));
      }
      if (alen > kMaxAddress) return Fail("address too long");
      size_t total = kHelloFixed + alen + kNonceBytes;
      if (in_.size() < total) return;
      if (in_.size() > total) return Fail("sent data before the handshake finished");
      link_.channel = static_cast<PeerChannel>(channel);
      link_.address = in_.substr(kHelloFixed, alen);
      std::string why;
      if (!CertificateMatchesClaim(&why)) return Fail(why);
      hello_ = in_;
      in_.clear();
      nonce_a_ = RandomBytes(kNonceBytes);
      state_ = State::kWaitProof;
      SendPlain(nonce_a_ + Mac(secret, "lockq peer acceptor", hello_, nonce_a_), false);
      return;
    }
    if (state_ == State::kWaitProof) {
      if (in_.size() < kMacBytes) return;
      if (in_.size() > kMacBytes) return Fail("sent data before the handshake finished");
      if (!SameBytes(in_, Mac(secret, "lockq peer dialer", hello_, nonce_a_))) {
        return Fail("wrong cluster secret (node " + std::to_string(link_.id) + " at " + link_.address + ")");
      }
      in_.clear();
      state_ = State::kSentWelcome;
      if (tls_ != nullptr) {
        // The pump owns the TCP handle from here: WELCOME and what follows
        // share it, in order.
        SendPlain(std::string(1, static_cast<char>(kWelcome)), false);
        return StartPump();
      }
      uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
      SendPlain(std::string(1, static_cast<char>(kWelcome)), /*finish=*/true);
      return;
    }
    if (state_ == State::kWaitChallenge) {
      if (in_.size() < kNonceBytes + kMacBytes) return;
      if (in_.size() > kNonceBytes + kMacBytes) return Fail("peer sent more than its challenge");
      nonce_a_ = in_.substr(0, kNonceBytes);
      if (!SameBytes(in_.substr(kNonceBytes), Mac(secret, "lockq peer acceptor", hello_, nonce_a_))) {
        return Fail("peer does not know the cluster secret");
      }
      in_.clear();
      state_ = State::kWaitWelcome;
      SendPlain(Mac(secret, "lockq peer dialer", hello_, nonce_a_), false);
      return;
    }
    if (state_ == State::kWaitWelcome) {
      if (in_.empty()) return;
      if (static_cast<uint8_t>(in_[0]) != kWelcome) return Fail("peer refused the handshake");
      if (tls_ != nullptr) {
        in_.erase(0, 1);  // anything after WELCOME is the channel's
        return StartPump();
      }
      if (in_.size() != 1) return Fail("data after the handshake");
      uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
      Finish();
      return;
    }
    Fail("data after the handshake");
  }

  // Handshake bytes: through TLS when on, else straight to the socket.
  void SendPlain(std::string bytes, bool finish) {
    if (tls_ == nullptr) return Send(std::move(bytes), finish);
    Status st = tls_->WritePlain(bytes);
    if (!st.ok()) return Fail("TLS: " + st.message());
    FlushCiphertext(finish);
  }

  void FlushCiphertext(bool finish) {
    if (tls_ != nullptr && tls_->HasCiphertext()) Send(tls_->TakeCiphertext(), finish);
  }

  void Send(std::string bytes, bool finish) {
    auto* w = new WriteReq{{}, std::move(bytes), weak_from_this(), finish};
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    w->req.data = w;
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1, &WriteCb) != 0) {
      delete w;
      if (pumping_) return Drop();
      Fail("write failed");
      return;
    }
    if (pumping_) Throttle();
  }

  static void WriteCb(uv_write_t* req, int status) noexcept {
    auto* w = static_cast<WriteReq*>(req->data);
    std::shared_ptr<PeerHandshake> self = w->owner.lock();
    bool finish = w->finish;
    delete w;
    if (self == nullptr || self->done_) return;
    if (status != 0) {
      if (self->pumping_) return self->Drop();
      return self->Fail(std::string("write: ") + uv_strerror(status));
    }
    if (self->pumping_) self->Throttle();
    if (finish) self->Finish();
  }

  // Success without TLS: the socket (a duplicate of it) goes to its receiver.
  void Finish() {
    uv_os_fd_t fd = -1;
    int dup_fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp_), &fd) == 0) dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return Fail("dup: " + std::string(std::strerror(errno)));
    link_.fd = dup_fd;
    Close(/*reset=*/false);
    HandOver();
  }

  // Success with TLS: the receiver gets one end of a socketpair; this
  // object pumps the other end through the TLS connection.
  void StartPump() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return Fail("socketpair: " + std::string(std::strerror(errno)));
    }
    pipe_ = new uv_pipe_t;
    uv_pipe_init(loop_, pipe_, 0);
    pipe_->data = this;
    if (uv_pipe_open(pipe_, sv[0]) != 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      return Fail("cannot open the pump's socketpair");
    }
    pumping_ = true;
    uv_timer_stop(timer_);
    link_.fd = sv[1];
    uv_read_start(reinterpret_cast<uv_stream_t*>(pipe_), &AllocCb, &PipeReadCb);
    if (!in_.empty()) ToPipe(std::exchange(in_, {}));
    HandOver();
  }

  void HandOver() {
    PeerEndpoint* ep = ep_;
    PeerEndpoint::DialCb cb = std::move(dial_cb_);
    PeerLink link = std::move(link_);
    link_.fd = -1;
    if (role_ == Role::kDial) {
      if (cb) return cb(Status::Ok(), std::move(link));
    } else if (ep != nullptr) {
      return ep->OnAccepted(std::move(link));
    }
    ::close(link.fd);
    if (pumping_) Drop();
  }

  // Pump: plaintext from the receiver's end goes out through TLS.
  static void PipeReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
    auto* self = static_cast<PeerHandshake*>(s->data);
    if (self->done_) return;
    if (n < 0) return self->Drop();  // the receiver closed: so does the link (abortively)
    Status st = self->tls_->WritePlain(std::string_view(buf->base, static_cast<size_t>(n)));
    if (!st.ok()) return self->Drop();
    self->FlushCiphertext(false);
  }

  void ToPipe(std::string bytes) {
    if (bytes.empty()) return;
    auto* w = new WriteReq{{}, std::move(bytes), weak_from_this(), false};
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    w->req.data = w;
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(pipe_), &buf, 1, &WriteCb) != 0) {
      delete w;
      return Drop();
    }
    Throttle();
  }

  // Bounded buffering: a side whose writes pile up stops the other side's
  // reads until they drain.
  void Throttle() {
    if (done_) return;
    constexpr size_t kMaxQueued = 8 << 20;
    auto* tcp = reinterpret_cast<uv_stream_t*>(tcp_);
    auto* pipe = reinterpret_cast<uv_stream_t*>(pipe_);
    if (uv_stream_get_write_queue_size(pipe) > kMaxQueued) {
      uv_read_stop(tcp);
    } else {
      uv_read_start(tcp, &AllocCb, &ReadCb);
    }
    if (uv_stream_get_write_queue_size(tcp) > kMaxQueued) {
      uv_read_stop(pipe);
    } else {
      uv_read_start(pipe, &AllocCb, &PipeReadCb);
    }
  }

  void Fail(const std::string& why) {
    if (done_) return;
    PeerEndpoint* ep = ep_;
    PeerEndpoint::DialCb cb = std::move(dial_cb_);
    Drop();
    // A dial that got no connection is routine (the peer is down); one that
    // failed in the handshake is worth an operator's attention.
    if (ep != nullptr && (role_ == Role::kAccept || connected_)) ep->LogRejected(role_ == Role::kAccept, remote_, why);
    if (role_ == Role::kDial && cb) cb(Status::Unavailable("peer " + remote_ + ": " + why), PeerLink{});
  }

  // Closes with a reset: nothing half-sent is delivered.
  void Drop() { Close(/*reset=*/true); }

  void Close(bool reset) {
    if (done_) return;
    done_ = true;
    if (self_ == nullptr) self_ = shared_from_this();  // until the close callbacks ran
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), &HandleClosedCb);
    if (!reset || uv_tcp_close_reset(tcp_, &HandleClosedCb) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &HandleClosedCb);
    }
    if (pipe_ != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(pipe_), &HandleClosedCb);
  }

  static void HandleClosedCb(uv_handle_t* h) noexcept {
    auto* self = static_cast<PeerHandshake*>(h->data);
    if (h == reinterpret_cast<uv_handle_t*>(self->tcp_)) {
      delete self->tcp_;
      self->tcp_ = nullptr;
    } else if (h == reinterpret_cast<uv_handle_t*>(self->pipe_)) {
      delete self->pipe_;
      self->pipe_ = nullptr;
    } else {
      delete self->timer_;
      self->timer_ = nullptr;
    }
    if (self->tcp_ == nullptr && self->timer_ == nullptr && self->pipe_ == nullptr) {
      self->self_.reset();  // may delete self
    }
  }

  enum class State { kWaitHello, kWaitProof, kSentWelcome, kWaitChallenge, kWaitWelcome };

  PeerEndpoint* ep_;  // null once the endpoint closed
  Role role_;
  uv_loop_t* loop_;
  uv_tcp_t* tcp_;
  uv_timer_t* timer_;
  uv_pipe_t* pipe_ = nullptr;  // the pump's end of the socketpair (TLS)
  uv_connect_t connect_req_ {};
  std::unique_ptr<TlsEngine> tls_;
  State state_ = State::kWaitHello;
  std::string in_, hello_, nonce_a_, nonce_d_;
  PeerLink link_;
  PeerEndpoint::DialCb dial_cb_;
  std::string remote_;
  bool done_ = false;
  bool connected_ = false;  // dialer: TCP connected
  bool pumping_ = false;    // TLS: handed over, now moving bytes
  char read_buf_[64 << 10];
  std::shared_ptr<PeerHandshake> self_;  // alive until its handles are closed
};

PeerEndpoint::PeerEndpoint(uv_loop_t* loop, PeerOptions options) : loop_(loop), options_(std::move(options)) {}

PeerEndpoint::~PeerEndpoint() { Close(); }

Status PeerEndpoint::Listen() {
  sockaddr_storage sa {};
  if (!ParseHostPort(options_.address, &sa)) return Status::InvalidArgument("bad --raft-addr: " + options_.address);
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_, listener_);
  listener_->data = this;
  int rv = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rv == 0) rv = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, &AcceptCb);
  if (rv != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
    return Status::IoError("listen on " + options_.address + " (raft and peers): " + uv_strerror(rv));
  }
  return Status::Ok();
}

void PeerEndpoint::SetHandler(PeerChannel channel, LinkCb cb) { handlers_[static_cast<size_t>(channel)] = std::move(cb); }

std::shared_ptr<PeerDial> PeerEndpoint::Dial(const std::string& address, PeerChannel channel, DialCb cb) {
  auto hs = std::make_shared<PeerHandshake>(this, PeerHandshake::Role::kDial);
  Status st = hs->StartDial(address, channel, cb);
  if (!st.ok()) {
    // Callbacks never run inside the call: report on the next loop turn.
    RunLater(loop_, [cb = std::move(cb), st] { cb(st, PeerLink{}); });
    return hs;  // already dropped; Cancel() does nothing useful but is safe
  }
  std::erase_if(handshakes_, [](const std::weak_ptr<PeerHandshake>& w) { return w.expired(); });
  handshakes_.push_back(hs);
  return hs;
}

void PeerEndpoint::AcceptCb(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<PeerEndpoint*>(server->data);
  if (status != 0) return;
  auto hs = std::make_shared<PeerHandshake>(self, PeerHandshake::Role::kAccept);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(hs->tcp())) != 0) {
    hs->Abort();
    return;
  }
  TuneSocket(hs->tcp(), self->options_);
  std::erase_if(self->handshakes_, [](const std::weak_ptr<PeerHandshake>& w) { return w.expired(); });
  self->handshakes_.push_back(hs);
  hs->StartAccept();
}

void PeerEndpoint::OnAccepted(PeerLink link) {
  const LinkCb& cb = handlers_[static_cast<size_t>(link.channel)];
  if (!cb) {
    spdlog::debug("peer link from node {} ({}): no {} handler yet; closed", link.id, link.address,
                  PeerChannelName(link.channel));
    ::close(link.fd);
    return;
  }
  cb(std::move(link));
}

void PeerEndpoint::LogRejected(bool accepted, const std::string& remote, const std::string& why) {
  rejected_++;
  uint64_t now = uv_now(loop_);
  if (last_reject_log_ms_ != 0 && now - last_reject_log_ms_ < kRejectLogEveryMs) {
    rejects_not_logged_++;
    return;
  }
  spdlog::warn("peer link {} {} dropped: {}{}", accepted ? "from" : "to", remote, why,
               rejects_not_logged_ == 0 ? std::string()
                                        : " (and " + std::to_string(rejects_not_logged_) + " more since the last report)");
  last_reject_log_ms_ = now;
  rejects_not_logged_ = 0;
}

void PeerEndpoint::Close() {
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
  }
  for (auto& w : handshakes_) {
    if (auto hs = w.lock()) hs->Abort();
  }
  handshakes_.clear();
  for (LinkCb& cb : handlers_) cb = nullptr;
}

}  // namespace lockq::net
