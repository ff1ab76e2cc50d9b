#pragma once
// One RESP client session: the parser and per-client state on top of a
// net::StreamConnection, which owns the socket, keeps replies in request
// order however they complete (a PING answered at once waits behind an
// earlier SET that is still in the log) and enforces the transport bounds.
//
// Bounds (server/config.h Limits): input is parsed with RequestParser's
// limits, and one command still arriving is at most `max_query_bytes`;
// the stream connection pauses reading while the client has
// `max_pending_commands` unanswered commands or `pause_output_bytes`
// unsent reply bytes, disconnects past `max_output_bytes`, and bounds
// CloseAfterReplies with a deadline (input after it is dropped).
//
// Lifetime: shared_ptr, held by the server's connection set until the
// socket closes (OnClosed). Reply callbacks hold a weak_ptr, so a reply for
// a client that left is dropped. Thread: the server loop.

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "net/stream_conn.h"
#include "resp/resp.h"
#include "sm/reply.h"

namespace lockq::server {

class RespServer;

class RespSession : public std::enable_shared_from_this<RespSession>, public net::StreamSession {
 public:
  RespSession(RespServer* server, uint64_t id, std::shared_ptr<net::StreamConnection> stream);
  ~RespSession() override;
  RespSession(const RespSession&) = delete;
  RespSession& operator=(const RespSession&) = delete;

  uint64_t id() const { return id_; }
  // A follower's forward link (the node id), not a client: 0 for clients.
  uint64_t peer_node() const { return peer_node_; }
  void set_peer_node(uint64_t node_id) { peer_node_ = node_id; }
  int protocol() const { return protocol_; }
  void set_protocol(int p) { protocol_ = p; }
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  const std::string& peer() const { return peer_; }
  // Users (docs/security.md "Users and permissions"): the user this
  // connection runs as. Until AUTH succeeds it is "default", and counts as
  // authenticated only while `default` needs no password
  // (RespServer::Authenticated).
  const std::string& user() const { return user_; }
  bool authenticated_explicitly() const { return explicit_auth_; }
  void SetAuthenticated(std::string user) {
    user_ = std::move(user);
    explicit_auth_ = true;
  }
  void ResetUser() {
    user_ = "default";
    explicit_auth_ = false;
  }
  uint64_t commands_processed() const { return commands_processed_; }

  // Starts reading after accept.
  void Start();
  // Reserves the next reply slot; Fill it (now or later) exactly once.
  uint64_t ReserveSlot() { return stream_->ReserveSlot(); }
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

  // Sends pending replies, then closes (QUIT, protocol errors); closes
  // anyway after the stream connection's close timeout.
  void CloseAfterReplies() { stream_->CloseAfterWrite(); }
  // Closes at once (limits, shutdown).
  void CloseNow() { stream_->CloseNow(); }
  bool closing() const { return stream_->closing(); }

  // net::StreamSession
  size_t OnInput(std::string_view buffered) override;
  void OnOutputLimit() override;
  void OnClosed() override;

 private:
  RespServer* server_;
  uint64_t id_;
  uint64_t peer_node_ = 0;
  std::shared_ptr<net::StreamConnection> stream_;
  std::string peer_;
  int protocol_ = 2;
  std::string name_;
  std::string user_ = "default";
  bool explicit_auth_ = false;
  resp::RequestParser parser_;
  uint64_t commands_processed_ = 0;
  std::set<uint64_t> deferred_;  // open slots whose reply comes as an event
  std::set<std::string> watching_;
  bool used_queues_ = false;
};

}  // namespace lockq::server
