#include "net/stream_conn.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

namespace lockq::net {

namespace {

// One read buffer for every connection: the loop is single-threaded and
// ReadCb copies out of it before returning.
char g_read_slab[64 * 1024];

void AllocSlab(uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(g_read_slab, sizeof(g_read_slab)); }

}  // namespace

struct StreamConnection::WriteReq {
  uv_write_t req {};
  std::shared_ptr<StreamConnection> conn;  // alive until the write completes
  std::string bytes;
  size_t counted_bytes = 0;  // the slots' share of unsent_bytes_
};

StreamConnection::StreamConnection(uv_loop_t* loop, FlushQueue* flush, Options options)
    : loop_(loop), flush_(flush), options_(std::move(options)) {
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
}

StreamConnection::~StreamConnection() = default;

void StreamConnection::Start(StreamSession* session) {
  session_ = session;
  started_ = true;
  self_ref_ = shared_from_this();
  last_read_ms_ = last_write_ms_ = options_.clock->MonotonicMs();
  if (options_.tls) {
    if (options_.tls->config().server) {
      tls_ = TlsEngine::NewServer(options_.tls);
    } else {
      auto engine = TlsEngine::NewClient(options_.tls, options_.tls_server_name);
      if (engine.ok()) tls_ = std::move(engine.value());
    }
    if (!tls_) {
      TlsFailed("TLS: cannot start a session");
      return;
    }
    ArmDeadline(options_.tls_handshake_timeout_ms);
    Status s = tls_->Start();  // a client's hello; nothing for a server
    SendCiphertext();
    if (!s.ok()) {
      TlsFailed(s.message());
      return;
    }
  }
  UpdateReading();
}

void StreamConnection::Discard() { CloseNow(); }

Status StreamConnection::Open(uv_os_sock_t fd) {
  int rv = uv_tcp_open(&tcp_, fd);
  if (rv != 0) {
    ::close(fd);
    return Status::IoError(std::string("adopt socket: ") + uv_strerror(rv));
  }
  return Status::Ok();
}

std::string StreamConnection::PeerName() {
  sockaddr_storage sa;
  int len = sizeof(sa);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return {};
  char host[64] = {0};
  int port = 0;
  if (sa.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    uv_ip4_name(in, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    uv_ip6_name(in6, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// ---- output ---------------------------------------------------------------------

uint64_t StreamConnection::ReserveSlot() {
  slots_.emplace_back();
  return first_slot_ + slots_.size() - 1;
}

void StreamConnection::Fill(uint64_t slot, Output out) {
  if (closing_ || slot < first_slot_ || slot >= first_slot_ + slots_.size()) return;
  Slot& s = slots_[slot - first_slot_];
  s.out = std::move(out);
  s.ready = true;
  s.counted_bytes = s.out.mark != 0 ? s.out.mark_bytes : s.out.bytes.size();
  unsent_bytes_ += s.counted_bytes;
  if (unsent_bytes_ > options_.max_output_bytes) {
    // Checked per answer, not per flush: a peer that never reads must not
    // make us hold its whole pipeline's answers first.
    if (session_ != nullptr) session_->OnOutputLimit();
    CloseNow();
    return;
  }
  if (slot == first_slot_) MarkDirty();
}

void StreamConnection::MarkDirty() {
  if (dirty_ || closing_) return;
  dirty_ = true;
  if (flush_ == nullptr) {
    FlushOutput();
    return;
  }
  flush_->Add(weak_from_this());
}

void StreamConnection::WriteNow(std::string bytes) {
  if (closing_ || shut_down_) return;
  Write(std::move(bytes), 0);
}

void StreamConnection::FlushOutput() {
  dirty_ = false;
  if (closing_ || shut_down_) return;
  std::string out;
  size_t counted = 0;
  // A run of marks on one key is rendered as one piece (AMQP: confirms
  // merged into one basic.ack); any slot with bytes ends the run, so the
  // order of everything else is kept.
  uint32_t run_key = 0;
  uint64_t run_last = 0;
  size_t run_length = 0;
  auto end_run = [&] {
    if (run_length == 0) return;
    if (options_.render_marks) options_.render_marks(run_key, run_last, run_length, &out);
    run_length = 0;
  };
  while (!slots_.empty() && slots_.front().ready) {
    Slot& s = slots_.front();
    if (s.out.mark != 0) {
      if (run_length != 0 && run_key != s.out.mark_key) end_run();
      run_key = s.out.mark_key;
      run_last = s.out.mark;
      run_length++;
    } else if (!s.out.bytes.empty()) {
      end_run();
      if (out.empty()) out = std::move(s.out.bytes);
      else out += s.out.bytes;
    }
    counted += s.counted_bytes;
    slots_.pop_front();
    first_slot_++;
  }
  end_run();
  Write(std::move(out), counted);
  if (closing_) return;
  if (close_after_write_ && slots_.empty()) {
    Shutdown();
    return;
  }
  // Input parsed no further while too many answers were owed goes on now
  // (answers without bytes never reach WriteCb).
  UpdateReading();
  if (reading_ && inbuf_pos_ < inbuf_.size()) ProcessInput();
}

void StreamConnection::Write(std::string bytes, size_t counted_bytes) {
  if (tls_ && !bytes.empty()) {
    // Held inside the engine until the handshake is done. counted_bytes
    // stays a plaintext count: the bound is on what the session produced.
    Status s = tls_->WritePlain(bytes);
    if (!s.ok()) {
      TlsFailed(s.message());
      return;
    }
    bytes = tls_->TakeCiphertext();
  }
  RawWrite(std::move(bytes), counted_bytes);
}

void StreamConnection::RawWrite(std::string bytes, size_t counted_bytes) {
  auto uncount = [this](size_t n) { unsent_bytes_ -= std::min(unsent_bytes_, n); };
  if (bytes.empty()) {
    uncount(counted_bytes);
    return;
  }
  last_write_ms_ = options_.clock->MonotonicMs();
  // Fast path: write at once with uv_try_write. Every completed uv_write
  // costs an epoll_ctl (libuv re-arms the socket when its write queue
  // drains) plus a request and a callback. Only with nothing queued, or
  // the bytes would overtake earlier ones.
  if (uv_stream_get_write_queue_size(stream()) == 0) {
    uv_buf_t buf = uv_buf_init(bytes.data(), bytes.size());
    int n = uv_try_write(stream(), &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
      BeginClose(/*reset=*/options_.abort_on_error);
      return;
    }
    if (n > 0) {
      size_t done = std::min(counted_bytes, static_cast<size_t>(n));
      uncount(done);
      counted_bytes -= done;
      bytes.erase(0, static_cast<size_t>(n));
    }
    if (bytes.empty()) {
      uncount(counted_bytes);
      return;
    }
  }
  auto* w = new WriteReq;
  w->bytes = std::move(bytes);
  w->counted_bytes = counted_bytes;
  w->conn = shared_from_this();
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
  if (uv_write(&w->req, stream(), &buf, 1, &StreamConnection::WriteCb) != 0) {
    delete w;
    BeginClose(/*reset=*/options_.abort_on_error);
  }
}

void StreamConnection::WriteCb(uv_write_t* req, int status) noexcept {
  auto* w = static_cast<WriteReq*>(req->data);
  StreamConnection* c = w->conn.get();
  c->unsent_bytes_ -= std::min(c->unsent_bytes_, w->counted_bytes);
  if (status == 0 && !c->closing()) {
    c->UpdateReading();
    if (c->reading_ && c->inbuf_pos_ < c->inbuf_.size()) c->ProcessInput();
  }
  delete w;  // may free c
}

// ---- input ----------------------------------------------------------------------

bool StreamConnection::PauseReading() const {
  return slots_.size() >= options_.max_pending || unsent_bytes_ >= options_.pause_output_bytes ||
         (session_ != nullptr && session_->PauseInput());
}

void StreamConnection::Resume() {
  if (closing()) return;
  UpdateReading();
  if (reading_ && inbuf_pos_ < inbuf_.size()) ProcessInput();
}

void StreamConnection::UpdateReading() {
  if (closing_ || !started_) return;
  // While closing after write, read on to see the peer's EOF; what it
  // sends is dropped in ReadCb.
  bool want = close_after_write_ || !PauseReading();
  if (want == reading_) return;
  if (want) {
    uv_read_start(stream(), &AllocSlab, &StreamConnection::ReadCb);
  } else {
    uv_read_stop(stream());
  }
  reading_ = want;
}

void StreamConnection::ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<StreamConnection*>(s->data);
  if (n < 0) {  // EOF or an error
    c->BeginClose(/*reset=*/c->options_.abort_on_error);
    return;
  }
  if (n == 0) return;
  c->last_read_ms_ = c->options_.clock->MonotonicMs();
  if (c->tls_) {
    c->ReadTls(std::string_view(buf->base, static_cast<size_t>(n)));
    return;
  }
  if (c->closing() || c->session_ == nullptr) return;  // never buffered once closing
  c->inbuf_.append(buf->base, static_cast<size_t>(n));
  c->ProcessInput();
}

// Ciphertext in: handshake replies and alerts go out at once, plaintext
// joins the input buffer as if read from the socket.
void StreamConnection::ReadTls(std::string_view ciphertext) {
  if (closing()) return;  // input is dropped once closing, TLS or not
  bool was_done = tls_->handshake_done();
  Status s = tls_->FeedCiphertext(ciphertext);
  SendCiphertext();  // an alert is worth sending even after a failure
  if (!s.ok()) {
    TlsFailed(s.message());
    return;
  }
  if (!was_done && tls_->handshake_done() && deadline_armed_ && !close_after_write_) uv_timer_stop(&deadline_);
  std::string& plain = tls_->plain_in();
  if (!plain.empty() && session_ != nullptr && !closing()) {
    if (inbuf_pos_ == inbuf_.size()) {
      inbuf_.clear();
      inbuf_pos_ = 0;
      inbuf_.swap(plain);  // no copy; the engine reuses the old buffer
    } else {
      inbuf_.append(plain);
    }
    ProcessInput();
  }
  plain.clear();
  // close_notify: nothing more will come, as at EOF.
  if (tls_->peer_closed() && !closing_) BeginClose(/*reset=*/options_.abort_on_error);
}

void StreamConnection::SendCiphertext() {
  if (tls_ && tls_->HasCiphertext() && !closing_) RawWrite(tls_->TakeCiphertext(), 0);
}

void StreamConnection::TlsFailed(const std::string& error) {
  if (closing_) return;
  if (options_.on_tls_error) options_.on_tls_error(PeerName(), error);
  BeginClose(/*reset=*/options_.abort_on_error);
}

void StreamConnection::ProcessInput() {
  auto keep = shared_from_this();
  if (session_ != nullptr && !closing() && inbuf_pos_ < inbuf_.size() && !PauseReading()) {
    size_t used = session_->OnInput(std::string_view(inbuf_).substr(inbuf_pos_));
    inbuf_pos_ += std::min(used, inbuf_.size() - inbuf_pos_);
  }
  // Compact: drop consumed bytes once they dominate the buffer; all of
  // them once closing.
  if (inbuf_pos_ == inbuf_.size() || closing()) {
    inbuf_.clear();
    inbuf_pos_ = 0;
    if (inbuf_.capacity() > (1 << 20)) inbuf_.shrink_to_fit();
  } else if (inbuf_pos_ > (64 << 10) && inbuf_pos_ * 2 > inbuf_.size()) {
    inbuf_.erase(0, inbuf_pos_);
    inbuf_pos_ = 0;
  }
  UpdateReading();
}

// ---- closing --------------------------------------------------------------------

void StreamConnection::CloseAfterWrite(CloseMode mode) {
  if (close_after_write_ || closing_) return;
  if (tls_ && !tls_->handshake_done()) {
    // Nothing can reach the peer before the handshake (the max-clients
    // refusal): close now rather than hold the socket until the deadline.
    CloseNow();
    return;
  }
  close_after_write_ = true;
  close_mode_ = mode;
  inbuf_.clear();
  inbuf_pos_ = 0;
  // Answers still owed come first, but not for ever: a peer that never
  // reads, or never closes, is closed at the deadline.
  ArmDeadline(options_.close_timeout_ms);
  MarkDirty();
  UpdateReading();
}

// One timer for both deadlines: the TLS handshake's, then close-after-write's
// (which replaces it).
void StreamConnection::ArmDeadline(uint64_t ms) {
  if (!deadline_armed_) {
    uv_timer_init(loop_, &deadline_);
    deadline_.data = this;
    deadline_armed_ = true;
    handles_open_++;
  }
  uv_timer_start(&deadline_, &StreamConnection::DeadlineCb, ms, 0);
}

void StreamConnection::DeadlineCb(uv_timer_t* t) noexcept {
  auto* c = static_cast<StreamConnection*>(t->data);
  if (c->tls_ && !c->tls_->handshake_done() && !c->close_after_write_) {
    c->TlsFailed("TLS handshake not finished within " + std::to_string(c->options_.tls_handshake_timeout_ms) + " ms");
    return;
  }
  c->CloseNow();
}

void StreamConnection::Shutdown() {
  if (shut_down_) return;
  if (tls_) {
    tls_->Shutdown();  // close_notify, after everything written so far
    SendCiphertext();
  }
  shut_down_ = true;
  // libuv runs the shutdown after the queued writes.
  auto* sd = new uv_shutdown_t;
  sd->data = this;
  int rv = uv_shutdown(sd, stream(), [](uv_shutdown_t* r, int status) {
    auto* c = static_cast<StreamConnection*>(r->data);
    delete r;
    if (status != 0 || c->close_mode_ == CloseMode::kWhenWritten) c->CloseNow();
    // kWaitForPeer: ReadCb closes at the peer's EOF, DeadlineCb at the deadline.
  });
  if (rv != 0) {
    delete sd;
    CloseNow();
  }
}

void StreamConnection::CloseNow() { BeginClose(/*reset=*/false); }

void StreamConnection::Abort() { BeginClose(/*reset=*/true); }

void StreamConnection::BeginClose(bool reset) {
  if (closing_) return;
  closing_ = true;
  slots_.clear();  // answers nobody will read
  inbuf_.clear();
  inbuf_pos_ = 0;
  if (!self_ref_) self_ref_ = shared_from_this();
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  // uv_tcp_close_reset sets SO_LINGER 0: close sends RST and the kernel
  // drops what is unsent. It refuses a socket whose shutdown is pending.
  if (!reset || uv_tcp_close_reset(&tcp_, &StreamConnection::CloseCb) != 0) {
    if (reset) {
      uv_os_fd_t fd;
      if (uv_fileno(h, &fd) == 0) {
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
    }
    uv_close(h, &StreamConnection::CloseCb);
  }
  if (deadline_armed_) uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), &StreamConnection::CloseCb);
}

void StreamConnection::CloseCb(uv_handle_t* h) noexcept {
  auto* c = static_cast<StreamConnection*>(h->data);
  if (--c->handles_open_ > 0) return;
  c->closed_ = true;
  auto ref = std::move(c->self_ref_);  // may free c when this scope ends
  StreamSession* session = std::exchange(c->session_, nullptr);
  if (session != nullptr) session->OnClosed();
  if (auto hook = std::move(c->close_hook_)) hook();
}

// ---- FlushQueue -----------------------------------------------------------------

void FlushQueue::Start() {
  if (started_) return;
  started_ = true;
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, [](uv_check_t* h) { static_cast<FlushQueue*>(h->data)->FlushAll(); });
}

FlushQueue::~FlushQueue() { Close(); }

void FlushQueue::FlushAll() {
  if (before_flush_) before_flush_();
  // A flush can parse input held back and so fill more slots: go on until
  // nothing is dirty (input is finite, so this ends).
  while (!dirty_.empty()) {
    auto dirty = std::move(dirty_);
    dirty_.clear();
    for (auto& w : dirty) {
      if (auto c = w.lock()) c->FlushOutput();
    }
  }
}

void FlushQueue::Close() {
  if (!started_) return;
  started_ = false;
  uv_check_stop(&check_);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
}

}  // namespace lockq::net
