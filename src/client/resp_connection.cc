#include "client/resp_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lockq::client {

namespace {

Status Errno(const std::string& what) { return Status::IoError(what + ": " + std::strerror(errno)); }

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

RespConnection::~RespConnection() { Close(); }

RespConnection::RespConnection(RespConnection&& o) noexcept
    : fd_(o.fd_), tls_(std::move(o.tls_)), timeout_(o.timeout_), inbuf_(std::move(o.inbuf_)), parser_(o.parser_) {
  o.fd_ = -1;
}

RespConnection& RespConnection::operator=(RespConnection&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.fd_;
    tls_ = std::move(o.tls_);
    timeout_ = o.timeout_;
    inbuf_ = std::move(o.inbuf_);
    o.fd_ = -1;
  }
  return *this;
}

void RespConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  tls_.reset();
  inbuf_.clear();
}

int RespConnection::ReleaseFd(std::unique_ptr<net::TlsEngine>* tls) {
  int fd = fd_;
  fd_ = -1;
  *tls = std::move(tls_);
  inbuf_.clear();
  return fd;
}

Result<RespConnection> RespConnection::Connect(const std::string& addr, std::chrono::milliseconds timeout,
                                               const std::shared_ptr<net::TlsContext>& tls,
                                               const std::string& server_name) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("expected HOST:PORT, got '" + addr + "'");
  std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  struct addrinfo hints {};
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return Status::InvalidArgument("cannot resolve '" + addr + "'");
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return Errno("socket");
  }
  int rv = ::connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rv != 0 && errno != EINPROGRESS) {
    Status s = Errno("connect " + addr);
    ::close(fd);
    return s;
  }
  struct pollfd p {fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    ::close(fd);
    return Status::Unavailable("connect " + addr + ": timed out");
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    ::close(fd);
    return Status::Unavailable("connect " + addr + ": " + std::strerror(err));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  RespConnection c;
  c.fd_ = fd;
  if (tls) {
    auto engine = net::TlsEngine::NewClient(tls, server_name.empty() ? host : server_name);
    if (!engine.ok()) return engine.status();
    c.tls_ = std::move(engine.value());
    Status s = c.Handshake(deadline);
    if (!s.ok()) return s;
  }
  return c;
}

Status RespConnection::Handshake(std::chrono::steady_clock::time_point deadline) {
  Status s = tls_->Start();
  if (s.ok()) s = SendBytes(tls_->TakeCiphertext());
  while (s.ok() && !tls_->handshake_done()) s = Receive(deadline);
  if (!s.ok()) Close();
  return s;
}

Status RespConnection::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return Status::Unavailable("not connected");
  if (tls_) {
    Status s = tls_->WritePlain(bytes);
    if (!s.ok()) {
      Close();
      return s;
    }
    return SendBytes(tls_->TakeCiphertext());
  }
  return SendBytes(bytes);
}

Status RespConnection::SendBytes(std::string_view bytes) {
  if (fd_ < 0) return Status::Unavailable("not connected");
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      Status s = Errno("send");
      Close();
      return s;
    }
    struct pollfd p {fd_, POLLOUT, 0};
    if (::poll(&p, 1, RemainingMs(deadline)) <= 0) {
      Close();
      return Status::Unavailable("send: timed out");
    }
  }
  return Status::Ok();
}

Result<Reply> RespConnection::ReadReply() {
  if (fd_ < 0) return Status::Unavailable("not connected");
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    Reply reply;
    resp::ParseResult r = parser_.Parse(inbuf_, &reply);
    if (r.kind == resp::ParseResult::Kind::kDone) {
      inbuf_.erase(0, r.consumed);
      return reply;
    }
    if (r.kind == resp::ParseResult::Kind::kError) {
      Close();
      return Status::Corruption("bad reply: " + r.error);
    }
    Status s = Receive(deadline);
    if (!s.ok()) return s;
  }
}

Status RespConnection::Receive(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    struct pollfd p {fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, RemainingMs(deadline));
    if (pr <= 0) {
      Close();
      return Status::Unavailable(tls_ && !tls_->handshake_done() ? "TLS handshake: timed out" : "read: timed out");
    }
    char buf[64 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) {
      bool handshaking = tls_ && !tls_->handshake_done();
      Close();
      return Status::Unavailable(handshaking ? "TLS handshake: connection closed by server (is it a TLS port?)"
                                             : "connection closed by server");
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      Status s = Errno("recv");
      Close();
      return s;
    }
    if (!tls_) {
      inbuf_.append(buf, static_cast<size_t>(n));
      return Status::Ok();
    }
    Status s = tls_->FeedCiphertext(std::string_view(buf, static_cast<size_t>(n)));
    if (s.ok() && tls_->HasCiphertext()) s = SendBytes(tls_->TakeCiphertext());
    if (!s.ok()) {
      Close();
      return s;
    }
    if (tls_->plain_in().empty() && tls_->peer_closed()) {
      Close();
      return Status::Unavailable("connection closed by server");
    }
    inbuf_ += tls_->plain_in();
    tls_->plain_in().clear();
    return Status::Ok();
  }
}

Result<Reply> RespConnection::Call(const Argv& argv) {
  std::string out;
  resp::WriteCommand(argv, &out);
  Status s = SendRaw(out);
  if (!s.ok()) return s;
  return ReadReply();
}

Result<std::vector<Reply>> RespConnection::Pipeline(const std::vector<Argv>& commands) {
  std::string out;
  for (const auto& c : commands) resp::WriteCommand(c, &out);
  Status s = SendRaw(out);
  if (!s.ok()) return s;
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); i++) {
    auto r = ReadReply();
    if (!r.ok()) return r.status();
    replies.push_back(std::move(r.value()));
  }
  return replies;
}

}  // namespace lockq::client
