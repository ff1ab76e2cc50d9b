// AMQP connection: output slots, heartbeats and input framing on top of a
// net::StreamConnection (amqp_connection.h). The protocol itself is in
// amqp_protocol.cc.

#include "server/amqp/amqp_connection.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "amqp/frame.h"
#include "net/heartbeat.h"
#include "server/amqp/amqp_server.h"
#include "server/core.h"
#include "sm/state_machine.h"

namespace lockq::server {

using amqp::Bytes;

namespace {

constexpr uint64_t kHandshakeTimeoutMs = 10000;

// A basic.ack frame: header 7 + class, method 4 + tag 8 + bits 1 + end 1.
constexpr size_t kAckFrameBytes = 21;

}  // namespace

AmqpConnection::AmqpConnection(AmqpServer* server, uint64_t id, std::shared_ptr<net::StreamConnection> stream,
                               const Clock& clock)
    : server_(server), id_(id), stream_(std::move(stream)), clock_(clock) {
  init_amqp_pool(&pool_, 4096);
}

AmqpConnection::~AmqpConnection() { empty_amqp_pool(&pool_); }

void AmqpConnection::Start() {
  started_ms_ = clock_.MonotonicMs();
  stream_->Start(this);
}

void AmqpConnection::OnClosed() { server_->Forget(id_); }  // may free this

void AmqpConnection::OnOutputLimit() {
  spdlog::warn("amqp client {} exceeded {} bytes of unsent output; disconnecting", id_,
               server_->limits().max_output_bytes);
}

// ---- output -------------------------------------------------------------------

void AmqpConnection::Fill(uint64_t slot, Answer answer) {
  net::Output out(std::move(answer.bytes));
  if (answer.confirm_tag != 0) {
    out.mark_key = answer.confirm_channel;
    out.mark = answer.confirm_tag;
    out.mark_bytes = kAckFrameBytes;
  }
  stream_->Fill(slot, std::move(out));
}

// Confirms that are ready together leave as one basic.ack with
// multiple=true for the highest tag of a run on one channel (RabbitMQ's
// confirm extension: it confirms every earlier publish of the channel).
// That is exact because slots leave in publish order: every earlier
// publish of the channel was confirmed (or nacked) before this run or is
// in it. Anything else with bytes ends the run, so nacks, returns and
// closes keep their place.
void AmqpConnection::RenderConfirms(uint32_t channel, uint64_t last_tag, size_t count, std::string* out) {
  amqp_basic_ack_t ack{last_tag, count > 1};
  amqp::AppendMethod(static_cast<uint16_t>(channel), AMQP_BASIC_ACK_METHOD, &ack, out);
}

std::string AmqpConnection::Method(uint16_t ch, amqp_method_number_t id, void* m) {
  std::string out;
  if (!amqp::AppendMethod(ch, id, m, &out)) spdlog::error("amqp: cannot encode {}", amqp_method_name(id));
  return out;
}

void AmqpConnection::SendMethod(uint16_t ch, amqp_method_number_t id, void* m) { Send(Method(ch, id, m)); }

void AmqpConnection::Tick() {
  if (stream_->closing()) return;  // the stream connection's deadline runs
  uint64_t now_ms = clock_.MonotonicMs();
  if (refusing_) {
    if (now_ms < refuse_at_ms_) return;
    refusing_ = false;  // from here on only close/close-ok count (conn_closing_)
    Send(ConnectionError(refusal_code_, refusal_text_));
    return;
  }
  if (conn_closing_ && now_ms >= close_deadline_ms_) {
    CloseNow();
    return;
  }
  if (state_ != State::kRunning && now_ms > started_ms_ + kHandshakeTimeoutMs) {
    CloseNow();
    return;
  }
  switch (net::CheckHeartbeat(now_ms, stream_->last_read_ms(), stream_->last_write_ms(), 1000ull * heartbeat_s_)) {
    case net::HeartbeatAction::kNone:
      return;
    case net::HeartbeatAction::kPeerDead:
      // Section 4.2.7: a peer silent for two heartbeat intervals is dead.
      spdlog::info("amqp client {}: no heartbeat for {} s; closing", id_, 2 * heartbeat_s_);
      CloseNow();
      return;
    case net::HeartbeatAction::kSend: {
      // Whole slots are written at once and libuv keeps writes in order, so
      // a heartbeat never lands inside another frame, even while answers
      // are owed.
      std::string bytes;
      amqp::AppendHeartbeat(&bytes);
      stream_->WriteNow(std::move(bytes));
      return;
    }
  }
}

// ---- input --------------------------------------------------------------------

bool AmqpConnection::PauseInput() const { return publishes_ && server_->blocked(); }

void AmqpConnection::SetBlocked(bool blocked) {
  if (stream_->closing()) return;
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
  stream_->Resume();
}

size_t AmqpConnection::OnInput(std::string_view buffered) {
  auto keep = shared_from_this();
  size_t pos = 0;
  while (!stream_->closing() && pos < buffered.size()) {
    std::string_view in = buffered.substr(pos);
    if (state_ == State::kHeader) {
      if (in.size() < amqp::kProtocolHeader.size()) break;
      pos += amqp::kProtocolHeader.size();
      if (in.substr(0, amqp::kProtocolHeader.size()) != amqp::kProtocolHeader) {
        // Section 4.2.2: answer with the protocol we support, then close.
        Send(std::string(amqp::kProtocolHeader));
        CloseAfterWrite();
        break;
      }
      SendStart();
      continue;
    }
    if (stream_->PauseReading()) break;
    amqp::Frame f;
    size_t used = 0;
    amqp::ParseStatus st = amqp::ParseFrame(in, frame_max_, &f, &used);
    if (st == amqp::ParseStatus::kNeedMore) break;
    if (st != amqp::ParseStatus::kOk) {
      FrameError(st == amqp::ParseStatus::kBadEnd ? "FRAME_ERROR - bad frame end octet"
                                                  : "FRAME_ERROR - frame larger than frame_max");
      break;
    }
    pos += used;
    HandleFrame(f.type, f.channel, f.payload);
    recycle_amqp_pool(&pool_);
  }
  return pos;
}

}  // namespace lockq::server
