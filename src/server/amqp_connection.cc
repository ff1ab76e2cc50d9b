// AMQP connection: socket I/O, ordered output slots, heartbeats, input
// framing (amqp_connection.h). The protocol itself is in amqp_protocol.cc.

#include "server/amqp_connection.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "amqp/frame.h"
#include "server/amqp_server.h"
#include "server/core.h"
#include "sm/state_machine.h"

namespace lockq::server {

using amqp::Bytes;

namespace {

constexpr uint64_t kHandshakeTimeoutMs = 10000;
constexpr uint64_t kCloseTimeoutMs = 5000;  // for answers still owed before a close

// A basic.ack frame: header 7 + class, method 4 + tag 8 + bits 1 + end 1.
constexpr size_t kAckFrameBytes = 21;

struct WriteReq {
  uv_write_t req {};
  std::shared_ptr<AmqpConnection> conn;
  std::string bytes;
  size_t counted_bytes = 0;  // the slots' share of unsent_bytes_
};

char g_read_slab[64 * 1024];

}  // namespace

AmqpConnection::AmqpConnection(AmqpServer* server, uint64_t id) : server_(server), id_(id) {
  init_amqp_pool(&pool_, 4096);
}

AmqpConnection::~AmqpConnection() { empty_amqp_pool(&pool_); }

void AmqpConnection::Start() {
  self_ref_ = shared_from_this();
  tcp_.data = this;
  started_ms_ = last_read_ms_ = last_write_ms_ = WallClockMs();
  UpdateReading();
}

// ---- output -------------------------------------------------------------------

uint64_t AmqpConnection::ReserveSlot() {
  slots_.emplace_back();
  return first_slot_ + slots_.size() - 1;
}

void AmqpConnection::Fill(uint64_t slot, Answer answer) {
  if (closing_ || slot < first_slot_ || slot >= first_slot_ + slots_.size()) return;
  Slot& s = slots_[slot - first_slot_];
  s.answer = std::move(answer);
  s.ready = true;
  s.counted_bytes = s.answer.confirm_tag != 0 ? kAckFrameBytes : s.answer.bytes.size();
  unsent_bytes_ += s.counted_bytes;
  if (unsent_bytes_ > server_->limits().max_output_bytes) {
    spdlog::warn("amqp client {} exceeded {} bytes of unsent output; disconnecting", id_,
                 server_->limits().max_output_bytes);
    CloseNow();
    return;
  }
  if (slot == first_slot_ && !dirty_) {
    dirty_ = true;
    server_->MarkDirty(this);
  }
}

std::string AmqpConnection::Method(uint16_t ch, amqp_method_number_t id, void* m) {
  std::string out;
  if (!amqp::AppendMethod(ch, id, m, &out)) spdlog::error("amqp: cannot encode {}", amqp_method_name(id));
  return out;
}

void AmqpConnection::SendMethod(uint16_t ch, amqp_method_number_t id, void* m) { Send(Method(ch, id, m)); }

void AmqpConnection::FlushOutput() {
  dirty_ = false;
  if (closing_) return;
  auto* w = new WriteReq;
  // Confirms that are ready together leave as one basic.ack with
  // multiple=true for the highest tag of a run on one channel (RabbitMQ's
  // confirm extension: it confirms every earlier publish of the channel).
  // That is exact because slots leave in publish order: every earlier
  // publish of the channel was confirmed (or nacked) before this run or is
  // in it. Anything else with bytes ends the run, so nacks, returns and
  // closes keep their place.
  uint16_t run_channel = 0;
  uint64_t run_tag = 0;
  size_t run_length = 0;
  auto end_run = [&] {
    if (run_tag == 0) return;
    amqp_basic_ack_t ack{run_tag, run_length > 1};
    amqp::AppendMethod(run_channel, AMQP_BASIC_ACK_METHOD, &ack, &w->bytes);
    run_tag = 0;
    run_length = 0;
  };
  while (!slots_.empty() && slots_.front().ready) {
    Slot& s = slots_.front();
    if (s.answer.confirm_tag != 0) {
      if (run_tag != 0 && run_channel != s.answer.confirm_channel) end_run();
      run_channel = s.answer.confirm_channel;
      run_tag = s.answer.confirm_tag;
      run_length++;
    } else if (!s.answer.bytes.empty()) {
      end_run();
      w->bytes += s.answer.bytes;
    }
    w->counted_bytes += s.counted_bytes;
    slots_.pop_front();
    first_slot_++;
  }
  end_run();
  if (w->bytes.empty()) {
    delete w;
  } else {
    last_write_ms_ = WallClockMs();
    w->conn = shared_from_this();
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &AmqpConnection::WriteCb) != 0) {
      delete w;
      CloseNow();
      return;
    }
  }
  if (close_after_write_ && slots_.empty()) {
    auto* sd = new uv_shutdown_t;
    sd->data = this;
    closing_ = true;
    if (uv_shutdown(sd, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) {
          auto* c = static_cast<AmqpConnection*>(r->data);
          delete r;
          c->CloseNow();
        }) != 0) {
      delete sd;
      CloseNow();
    }
    return;
  }
  UpdateReading();
  // Input parsed no further while too many answers were owed: go on now
  // (answers without bytes, like a publish's, never reach WriteCb).
  if (reading_ && inbuf_pos_ < inbuf_.size()) ProcessInput();
}

void AmqpConnection::WriteCb(uv_write_t* req, int status) noexcept {
  auto* w = static_cast<WriteReq*>(req->data);
  AmqpConnection* c = w->conn.get();
  c->unsent_bytes_ -= std::min(c->unsent_bytes_, w->counted_bytes);
  if (status == 0 && !c->closing_) {
    c->UpdateReading();
    if (c->reading_ && c->inbuf_pos_ < c->inbuf_.size()) c->ProcessInput();
  }
  delete w;
}

void AmqpConnection::CloseAfterWrite() {
  if (close_after_write_) return;
  close_after_write_ = true;
  // Answers still in the log come first; Tick closes anyway past the deadline.
  close_deadline_ms_ = WallClockMs() + kCloseTimeoutMs;
  if (!dirty_) {
    dirty_ = true;
    server_->MarkDirty(this);
  }
}

void AmqpConnection::CloseNow() {
  if (tcp_.data == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  closing_ = true;
  slots_.clear();
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* hh) {
    auto* c = static_cast<AmqpConnection*>(hh->data);
    c->server_->Forget(c->id_);
    auto ref = std::move(c->self_ref_);
  });
}

void AmqpConnection::Tick(uint64_t now_ms) {
  if (closing_) return;
  if ((conn_closing_ || close_after_write_) && now_ms >= close_deadline_ms_) {
    CloseNow();
    return;
  }
  if (state_ != State::kRunning && now_ms - started_ms_ > kHandshakeTimeoutMs) {
    CloseNow();
    return;
  }
  if (heartbeat_s_ == 0) return;
  // Section 4.2.7: a peer silent for two heartbeat intervals is dead.
  if (now_ms - last_read_ms_ > 2000ull * heartbeat_s_) {
    spdlog::info("amqp client {}: no heartbeat for {} s; closing", id_, 2 * heartbeat_s_);
    CloseNow();
    return;
  }
  // Whole slots are written at once and libuv keeps writes in order, so a
  // heartbeat never lands inside another frame, even while answers are owed.
  if (now_ms - last_write_ms_ >= 500ull * heartbeat_s_) {
    auto* w = new WriteReq;
    amqp::AppendHeartbeat(&w->bytes);
    w->conn = shared_from_this();
    w->req.data = w;
    last_write_ms_ = now_ms;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &AmqpConnection::WriteCb) != 0) {
      delete w;
      CloseNow();
    }
  }
}

// ---- input --------------------------------------------------------------------

bool AmqpConnection::ShouldPauseReading() const {
  const Limits& l = server_->limits();
  return slots_.size() >= l.max_pending_commands || unsent_bytes_ >= l.pause_output_bytes ||
         (publishes_ && server_->blocked());
}

void AmqpConnection::SetBlocked(bool blocked) {
  if (closing_) return;
  if (wants_blocked_ && state_ == State::kRunning && publishes_ && blocked != told_blocked_) {
    told_blocked_ = blocked;
    if (blocked) {
      amqp_connection_blocked_t b{amqp_cstring_bytes("low on memory: queues above --queue-high-water-bytes")};
      SendMethod(0, AMQP_CONNECTION_BLOCKED_METHOD, &b);
    } else {
      amqp_connection_unblocked_t u{};
      SendMethod(0, AMQP_CONNECTION_UNBLOCKED_METHOD, &u);
    }
  }
  UpdateReading();
  if (!blocked && reading_ && inbuf_pos_ < inbuf_.size()) ProcessInput();
}

void AmqpConnection::UpdateReading() {
  if (closing_) return;
  bool want = !ShouldPauseReading();
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    uv_read_start(stream,
                  [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(g_read_slab, sizeof(g_read_slab)); },
                  &AmqpConnection::ReadCb);
  } else {
    uv_read_stop(stream);
  }
  reading_ = want;
}

void AmqpConnection::ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<AmqpConnection*>(s->data);
  if (n < 0) {
    c->CloseNow();
    return;
  }
  if (n == 0 || c->closing_) return;
  c->last_read_ms_ = WallClockMs();
  c->inbuf_.append(buf->base, static_cast<size_t>(n));
  c->ProcessInput();
}

void AmqpConnection::ProcessInput() {
  auto keep = shared_from_this();
  while (!closing_ && !close_after_write_ && inbuf_pos_ < inbuf_.size()) {
    std::string_view in = std::string_view(inbuf_).substr(inbuf_pos_);
    if (state_ == State::kHeader) {
      if (in.size() < amqp::kProtocolHeader.size()) break;
      inbuf_pos_ += amqp::kProtocolHeader.size();
      if (in.substr(0, amqp::kProtocolHeader.size()) != amqp::kProtocolHeader) {
        // Section 4.2.2: answer with the protocol we support, then close.
        Send(std::string(amqp::kProtocolHeader));
        CloseAfterWrite();
        break;
      }
      SendStart();
      continue;
    }
    if (ShouldPauseReading()) break;
    amqp::Frame f;
    size_t used = 0;
    amqp::ParseStatus st = amqp::ParseFrame(in, frame_max_, &f, &used);
    if (st == amqp::ParseStatus::kNeedMore) break;
    if (st != amqp::ParseStatus::kOk) {
      FrameError(st == amqp::ParseStatus::kBadEnd ? "FRAME_ERROR - bad frame end octet"
                                                  : "FRAME_ERROR - frame larger than frame_max");
      break;
    }
    inbuf_pos_ += used;
    HandleFrame(f.type, f.channel, f.payload);
    recycle_amqp_pool(&pool_);
  }
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

}  // namespace lockq::server
