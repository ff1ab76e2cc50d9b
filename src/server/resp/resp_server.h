#pragma once
// RespServer: the Redis-protocol listener. Accepts connections, turns each
// parsed request into either a connection-local command (local_commands.cc:
// PING, HELLO, CLIENT, INFO, ...) or a state machine command that goes
// through Core (the log), and writes every connection's replies once per
// loop turn.
//
// Thread: the server loop.

#include <uv.h>

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/listener.h"
#include "net/peer_link.h"
#include "server/resp/acl_log.h"
#include "server/resp/auth_throttle.h"
#include "server/config.h"
#include "sm/command.h"
#include "sm/events.h"
#include "sm/reply.h"

namespace lockq::server {

class RespSession;
class Core;

struct RespStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;
  uint64_t commands_processed = 0;
  uint64_t protocol_errors = 0;
  uint64_t output_limit_disconnects = 0;
  // Users and permissions (INFO stats; Redis's names where it has them).
  uint64_t acl_access_denied_auth = 0;
  uint64_t acl_access_denied_cmd = 0;
  uint64_t acl_access_denied_key = 0;
  uint64_t protected_mode_refused = 0;
  uint64_t auth_delayed_replies = 0;
};

class RespServer {
 public:
  // `tls` (the --tls-* context) serves --tls-port; --resp-port 0 leaves
  // only the TLS port.
  RespServer(uv_loop_t* loop, Core* core, const Config& config, std::shared_ptr<net::TlsContext> tls = nullptr);
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  Status Listen();
  // Stops accepting and closes every client.
  void Close();

  // Runs one parsed request from `conn`; its reply goes to `slot`.
  void Dispatch(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot);
  // ELECT.OBSERVE / ELECT.UNOBSERVE name (deferred_replies.cc).
  void Observe(const std::shared_ptr<RespSession>& conn, const std::string& election, uint64_t slot);
  void Unobserve(RespSession& conn, const std::string& election);

  // `conn` finished closing.
  void Forget(uint64_t id);

  const Limits& limits() const { return config_.limits; }
  const Config& config() const { return config_; }
  Core& core() { return *core_; }
  RespStats& stats() { return stats_; }
  // Client sessions only: followers' forward links (peer sessions,
  // RespSession::peer_node() != 0) are counted by peer_count() instead, so
  // INFO's connected_clients and CLIENT LIST mean what they mean in Redis.
  size_t client_count() const { return conns_.size() - peer_count_; }
  size_t peer_count() const { return peer_count_; }
  // Every session, peer sessions included (check peer_node()).
  const std::map<uint64_t, std::shared_ptr<RespSession>>& connections() const { return conns_; }
  uint64_t started_ms() const { return started_ms_; }

  // ---- users and permissions (acl_commands.cc) -------------------------------
  // Whether `conn` may run commands other than AUTH, HELLO, QUIT and RESET.
  bool Authenticated(const RespSession& conn) const;
  // AUTH / HELLO AUTH against this node's applied user store. True: `conn`
  // now runs as `user`. False: WRONGPASS (or the nopass error) went to
  // `slot`, held back by the brute-force brake (auth_throttle.h).
  bool Authenticate(const std::shared_ptr<RespSession>& conn, const std::string& user, const std::string& password,
                    uint64_t slot, bool password_only);
  // The front end's fail-fast check (the state machine checks again at
  // apply): nullopt, or the NOPERM reply, logged in ACL LOG.
  std::optional<sm::Reply> CheckPermission(const RespSession& conn, const sm::Argv& argv);
  // `LOCKQ.USER <user> argv...` unless the user is "default".
  static sm::Argv WrapUser(const RespSession& conn, sm::Argv argv);
  // Fills `slot` after `delay_ms` (a loop timer; 0: now).
  void FillLater(const std::shared_ptr<RespSession>& conn, uint64_t slot, sm::Reply reply, uint64_t delay_ms);
  AclLog& acl_log();
  const AuthThrottle& auth_throttle() const;

 private:
  void Accept(std::shared_ptr<net::StreamConnection> stream);
  // A follower's forward link (net/peer_link.h), as a peer session.
  void AdoptPeer(net::PeerLink link);
  void Reject(std::shared_ptr<net::StreamConnection> stream);
  // Writes one error reply to a connection that gets no session, then closes it.
  static void RefuseWith(net::StreamConnection& stream, const char* error);
  // Deferred replies and pushes (deferred_replies.cc).
  void SubmitWithClient(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot);
  // Queue commands act for the connection (channel 0): acks, consumers and
  // exclusive queues belong to it, and go when it closes.
  void SubmitForChannel(const std::shared_ptr<RespSession>& conn, sm::Argv argv, uint64_t slot);
  void OnEvents(const sm::Events& events);
  void ProposeCancel(const sm::ClientRef& client);
  sm::ClientRef RefOf(uint64_t conn_id, uint64_t slot) const;
  void NotifyObservers(const std::string& lock_name);
  static void BackstopCb(uv_timer_t* h) noexcept;
  void ExpireBackstops();
  // Users and permissions (acl_commands.cc).
  bool ProtectedModeRefuses(const std::string& peer) const;
  bool AclBootPending() const;
  void CloseUserConnections(const std::string& user);
  static void DelayedCb(uv_timer_t* h) noexcept;
  void FillDueReplies();

  uv_loop_t* loop_;
  Core* core_;
  Config config_;
  net::Listener listener_;                    // --resp-port
  std::unique_ptr<net::Listener> tls_listener_;  // --tls-port
  uv_timer_t backstop_timer_ {};
  bool listening_ = false;
  uint64_t next_id_ = 1;
  uint64_t started_ms_ = 0;
  std::map<uint64_t, std::shared_ptr<RespSession>> conns_;
  size_t peer_count_ = 0;  // sessions in conns_ with peer_node() != 0
  std::map<std::string, std::set<uint64_t>> observers_;  // lock name -> connection ids
  // Deferred requests with a WAIT: if no entry answers them by WAIT plus
  // --no-leader-timeout-ms (no leader), they get TRYAGAIN rather than hang.
  std::multimap<uint64_t, sm::ClientRef> backstops_;  // monotonic deadline ms
  RespStats stats_;
  // Users and permissions (the log, brake and login check are Core's AuthGate).
  struct DelayedReply {
    std::weak_ptr<RespSession> conn;
    uint64_t slot;
    sm::Reply reply;
  };
  std::multimap<uint64_t, DelayedReply> delayed_;  // monotonic due ms
  uv_timer_t delayed_timer_ {};
};

}  // namespace lockq::server
