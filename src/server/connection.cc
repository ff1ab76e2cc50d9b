#include "server/connection.h"

#include <spdlog/spdlog.h>

#include "server/errors.h"
#include "server/resp_server.h"

namespace lockq::server {

namespace {

struct WriteReq {
  uv_write_t req {};
  std::shared_ptr<Connection> conn;  // alive until the write completes
  std::string bytes;
};

// One read buffer for every connection: the loop is single-threaded and
// ReadCb copies out of it before returning.
char g_read_slab[64 * 1024];

resp::ParserLimits ToParserLimits(const Limits& l) {
  resp::ParserLimits p;
  p.max_bulk_bytes = l.max_bulk_bytes;
  p.max_args = l.max_args;
  p.max_inline_bytes = l.max_inline_bytes;
  return p;
}

}  // namespace

Connection::Connection(RespServer* server, uint64_t id)
    : server_(server), id_(id), parser_(ToParserLimits(server->limits())) {}

Connection::~Connection() = default;

void Connection::Start() {
  self_ref_ = shared_from_this();
  tcp_.data = this;
  struct sockaddr_storage sa;
  int len = sizeof(sa);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
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
    peer_ = std::string(host) + ":" + std::to_string(port);
  }
  UpdateReading();
}

uint64_t Connection::ReserveSlot() {
  slots_.emplace_back();
  return first_slot_ + slots_.size() - 1;
}

void Connection::Fill(uint64_t slot, const sm::Reply& reply) {
  if (closing_ || slot < first_slot_ || slot >= first_slot_ + slots_.size()) return;
  Slot& s = slots_[slot - first_slot_];
  resp::WriteReply(reply, protocol_, &s.bytes);
  s.ready = true;
  unsent_bytes_ += s.bytes.size();
  if (unsent_bytes_ > server_->limits().max_output_bytes) {
    // Checked per reply, not per flush: a client that never reads must not
    // make us hold its whole pipeline's replies first.
    spdlog::warn("client {} ({}) exceeded {} bytes of unsent replies; disconnecting", id_, peer_,
                 server_->limits().max_output_bytes);
    server_->stats().output_limit_disconnects++;
    CloseNow();
    return;
  }
  if (slot == first_slot_ && !dirty_) {
    dirty_ = true;
    server_->MarkDirty(this);
  }
}

bool Connection::FillDeferred(uint64_t slot, const sm::Reply& reply) {
  if (deferred_.erase(slot) == 0) return false;
  Fill(slot, reply);
  return true;
}

void Connection::FlushOutput() {
  dirty_ = false;
  if (closing_) return;
  std::string out;
  while (!slots_.empty() && slots_.front().ready) {
    if (out.empty()) out = std::move(slots_.front().bytes);
    else out += slots_.front().bytes;
    slots_.pop_front();
    first_slot_++;
  }
  // Fast path: write at once with uv_try_write. Every completed uv_write
  // costs an epoll_ctl (libuv re-arms the socket when its write queue
  // drains) plus a request and a callback. Only when no unparsed input is
  // buffered: WriteCb is what resumes parsing input held back by
  // ShouldPauseReading.
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (!out.empty() && inbuf_pos_ == inbuf_.size() && uv_stream_get_write_queue_size(stream) == 0) {
    uv_buf_t buf = uv_buf_init(out.data(), out.size());
    int n = uv_try_write(stream, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
      CloseNow();
      return;
    }
    if (n > 0) {
      unsent_bytes_ -= std::min(unsent_bytes_, static_cast<size_t>(n));
      out.erase(0, static_cast<size_t>(n));
    }
  }
  if (!out.empty()) {
    auto* w = new WriteReq;
    w->bytes = std::move(out);
    w->conn = shared_from_this();
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
    if (uv_write(&w->req, stream, &buf, 1, &Connection::WriteCb) != 0) {
      delete w;
      CloseNow();
      return;
    }
  }
  if (close_after_replies_ && slots_.empty()) {
    // Closing after the last write is queued: libuv flushes queued writes
    // before the close callback (uv_close cancels them only on error).
    uv_shutdown_t* sd = new uv_shutdown_t;
    sd->data = this;
    if (uv_shutdown(sd, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) {
          auto* c = static_cast<Connection*>(r->data);
          delete r;
          c->CloseNow();
        }) != 0) {
      delete sd;
      CloseNow();
    }
    closing_ = true;  // no more input or replies
    return;
  }
  UpdateReading();
}

void Connection::WriteCb(uv_write_t* req, int status) noexcept {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn.get();
  c->unsent_bytes_ -= std::min(c->unsent_bytes_, w->bytes.size());
  if (status == 0 && !c->closing_) {
    c->UpdateReading();
    if (c->reading_ && c->inbuf_pos_ < c->inbuf_.size()) c->ProcessInput();
  }
  delete w;
}

bool Connection::ShouldPauseReading() const {
  const Limits& l = server_->limits();
  return slots_.size() >= l.max_pending_commands || unsent_bytes_ >= l.pause_output_bytes;
}

void Connection::UpdateReading() {
  if (closing_) return;
  bool want = !ShouldPauseReading();
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    uv_read_start(stream,
                  [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(g_read_slab, sizeof(g_read_slab)); },
                  &Connection::ReadCb);
  } else {
    uv_read_stop(stream);
  }
  reading_ = want;
}

void Connection::ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<Connection*>(s->data);
  if (n < 0) {
    c->CloseNow();
    return;
  }
  if (n == 0 || c->closing_) return;
  c->inbuf_.append(buf->base, static_cast<size_t>(n));
  c->ProcessInput();
}

void Connection::ProcessInput() {
  auto keep = shared_from_this();
  while (!closing_ && !close_after_replies_ && inbuf_pos_ < inbuf_.size()) {
    if (ShouldPauseReading()) break;
    sm::Argv argv;
    resp::ParseResult r = parser_.Parse(std::string_view(inbuf_).substr(inbuf_pos_), &argv);
    if (r.kind == resp::ParseResult::Kind::kNeedMore) {
      // Each argument and the argument count are bounded by the parser;
      // this bounds their product: one command still being received.
      if (inbuf_.size() - inbuf_pos_ > server_->limits().max_query_bytes) {
        server_->stats().protocol_errors++;
        Fill(ReserveSlot(), sm::Reply::Error(kErrQueryLimit));
        CloseAfterReplies();
      }
      break;
    }
    if (r.kind == resp::ParseResult::Kind::kError) {
      server_->stats().protocol_errors++;
      Fill(ReserveSlot(), sm::Reply::Error("ERR " + r.error));
      CloseAfterReplies();
      break;
    }
    inbuf_pos_ += r.consumed;
    commands_processed_++;
    server_->stats().commands_processed++;
    uint64_t slot = ReserveSlot();
    server_->Dispatch(keep, std::move(argv), slot);
  }
  // Compact: drop consumed bytes once they dominate the buffer.
  if (inbuf_pos_ == inbuf_.size()) {
    inbuf_.clear();
    inbuf_pos_ = 0;
    if (inbuf_.capacity() > (1 << 20)) inbuf_.shrink_to_fit();
  } else if (inbuf_pos_ > (64 << 10) && inbuf_pos_ * 2 > inbuf_.size()) {
    inbuf_.erase(0, inbuf_pos_);
    inbuf_pos_ = 0;
  }
  UpdateReading();
}

void Connection::CloseAfterReplies() {
  close_after_replies_ = true;
  if (!dirty_) {
    dirty_ = true;
    server_->MarkDirty(this);
  }
}

void Connection::CloseNow() {
  if (tcp_.data == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  closing_ = true;
  slots_.clear();  // replies nobody will read
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* hh) {
    auto* c = static_cast<Connection*>(hh->data);
    c->server_->Forget(c->id_);
    auto ref = std::move(c->self_ref_);  // may free c when this scope ends
  });
}

}  // namespace lockq::server
