#pragma once
// One AMQP 0-9-1 client connection (docs/amqp.md). Owns its socket, input
// buffer and channels; turns methods into state machine commands through
// Core (the queue engine decides everything) and writes the answers back
// in the order the methods came, however the log completes them: every
// answer is an output slot reserved when its method is read (the pattern
// of server/resp/resp_session.h), so publisher confirms leave in publish order.
//
// The socket, output slots, read pausing and the close-after-write
// deadline are the net::StreamConnection's; heartbeats, the handshake
// timeout and input framing are in amqp_connection.cc (on the monotonic
// clock of the Clock it is given); the
// connection-level protocol (handshake, channel lifecycle, content, errors,
// Run) in amqp_protocol.cc; exchange/queue/basic/confirm methods in
// amqp_methods.cc.
//
// Bounds: a frame is at most the negotiated frame_max; a message body at
// most Limits::max_bulk_bytes (311 CONTENT_TOO_LARGE otherwise), and the
// bodies still arriving on all channels at most max_query_bytes (506
// RESOURCE_ERROR); reading
// pauses past max_pending_commands unanswered methods or
// pause_output_bytes unsent bytes; past max_output_bytes the client is
// disconnected.
//
// Closing (section 1.4.2.6 / 2.2.4): after a client's connection.close we
// send close-ok and wait for the client to close the socket, as RabbitMQ
// does (closing first would answer the frames it is still flushing with
// RST, and the client would see EPIPE instead of its close completing);
// the stream connection's close timeout bounds the wait.
//
// Users (docs/security.md "AMQP"): connection.start-ok's PLAIN or AMQPLAIN
// login goes through Core's AuthGate (the check RESP AUTH uses); a refusal
// is 403 ACCESS_REFUSED before connection.tune, held back by the shared
// brute-force brake (sent from Tick once due). connection.open checks the
// vhost (530 NOT_ALLOWED); exchange, queue and basic methods check the
// user's vhost regexes (RabbitMQ's table; channel.close 403) here, on the
// front end, against this node's applied user store at the time the method
// is read, and again at apply (the authority: the user's permissions as
// of the entry's log index; sm/amqp_access.h).
//
// Lifetime: shared_ptr held by AmqpServer until the socket closes
// (OnClosed); reply callbacks hold a weak_ptr. Thread: the server loop.

#include <amqp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"
#include "net/stream_conn.h"
#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::server {

class AmqpServer;

class AmqpConnection : public std::enable_shared_from_this<AmqpConnection>, public net::StreamSession {
 public:
  // `clock` (not owned) times heartbeats and the handshake; `stream` must
  // have been created with the same clock.
  AmqpConnection(AmqpServer* server, uint64_t id, std::shared_ptr<net::StreamConnection> stream, const Clock& clock);
  ~AmqpConnection() override;
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  uint64_t id() const { return id_; }
  bool used_queues() const { return used_queues_; }
  // The user it logged in as ("default" until then, and in open mode).
  const std::string& user() const { return user_; }
  // The vhost connection.open chose ("/" until then).
  const std::string& vhost() const { return vhost_; }

  void Start();
  // A kPush event addressed to this connection: ["deliver", tag, message]
  // or ["cancel", tag] for channel `channel`.
  void OnPush(uint16_t channel, const sm::Reply& push);
  // The server's high-water mark changed: tell the client (if it said it
  // understands connection.blocked) and pause or resume reading it, if it
  // publishes.
  void SetBlocked(bool blocked);
  // Server-initiated connection.close (leader change: 320 CONNECTION_FORCED).
  void ForceClose(uint16_t code, const std::string& text);
  // Once a second: heartbeats, dead peers, handshake and close-ok deadlines.
  void Tick();
  void CloseNow() { stream_->CloseNow(); }
  // Writes what is owed (in slot order), then closes; `mode` kWaitForPeer
  // waits for the client to close first (after our close-ok).
  void CloseAfterWrite(net::StreamConnection::CloseMode mode = net::StreamConnection::CloseMode::kWhenWritten) {
    stream_->CloseAfterWrite(mode);
  }

  // net::StreamSession
  size_t OnInput(std::string_view buffered) override;
  bool PauseInput() const override;
  void OnOutputLimit() override;
  void OnClosed() override;
  // Renders a run of publisher confirms (Options::render_marks).
  static void RenderConfirms(uint32_t channel, uint64_t last_tag, size_t count, std::string* out);

 private:
  enum class State { kHeader, kStartOk, kTuneOk, kOpen, kRunning };
  struct Publish {  // a basic.publish whose content is still arriving
    std::string exchange, routing_key;
    bool mandatory = false;
    bool have_header = false;
    uint64_t body_size = 0;
    std::string raw_props, body;
  };
  struct Channel {
    uint64_t generation = 0;
    bool closing = false;  // we sent channel.close; waiting for close-ok
    uint64_t next_delivery_tag = 1;
    std::map<uint64_t, std::pair<std::string, uint64_t>> unacked;  // tag -> (queue, message id)
    std::set<std::string> no_ack_consumers;
    uint16_t prefetch = 0;  // basic.qos global=false: for later consumers
    bool confirm = false;
    uint64_t publish_seq = 0;
    std::unique_ptr<Publish> publish;
  };
  // What an answer puts in its slot: frames, or (confirm_tag != 0) only the
  // publisher confirm basic.ack for confirm_tag on confirm_channel, which
  // FlushOutput merges with the confirms in the slots next to it.
  struct Answer {
    Answer(std::string b = {}) : bytes(std::move(b)) {}  // NOLINT: implicit on purpose
    std::string bytes;
    uint16_t confirm_channel = 0;
    uint64_t confirm_tag = 0;
  };
  // Frames for a successful reply; may use or change the channel.
  using OnOk = std::function<Answer(const sm::Reply&)>;

  void SendStart();
  void HandleFrame(uint8_t type, uint16_t channel, std::string_view payload);
  void HandleMethod(uint16_t channel, std::string_view payload);
  void HandleConnectionMethod(amqp_method_number_t id, void* m);
  void HandleChannelMethod(uint16_t ch, amqp_method_number_t id, void* m);
  void HandleContent(uint8_t type, uint16_t ch, std::string_view payload);

  // Output slots.
  uint64_t ReserveSlot() { return stream_->ReserveSlot(); }
  void Fill(uint64_t slot, Answer answer);
  void Send(std::string bytes) { Fill(ReserveSlot(), std::move(bytes)); }
  void SendMethod(uint16_t ch, amqp_method_number_t id, void* m);
  static std::string Method(uint16_t ch, amqp_method_number_t id, void* m);

  // Errors (AMQP 0-9-1 section 1.8.2 / 2.2.4 reply codes); `cause` is the
  // method that failed (its class and method ids go in the close).
  std::string ChannelError(uint16_t ch, uint16_t code, const std::string& text, amqp_method_number_t cause = 0);
  std::string ConnectionError(uint16_t code, const std::string& text, amqp_method_number_t cause = 0);
  // The close for an error reply of the state machine (NOTFOUND -> 404...).
  std::string ErrorReply(uint16_t ch, const std::string& error, amqp_method_number_t cause);
  void FrameError(const std::string& text);

  // Users (amqp_auth.cc).
  void Login(const amqp_connection_start_ok_t& m);
  void Refuse(uint16_t code, const std::string& text, uint64_t delay_ms);
  // connection.open: false when the vhost was refused (the 530 was sent).
  bool OpenVhost(const std::string& vhost);
  // Runs a command for channel `ch` as the user in its vhost: checked
  // against RabbitMQ's permission table here (fail fast: channel.close 403
  // or connection.close 530) and at apply, where it enters the log as
  // LOCKQ.AMQP user vhost [LOCKQ.AS conn channel] cmd...; its answer goes
  // to a slot reserved now.
  void Run(uint16_t ch, sm::Argv argv, amqp_method_number_t cause, OnOk on_ok);
  Channel* Open(uint16_t ch);  // nullptr unless open and not closing
  void DropPublish(Channel& c);  // forgets a half-received message
  void ReleaseChannel(uint16_t ch);

  // amqp_methods.cc
  void HandleExchangeMethod(uint16_t ch, amqp_method_number_t id, void* m);
  void HandleQueueMethod(uint16_t ch, amqp_method_number_t id, void* m);
  void HandleBasicMethod(uint16_t ch, amqp_method_number_t id, void* m);
  void Consume(uint16_t ch, const amqp_basic_consume_t& m);
  void Get(uint16_t ch, const amqp_basic_get_t& m);
  void Settle(uint16_t ch, uint64_t tag, bool multiple, bool ack, bool requeue, amqp_method_number_t cause);
  void PublishStart(uint16_t ch, const amqp_basic_publish_t& m);
  void PublishDone(uint16_t ch);
  uint32_t ReadyCount(const std::string& queue);
  std::string Delivery(uint16_t ch, Channel& c, uint64_t tag, const sm::Reply& message,
                       const std::string& consumer_tag, bool no_ack, bool get);

  AmqpServer* server_;
  uint64_t id_;
  std::shared_ptr<net::StreamConnection> stream_;
  const Clock& clock_;
  amqp_pool_t pool_ {};
  State state_ = State::kHeader;
  bool conn_closing_ = false;        // connection.close sent; waiting for close-ok
  uint64_t close_deadline_ms_ = 0;   // monotonic
  bool used_queues_ = false;
  bool publishes_ = false;       // it sent basic.publish: blocked past the high-water mark
  bool wants_blocked_ = false;   // its capabilities include connection.blocked
  bool told_blocked_ = false;
  uint16_t channel_max_ = 2047;
  size_t frame_max_ = 131072;
  uint16_t heartbeat_s_ = 60;
  uint64_t started_ms_ = 0;  // monotonic
  uint64_t generations_ = 0;
  uint64_t next_ctag_ = 1;
  size_t content_bytes_ = 0;  // bodies still arriving, all channels (<= max_query_bytes)
  std::map<uint16_t, Channel> channels_;
  // Users.
  std::string user_ = "default";
  std::string vhost_ = "/";
  bool refusing_ = false;            // a login refusal waits for the brake
  uint64_t refuse_at_ms_ = 0;        // monotonic
  uint16_t refusal_code_ = 0;
  std::string refusal_text_;
};

}  // namespace lockq::server
