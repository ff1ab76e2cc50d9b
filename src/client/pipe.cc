#include "client/pipe.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "resp/resp.h"

namespace lockq::client {

struct Pipe::Core {
  int fd = -1;
  // TLS (null on TCP). The reader feeds it and the flushing sender
  // encrypts with it, from two threads: tls_mu guards the engine. Records
  // must reach the socket in the order they were made, so whoever sends
  // ciphertext holds send_mu from taking it out of the engine until it is
  // written (the reader only makes some when the server asks, e.g. a key
  // update; it never blocks on send_mu otherwise).
  std::unique_ptr<net::TlsEngine> tls;
  std::mutex tls_mu;
  std::mutex send_mu;
  std::string addr;
  PushHandler on_push;
  std::function<void()> on_pending;  // set before the first deferred Send
  std::mutex mu;
  bool closed = false;
  bool writing = false;
  std::string out;
  std::deque<Callback> waiting;

  ~Core() {
    if (fd >= 0) ::close(fd);
  }

  // Takes every waiting callback and completes them with `why`; the first
  // caller wins, so a Close() reason is not replaced by the reader's EOF.
  void Fail(const Status& why) {
    std::deque<Callback> failed;
    {
      std::lock_guard lock(mu);
      if (!closed) ::shutdown(fd, SHUT_RDWR);
      closed = true;
      failed.swap(waiting);
      out.clear();
    }
    for (auto& cb : failed) cb(why);
  }

  // Writes `out` until it is empty; called with mu held and writing false.
  // Senders that arrive meanwhile append to `out` and leave, so one send()
  // carries many requests under load.
  void Flush(std::unique_lock<std::mutex>& lock) {
    writing = true;
    while (!out.empty() && !closed) {
      std::string buf;
      buf.swap(out);
      lock.unlock();
      bool ok = SendAll(buf);
      lock.lock();
      if (!ok) {
        // The reader sees the shutdown and fails every request, on its
        // own thread: Send() never runs callbacks on the sender's thread
        // (which may hold its own locks).
        ::shutdown(fd, SHUT_RDWR);
        break;
      }
    }
    writing = false;
  }

  bool SendAll(const std::string& buf) {
    if (!tls) return SendRaw(buf);
    std::lock_guard send_lock(send_mu);
    std::string cipher;
    {
      std::lock_guard tls_lock(tls_mu);
      if (!tls->WritePlain(buf).ok()) return false;
      cipher = tls->TakeCiphertext();
    }
    return SendRaw(cipher);
  }

  // After the reader fed the engine: what it must send back, in order.
  bool SendTlsReplies() {
    std::lock_guard send_lock(send_mu);
    std::string cipher;
    {
      std::lock_guard tls_lock(tls_mu);
      cipher = tls->TakeCiphertext();
    }
    return SendRaw(cipher);
  }

  // Decrypts `n` bytes of `buf` into `in`; false when TLS failed.
  bool Decrypt(const char* buf, size_t n, std::string* in, Status* error) {
    bool reply;
    {
      std::lock_guard tls_lock(tls_mu);
      Status s = tls->FeedCiphertext(std::string_view(buf, n));
      if (!s.ok()) {
        *error = Status::OutcomeUnknown("connection to " + addr + " lost: " + s.message());
        return false;
      }
      *in += tls->plain_in();
      tls->plain_in().clear();
      reply = tls->HasCiphertext();
    }
    if (reply && !SendTlsReplies()) {
      *error = Status::OutcomeUnknown("connection to " + addr + " lost");
      return false;
    }
    return true;
  }

  bool SendRaw(const std::string& buf) {
    size_t off = 0;
    while (off < buf.size()) {
      ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
};

namespace {

// A node that cannot be reached is Unavailable (try another); a TLS
// failure (refused certificate, name mismatch, a plain port) is not a
// node problem, and retrying would not help: PermissionDenied.
Status NodeError(const std::string& addr, const Status& s) {
  if (s.code() == StatusCode::kIoError && s.message().rfind("TLS", 0) == 0) {
    return Status::PermissionDenied("connect " + addr + ": " + s.message());
  }
  if (s.message().rfind("connect ", 0) == 0) return Status::Unavailable(s.message());
  return Status::Unavailable("connect " + addr + ": " + s.message());
}

}  // namespace

Result<RespConnection> ConnectNode(const std::string& addr, const ClientOptions& options) {
  std::shared_ptr<net::TlsContext> tls;
  if (options.tls.enabled) {
    // Loaded per connection: a client connects rarely, and rotated files
    // are picked up without restarting it.
    net::TlsContextConfig c;
    c.cert_file = options.tls.cert_file;
    c.key_file = options.tls.key_file;
    c.ca_file = options.tls.ca_file;
    c.server = false;
    c.verify = net::TlsContextConfig::Verify::kRequired;
    auto ctx = net::TlsContext::Load(c);
    if (!ctx.ok()) return Status::InvalidArgument("TLS: " + ctx.status().message());
    tls = std::move(ctx.value());
  }
  auto conn = RespConnection::Connect(addr, options.connect_timeout, tls, options.tls.server_name);
  if (!conn.ok()) return NodeError(addr, conn.status());
  std::vector<std::string> hello = {"HELLO", "3"};
  if (!options.password.empty()) {
    hello.insert(hello.end(), {"AUTH", options.username.empty() ? "default" : options.username, options.password});
  }
  conn->set_timeout(options.connect_timeout);
  auto r = conn->Call(hello);  // with TLS 1.3 a refused client certificate shows here
  if (!r.ok()) return NodeError(addr, r.status());
  if (r->is_error()) return FromServerError(r->str);
  return conn;
}

Pipe::Pipe(std::shared_ptr<Core> core) : core_(std::move(core)) {
  reader_ = std::thread([c = core_] { ReadLoop(c); });
}

Pipe::~Pipe() {
  Close(Status::Unavailable("connection closed by the client"));
  if (reader_.get_id() == std::this_thread::get_id()) {
    reader_.detach();  // dropped from a callback: the loop ends on its own
  } else if (reader_.joinable()) {
    reader_.join();
  }
}

Result<std::shared_ptr<Pipe>> Pipe::Open(const std::string& addr, const ClientOptions& options, PushHandler on_push) {
  auto conn = ConnectNode(addr, options);
  if (!conn.ok()) return conn.status();
  auto core = std::make_shared<Core>();
  core->fd = conn->ReleaseFd(&core->tls);
  core->addr = addr;
  core->on_push = std::move(on_push);
  int flags = ::fcntl(core->fd, F_GETFL);
  ::fcntl(core->fd, F_SETFL, flags & ~O_NONBLOCK);  // the reader blocks in recv
  return std::shared_ptr<Pipe>(new Pipe(core));
}

bool Pipe::Send(const std::vector<std::string>& argv, Callback done, bool defer) {
  constexpr size_t kDeferBytes = 64 * 1024;
  std::unique_lock lock(core_->mu);
  if (core_->closed) return false;
  bool answered_all = core_->waiting.empty();
  resp::WriteCommand(argv, &core_->out);
  core_->waiting.push_back(std::move(done));
  if (defer && !answered_all && core_->out.size() < kDeferBytes) return true;
  if (!core_->writing) core_->Flush(lock);
  return true;
}

Result<Reply> Pipe::Call(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<Reply>>>();
  auto future = promise->get_future();
  if (!Send(argv, [promise](Result<Reply> r) { promise->set_value(std::move(r)); })) {
    return Status::Unavailable("connection to " + addr() + " is closed");
  }
  if (future.wait_for(timeout) != std::future_status::ready) {
    Close(Status::DeadlineExceeded("no reply from " + addr() + " within " + std::to_string(timeout.count()) + " ms"));
  }
  return future.get();
}

void Pipe::Close(const Status& why) { core_->Fail(why); }

void Pipe::SetPendingHook(std::function<void()> hook) { core_->on_pending = std::move(hook); }

void Pipe::FlushPending() {
  std::unique_lock lock(core_->mu);
  if (!core_->out.empty() && !core_->writing && !core_->closed) core_->Flush(lock);
}

bool Pipe::open() const {
  std::lock_guard lock(core_->mu);
  return !core_->closed;
}

const std::string& Pipe::addr() const { return core_->addr; }

void Pipe::ReadLoop(const std::shared_ptr<Core>& core) {
  resp::ReplyParser parser;
  std::string in;
  size_t start = 0;  // parsed up to here
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(core->fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      core->Fail(Status::OutcomeUnknown("connection to " + core->addr + " lost"));
      return;
    }
    if (core->tls) {
      Status error;
      if (!core->Decrypt(buf, static_cast<size_t>(n), &in, &error)) {
        core->Fail(error);
        return;
      }
    } else {
      in.append(buf, static_cast<size_t>(n));
    }
    for (;;) {
      Reply reply;
      resp::ParseResult pr = parser.Parse(std::string_view(in).substr(start), &reply);
      if (pr.kind == resp::ParseResult::Kind::kNeedMore) break;
      if (pr.kind == resp::ParseResult::Kind::kError) {
        core->Fail(Status::Corruption("bad reply from " + core->addr + ": " + pr.error));
        return;
      }
      start += pr.consumed;
      if (reply.kind == Reply::Kind::kPush) {
        if (core->on_push) core->on_push(reply);
        continue;
      }
      Callback cb;
      {
        std::lock_guard lock(core->mu);
        if (core->waiting.empty()) {
          if (core->closed) return;
        } else {
          cb = std::move(core->waiting.front());
          core->waiting.pop_front();
        }
      }
      if (!cb) {
        core->Fail(Status::Corruption("reply from " + core->addr + " that no request asked for"));
        return;
      }
      cb(std::move(reply));
    }
    bool pending;
    {
      std::lock_guard lock(core->mu);
      pending = !core->out.empty() && !core->writing && !core->closed;
    }
    if (pending && core->on_pending) core->on_pending();
    if (start > 0 && (start == in.size() || start > 1 << 20)) {
      in.erase(0, start);
      start = 0;
    }
  }
}

}  // namespace lockq::client
