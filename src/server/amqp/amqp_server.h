#pragma once
// AmqpServer: the AMQP 0-9-1 listener (--amqp-port; docs/amqp.md). Accepts
// connections, hands each applied entry's deliveries to the connection
// they are addressed to, flushes output once per loop turn, and closes
// every connection with 320 CONNECTION_FORCED when another Raft leader is
// elected so that clients reconnect (their unacked messages come back, redelivered,
// through Q.DISCONNECT).
//
// Connection ids start at kAmqpConnectionIdBase so that a ClientRef of an
// AMQP connection never equals one of a RESP connection of the same node.
//
// Thread: the server loop.

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "consensus/node.h"
#include "net/listener.h"
#include "server/config.h"
#include "sm/command.h"
#include "sm/events.h"

namespace lockq::server {

class AmqpConnection;
class Core;

inline constexpr uint64_t kAmqpConnectionIdBase = uint64_t{1} << 40;

class AmqpServer {
 public:
  // `clock` (not owned) times heartbeats and handshakes; its wall clock is
  // never used for an interval.
  // `tls` (the --tls-* context) serves --amqps-port; --amqp-port 0 leaves
  // only the TLS port.
  AmqpServer(uv_loop_t* loop, Core* core, const Config& config, const Clock& clock = SystemClock(),
             std::shared_ptr<net::TlsContext> tls = nullptr);
  ~AmqpServer();
  AmqpServer(const AmqpServer&) = delete;
  AmqpServer& operator=(const AmqpServer&) = delete;

  Status Listen();
  // Stops accepting and closes every client.
  void Close();

  void Forget(uint64_t id);

  Core& core() { return *core_; }
  // Publishers are blocked: the queues hold more than
  // --queue-high-water-bytes (until they drop below 90% of it).
  bool blocked() const { return blocked_; }
  const Limits& limits() const { return config_.limits; }

 private:
  void Accept(std::shared_ptr<net::StreamConnection> stream);
  static void TickCb(uv_timer_t* h) noexcept;
  void OnEvents(const sm::Events& events);
  void OnRoleChange(consensus::Role role, uint64_t leader_id);
  void UpdateBlocked();
  // Closes (320) the connections whose user() or vhost() is `value`.
  void CloseConnections(const std::string& (AmqpConnection::*field)() const, const std::string& value,
                        const std::string& why);

  uv_loop_t* loop_;
  Core* core_;
  Config config_;
  const Clock& clock_;
  net::Listener listener_;                    // --amqp-port
  std::unique_ptr<net::Listener> tls_listener_;  // --amqps-port
  uv_timer_t tick_ {};
  bool listening_ = false;
  uint64_t next_id_ = kAmqpConnectionIdBase;
  uint64_t last_leader_ = 0;
  bool blocked_ = false;
  std::map<uint64_t, std::shared_ptr<AmqpConnection>> conns_;
};

}  // namespace lockq::server
