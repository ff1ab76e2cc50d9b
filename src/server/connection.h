#pragma once
// One RESP client connection. Owns its socket, input buffer and parser, and
// keeps replies in request order however they complete: a PING answered at
// once waits behind an earlier SET that is still in the log.
//
// Bounds (server/config.h Limits): input is parsed with RequestParser's
// limits; reading pauses while the client has more than
// `max_pending_commands` unanswered commands or `pause_output_bytes` unsent
// reply bytes (a client that never reads its replies stops being read, so
// its memory stays bounded) and resumes when it drains; past
// `max_output_bytes` of unsent replies the client is disconnected.
//
// Lifetime: shared_ptr, held by the server's connection set until the
// socket closes. Reply callbacks hold a weak_ptr, so a reply for a client
// that left is dropped. Thread: the server loop.

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>

#include "resp/resp.h"
#include "sm/reply.h"

namespace lockq::server {

class RespServer;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(RespServer* server, uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }
  uint64_t id() const { return id_; }
  int protocol() const { return protocol_; }
  void set_protocol(int p) { protocol_ = p; }
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  const std::string& peer() const { return peer_; }
  uint64_t commands_processed() const { return commands_processed_; }

  // Starts reading after accept.
  void Start();
  // Reserves the next reply slot; Fill it (now or later) exactly once.
  uint64_t ReserveSlot();
  void Fill(uint64_t slot, const sm::Reply& reply);
  // A reply that may come later as an event (a blocking acquire): the slot
  // stays open until FillDeferred(). Returns false when the slot was
  // already filled or is not deferred.
  void MarkDeferred(uint64_t slot) { deferred_.insert(slot); }
  bool FillDeferred(uint64_t slot, const sm::Reply& reply);
  const std::set<uint64_t>& deferred() const { return deferred_; }
  // An out-of-band message (RESP3 push; a plain array in RESP2), after
  // the replies already queued.
  void Push(const sm::Reply& message) { Fill(ReserveSlot(), message); }
  // It ran queue commands: its consumers and unacked messages are released
  // when it closes.
  bool used_queues() const { return used_queues_; }
  void set_used_queues() { used_queues_ = true; }
  // Lock names this connection observes (ELECT.OBSERVE).
  std::set<std::string>& watching() { return watching_; }

  // Sends pending replies, then closes (QUIT, protocol errors).
  void CloseAfterReplies();
  // Closes at once (limits, shutdown).
  void CloseNow();
  bool closing() const { return closing_; }
  // Writes filled replies in order; called by the server once per loop turn.
  void FlushOutput();

 private:
  struct Slot {
    bool ready = false;
    std::string bytes;
  };
  static void ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;
  static void WriteCb(uv_write_t* req, int status) noexcept;
  void ProcessInput();
  bool ShouldPauseReading() const;
  void UpdateReading();

  RespServer* server_;
  uint64_t id_;
  uv_tcp_t tcp_ {};
  std::string peer_;
  int protocol_ = 2;
  std::string name_;
  std::string inbuf_;
  size_t inbuf_pos_ = 0;
  resp::RequestParser parser_;
  std::deque<Slot> slots_;
  uint64_t first_slot_ = 0;  // sequence number of slots_.front()
  size_t unsent_bytes_ = 0;  // filled but not yet written + being written
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_replies_ = false;
  bool dirty_ = false;  // has filled replies to write
  uint64_t commands_processed_ = 0;
  std::set<uint64_t> deferred_;  // open slots whose reply comes as an event
  std::set<std::string> watching_;
  bool used_queues_ = false;
  std::shared_ptr<Connection> self_ref_;  // keeps us alive until uv_close completes
  friend class RespServer;
};

}  // namespace lockq::server
