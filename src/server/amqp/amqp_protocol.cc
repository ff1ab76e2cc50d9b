// AMQP connection, protocol side (amqp_connection.h): frame dispatch,
// handshake, channel lifecycle, content assembly, errors, and Run(), the
// one way a method reaches the state machine. Method numbers and structs
// are librabbitmq's (amqp_framing.h); section numbers cite the AMQP 0-9-1
// specification.

#include <amqp.h>
#include <amqp_framing.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "amqp/field_value.h"
#include "amqp/frame.h"
#include "common/error_class.h"
#include "server/amqp/amqp_connection.h"
#include "server/amqp/amqp_server.h"
#include "server/core.h"
#include "sm/state_machine.h"

namespace lockq::server {

using amqp::Bytes;

namespace {

constexpr uint16_t kChannelMax = 2047;
constexpr uint32_t kFrameMax = 131072;
constexpr uint32_t kFrameMinBytes = 4096;  // section 4.2.3: frame-min-size
constexpr uint16_t kHeartbeatS = 60;
constexpr uint64_t kCloseOkTimeoutMs = 2000;
constexpr size_t kReplyTextMax = 255;  // shortstr

// client-properties.capabilities["connection.blocked"] is true: the client
// understands connection.blocked/unblocked (RabbitMQ sends them only then).
bool SaysItHandlesBlocked(const amqp_table_t& props) {
  for (int i = 0; i < props.num_entries; i++) {
    const amqp_table_entry_t& e = props.entries[i];
    if (amqp::ToString(e.key) != "capabilities" || e.value.kind != AMQP_FIELD_KIND_TABLE) continue;
    const amqp_table_t& caps = e.value.value.table;
    for (int j = 0; j < caps.num_entries; j++) {
      const amqp_table_entry_t& c = caps.entries[j];
      if (amqp::ToString(c.key) == "connection.blocked" && c.value.kind == AMQP_FIELD_KIND_BOOLEAN) {
        return c.value.value.boolean != 0;
      }
    }
  }
  return false;
}
constexpr size_t kPublishOverheadBytes = 64 << 10;  // Q.PUBLISH's other arguments and the entry framing

using amqp::TableEntry;
amqp_field_value_t Str(const char* s) { return amqp::Utf8Value(amqp_cstring_bytes(s)); }
amqp_field_value_t Bool(bool b) { return amqp::BoolValue(b); }

std::string Truncate(std::string s) {
  if (s.size() > kReplyTextMax) s.resize(kReplyTextMax);
  return s;
}

}  // namespace

// Section 1.4.2.1: connection.start, right after the protocol header.
void AmqpConnection::SendStart() {
  state_ = State::kStartOk;
  amqp_table_entry_t caps[] = {
      TableEntry("publisher_confirms", Bool(true)), TableEntry("basic.nack", Bool(true)),
      TableEntry("consumer_cancel_notify", Bool(true)), TableEntry("exchange_exchange_bindings", Bool(true)),
      TableEntry("connection.blocked", Bool(true)), TableEntry("authentication_failure_close", Bool(true)),
      TableEntry("per_consumer_qos", Bool(true))};
  amqp_field_value_t caps_value{};
  caps_value.kind = AMQP_FIELD_KIND_TABLE;
  caps_value.value.table = {static_cast<int>(std::size(caps)), caps};
  amqp_table_entry_t props[] = {TableEntry("product", Str("lockq")), TableEntry("version", Str("0.1.0")),
                                TableEntry("platform", Str("C++20")), TableEntry("capabilities", caps_value)};
  amqp_connection_start_t start{};
  start.version_major = 0;
  start.version_minor = 9;
  start.server_properties = {static_cast<int>(std::size(props)), props};
  start.mechanisms = amqp_cstring_bytes("PLAIN AMQPLAIN");
  start.locales = amqp_cstring_bytes("en_US");
  SendMethod(0, AMQP_CONNECTION_START_METHOD, &start);
}

void AmqpConnection::HandleFrame(uint8_t type, uint16_t channel, std::string_view payload) {
  if (refusing_) return;  // a refused login: nothing counts until the close is sent
  switch (type) {
    case amqp::kFrameHeartbeat:
      if (channel != 0) Send(ConnectionError(501, "FRAME_ERROR - heartbeat on a channel"));
      return;
    case amqp::kFrameMethod:
      HandleMethod(channel, payload);
      return;
    case amqp::kFrameHeader:
    case amqp::kFrameBody:
      if (conn_closing_) return;
      if (state_ != State::kRunning || channel == 0) {
        Send(ConnectionError(505, "UNEXPECTED_FRAME - content outside a channel"));
        return;
      }
      HandleContent(type, channel, payload);
      return;
    default:
      FrameError("FRAME_ERROR - unknown frame type " + std::to_string(type));
  }
}

void AmqpConnection::HandleMethod(uint16_t ch, std::string_view payload) {
  amqp_method_number_t id = 0;
  void* m = nullptr;
  int rv = amqp::DecodeMethod(payload, &pool_, &id, &m);
  if (conn_closing_) {
    // Section 2.2.4: after connection.close only close/close-ok count.
    if (rv == AMQP_STATUS_OK && ch == 0 && id == AMQP_CONNECTION_CLOSE_OK_METHOD) CloseNow();
    if (rv == AMQP_STATUS_OK && ch == 0 && id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_ok_t ok{};
      Send(Method(0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok));
      CloseAfterWrite(net::StreamConnection::CloseMode::kWaitForPeer);
    }
    return;
  }
  if (rv == AMQP_STATUS_UNKNOWN_METHOD || rv == AMQP_STATUS_UNKNOWN_CLASS) {
    // librabbitmq says "unknown method" for unknown classes too.
    uint16_t cls = static_cast<uint16_t>(id >> 16);
    bool known_class = cls == AMQP_CONNECTION_CLASS || cls == AMQP_CHANNEL_CLASS || cls == AMQP_EXCHANGE_CLASS ||
                       cls == AMQP_QUEUE_CLASS || cls == AMQP_BASIC_CLASS || cls == AMQP_CONFIRM_CLASS ||
                       cls == AMQP_TX_CLASS || cls == AMQP_ACCESS_CLASS;
    std::string which = std::to_string(id >> 16) + "." + std::to_string(id & 0xFFFF);
    Send(known_class ? ConnectionError(503, "COMMAND_INVALID - unknown method " + which)
                     : ConnectionError(540, "NOT_IMPLEMENTED - unknown class " + which));
    return;
  }
  if (rv != AMQP_STATUS_OK) {
    Send(ConnectionError(502, "SYNTAX_ERROR - malformed method frame"));
    return;
  }
  uint16_t class_id = static_cast<uint16_t>(id >> 16);
  if (ch == 0) {
    if (class_id != AMQP_CONNECTION_CLASS) {
      Send(ConnectionError(503, std::string("COMMAND_INVALID - ") + amqp_method_name(id) + " on channel 0"));
      return;
    }
    HandleConnectionMethod(id, m);
    return;
  }
  if (state_ != State::kRunning || class_id == AMQP_CONNECTION_CLASS) {
    Send(ConnectionError(504, std::string("CHANNEL_ERROR - unexpected ") + amqp_method_name(id)));
    return;
  }
  HandleChannelMethod(ch, id, m);
}

// Section 1.4.2: start/start-ok, tune/tune-ok, open/open-ok, close/close-ok.
void AmqpConnection::HandleConnectionMethod(amqp_method_number_t id, void* m) {
  if (id == AMQP_CONNECTION_START_OK_METHOD && state_ == State::kStartOk) {
    auto* start_ok = static_cast<amqp_connection_start_ok_t*>(m);
    wants_blocked_ = SaysItHandlesBlocked(start_ok->client_properties);
    Login(*start_ok);  // amqp_auth.cc
    if (refusing_ || conn_closing_) return;  // refused: no connection.tune
    state_ = State::kTuneOk;
    amqp_connection_tune_t tune{kChannelMax, kFrameMax, kHeartbeatS};
    SendMethod(0, AMQP_CONNECTION_TUNE_METHOD, &tune);
  } else if (id == AMQP_CONNECTION_TUNE_OK_METHOD && state_ == State::kTuneOk) {
    auto* t = static_cast<amqp_connection_tune_ok_t*>(m);
    if (t->channel_max != 0) channel_max_ = std::min(t->channel_max, kChannelMax);
    if (t->frame_max != 0) frame_max_ = std::clamp(t->frame_max, kFrameMinBytes, kFrameMax);
    heartbeat_s_ = t->heartbeat;  // the client's choice; 0 disables
    state_ = State::kOpen;
  } else if (id == AMQP_CONNECTION_OPEN_METHOD && state_ == State::kOpen) {
    auto* o = static_cast<amqp_connection_open_t*>(m);
    if (!OpenVhost(amqp::ToString(o->virtual_host))) return;  // amqp_auth.cc
    state_ = State::kRunning;
    amqp_connection_open_ok_t ok{};
    SendMethod(0, AMQP_CONNECTION_OPEN_OK_METHOD, &ok);
  } else if (id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok{};
    SendMethod(0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    // The client closes the socket once it has close-ok (RabbitMQ waits
    // for that too); closing first would reset frames it is still sending.
    CloseAfterWrite(net::StreamConnection::CloseMode::kWaitForPeer);
  } else if (id == AMQP_CONNECTION_CLOSE_OK_METHOD) {
    CloseNow();
  } else if (id == AMQP_CONNECTION_BLOCKED_METHOD || id == AMQP_CONNECTION_UNBLOCKED_METHOD) {
    // Client-to-server blocked notifications are meaningless; ignore.
  } else {
    Send(ConnectionError(503, std::string("COMMAND_INVALID - unexpected ") + amqp_method_name(id)));
  }
}

void AmqpConnection::HandleChannelMethod(uint16_t ch, amqp_method_number_t id, void* m) {
  auto it = channels_.find(ch);
  if (id == AMQP_CHANNEL_OPEN_METHOD) {
    if (it != channels_.end() || ch > channel_max_) {
      Send(ConnectionError(504, "CHANNEL_ERROR - channel " + std::to_string(ch) + " already open or above channel_max"));
      return;
    }
    channels_[ch].generation = ++generations_;
    amqp_channel_open_ok_t ok{};
    SendMethod(ch, AMQP_CHANNEL_OPEN_OK_METHOD, &ok);
    return;
  }
  if (it == channels_.end()) {
    if (id == AMQP_CHANNEL_CLOSE_OK_METHOD) return;
    Send(ConnectionError(504, "CHANNEL_ERROR - channel " + std::to_string(ch) + " is not open"));
    return;
  }
  Channel& c = it->second;
  if (id == AMQP_CHANNEL_CLOSE_METHOD) {
    // Its consumers and unacked messages go before close-ok (section
    // 1.5.2.5). Both sides closing at once: each answers close-ok, and
    // ours was already released.
    if (c.closing) {
      channels_.erase(it);
    } else {
      ReleaseChannel(ch);
    }
    amqp_channel_close_ok_t ok{};
    SendMethod(ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    return;
  }
  if (id == AMQP_CHANNEL_CLOSE_OK_METHOD) {
    if (c.closing) channels_.erase(it);
    return;
  }
  if (c.closing) return;  // section 2.2.4: discard until close-ok
  if (c.publish) {  // section 4.2.6: content frames follow their method without interruption
    Send(ConnectionError(505, "UNEXPECTED_FRAME - method while content was expected"));
    return;
  }
  switch (id >> 16) {
    case AMQP_CHANNEL_CLASS:
      if (id == AMQP_CHANNEL_FLOW_METHOD) {
        amqp_channel_flow_ok_t ok{static_cast<amqp_channel_flow_t*>(m)->active};
        SendMethod(ch, AMQP_CHANNEL_FLOW_OK_METHOD, &ok);
      } else if (id != AMQP_CHANNEL_FLOW_OK_METHOD) {
        Send(ConnectionError(503, std::string("COMMAND_INVALID - unexpected ") + amqp_method_name(id)));
      }
      return;
    case AMQP_EXCHANGE_CLASS: HandleExchangeMethod(ch, id, m); return;
    case AMQP_QUEUE_CLASS: HandleQueueMethod(ch, id, m); return;
    case AMQP_BASIC_CLASS: HandleBasicMethod(ch, id, m); return;
    case AMQP_CONFIRM_CLASS: {
      c.confirm = true;
      if (!static_cast<amqp_confirm_select_t*>(m)->nowait) {
        amqp_confirm_select_ok_t ok{};
        SendMethod(ch, AMQP_CONFIRM_SELECT_OK_METHOD, &ok);
      }
      return;
    }
    case AMQP_TX_CLASS:
      Send(ChannelError(ch, 540, "NOT_IMPLEMENTED - transactions are not supported; use publisher confirms", id));
      return;
    default:
      Send(ConnectionError(540, std::string("NOT_IMPLEMENTED - ") + amqp_method_name(id)));
  }
}

void AmqpConnection::HandleContent(uint8_t type, uint16_t ch, std::string_view payload) {
  auto it = channels_.find(ch);
  if (it != channels_.end() && it->second.closing) return;  // discarded until close-ok
  Channel* c = it == channels_.end() ? nullptr : &it->second;
  if (c == nullptr || !c->publish || (type == amqp::kFrameHeader) == c->publish->have_header) {
    Send(ConnectionError(505, "UNEXPECTED_FRAME - content frame without basic.publish"));
    return;
  }
  Publish& p = *c->publish;
  if (type == amqp::kFrameHeader) {
    amqp::ContentHeader h;
    if (!amqp::ParseContentHeader(payload, &h) || h.class_id != AMQP_BASIC_CLASS) {
      Send(ConnectionError(501, "FRAME_ERROR - bad content header"));
      return;
    }
    // One argument of a command that must fit one log entry.
    const Limits& l = server_->limits();
    size_t max_body = std::min(l.max_bulk_bytes, l.max_batch_bytes - std::min(l.max_batch_bytes, kPublishOverheadBytes));
    if (h.body_size > max_body) {
      DropPublish(*c);
      Send(ChannelError(ch, 311, "CONTENT_TOO_LARGE - message body larger than " + std::to_string(max_body) +
                                     " bytes"));
      return;
    }
    p.have_header = true;
    p.body_size = h.body_size;
    p.raw_props = std::string(h.raw_props);
  } else {
    if (p.body.size() + payload.size() > p.body_size) {
      Send(ConnectionError(501, "FRAME_ERROR - body longer than its content header said"));
      return;
    }
    if (content_bytes_ + payload.size() > server_->limits().max_query_bytes) {
      Send(ConnectionError(506, "RESOURCE_ERROR - too many message bytes in flight on this connection"));
      return;
    }
    content_bytes_ += payload.size();
    p.body.append(payload);
  }
  if (p.have_header && p.body.size() == p.body_size) PublishDone(ch);
}

// ---- errors and commands --------------------------------------------------------

std::string AmqpConnection::ChannelError(uint16_t ch, uint16_t code, const std::string& text,
                                         amqp_method_number_t cause) {
  auto it = channels_.find(ch);
  if (it == channels_.end() || it->second.closing) return {};
  ReleaseChannel(ch);
  channels_[ch].closing = true;  // kept until the client's close-ok
  std::string reply_text = Truncate(text);
  amqp_channel_close_t close{code, Bytes(reply_text), static_cast<uint16_t>(cause >> 16),
                             static_cast<uint16_t>(cause & 0xFFFF)};
  return Method(ch, AMQP_CHANNEL_CLOSE_METHOD, &close);
}

std::string AmqpConnection::ConnectionError(uint16_t code, const std::string& text, amqp_method_number_t cause) {
  if (conn_closing_) return {};
  conn_closing_ = true;
  close_deadline_ms_ = clock_.MonotonicMs() + kCloseOkTimeoutMs;
  std::string reply_text = Truncate(text);
  amqp_connection_close_t close{code, Bytes(reply_text), static_cast<uint16_t>(cause >> 16),
                                static_cast<uint16_t>(cause & 0xFFFF)};
  return Method(0, AMQP_CONNECTION_CLOSE_METHOD, &close);
}

void AmqpConnection::FrameError(const std::string& text) {
  // The input can no longer be split into frames: say why and close.
  Send(ConnectionError(501, text));
  CloseAfterWrite();
}

void AmqpConnection::ForceClose(uint16_t code, const std::string& text) {
  if (stream_->closing()) return;
  Send(ConnectionError(code, text));
}

// The reply code comes from the outcome table (common/error_class.h).
std::string AmqpConnection::ErrorReply(uint16_t ch, const std::string& error, amqp_method_number_t cause) {
  const ErrorClass& code = ClassifyError(error);
  size_t space = error.find(' ');
  std::string text =
      std::string(code.amqp_name) + " - " + (space == std::string::npos ? error : error.substr(space + 1));
  return code.amqp_connection ? ConnectionError(code.amqp_code, text, cause)
                              : ChannelError(ch, code.amqp_code, text, cause);
}

AmqpConnection::Channel* AmqpConnection::Open(uint16_t ch) {
  auto it = channels_.find(ch);
  return it == channels_.end() || it->second.closing ? nullptr : &it->second;
}

void AmqpConnection::DropPublish(Channel& c) {
  if (!c.publish) return;
  content_bytes_ -= std::min(content_bytes_, c.publish->body.size());
  c.publish.reset();
}

void AmqpConnection::ReleaseChannel(uint16_t ch) {
  if (auto it = channels_.find(ch); it != channels_.end()) DropPublish(it->second);
  channels_.erase(ch);
  if (!used_queues_) return;
  server_->core().SubmitCleanup(server_->core().WrapAs(id_, ch, {"Q.CLOSE"}));
}

void AmqpConnection::Run(uint16_t ch, sm::Argv argv, amqp_method_number_t cause, OnOk on_ok) {
  uint64_t slot = ReserveSlot();
  if (auto err = sm::StateMachine::Precheck(argv, /*from_client=*/true)) {
    Fill(slot, ErrorReply(ch, err->str, cause));
    return;
  }
  if (auto denied = server_->core().state().AmqpDenied(user_, vhost_, argv)) {
    Fill(slot, ErrorReply(ch, *denied, cause));
    return;
  }
  const sm::CommandSpec* spec = sm::StateMachine::FindCommand(argv[0]);
  if (spec->flags & sm::kCmdChannelRef) {
    used_queues_ = true;
    argv = server_->core().WrapAs(id_, ch, std::move(argv));
  }
  argv.insert(argv.begin(), {"LOCKQ.AMQP", user_, vhost_});
  std::weak_ptr<AmqpConnection> weak = weak_from_this();
  Channel* open = Open(ch);
  uint64_t generation = open == nullptr ? 0 : open->generation;
  server_->core().Submit(std::move(argv), [weak, ch, slot, generation, cause, on_ok = std::move(on_ok)](sm::Reply r) {
    auto self = weak.lock();
    if (!self) return;
    Channel* c = self->Open(ch);
    if (r.is_error() && IsTryAgain(r.str)) {
      self->Fill(slot, self->ConnectionError(320, "CONNECTION_FORCED - " + r.str + "; reconnect"));
    } else if (c == nullptr || c->generation != generation || self->conn_closing_) {
      self->Fill(slot, {});  // the channel closed meanwhile: nobody waits for this
    } else if (r.is_error()) {
      self->Fill(slot, self->ErrorReply(ch, r.str, cause));
    } else {
      self->Fill(slot, on_ok(r));
    }
  });
}

}  // namespace lockq::server
