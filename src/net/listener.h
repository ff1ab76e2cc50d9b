#pragma once
// Listener: a TCP listening socket (the RESP and AMQP ports). Binds and
// listens, accepts each client as a StreamConnection, enforces
// max_clients, and owns the FlushQueue that writes its connections'
// answers once per loop turn.
//
// Thread: the loop. Lifetime: outlives its connections' close callbacks
// (the servers hold it for the life of the process).

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/stream_conn.h"

namespace lockq::net {

class Listener {
 public:
  struct Options {
    std::string bind;  // an IPv4 or IPv6 literal, or "localhost"
    int port = 0;
    size_t max_clients = 10000;
    StreamConnection::Options conn;  // for every accepted connection
  };
  // `conn` is accepted but not started; the callee calls Start (accept) or
  // decides how to refuse it (reject: with an error written, or Discard).
  using ConnCb = std::function<void(std::shared_ptr<StreamConnection> conn)>;

  // `on_reject` runs instead of `on_accept` while max_clients connections
  // are open; when empty, such a connection is closed at once.
  Listener(uv_loop_t* loop, Options options, ConnCb on_accept, ConnCb on_reject = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. *addr is "host:port" as logged. On failure the
  // error names the address.
  Status Listen(std::string* addr);
  // Stops accepting and stops the per-turn flush (the servers close their
  // connections themselves: they know what to tell them).
  void Close();
  // A connection on an already connected socket that did not come through
  // this listener (a peer link, net/peer_link.h), flushed with its
  // connections and given their options; not counted toward max_clients.
  // Not started. Closes `fd` and returns the error on failure. Works (and
  // starts the flush queue) even if this listener never listened.
  Result<std::shared_ptr<StreamConnection>> Adopt(uv_os_sock_t fd);
  FlushQueue& flush() { return flush_; }
  size_t open_connections() const { return *open_; }

 private:
  static void AcceptCb(uv_stream_t* server, int status) noexcept;

  uv_loop_t* loop_;
  Options options_;
  ConnCb on_accept_;
  ConnCb on_reject_;
  uv_tcp_t* handle_ = nullptr;  // freed by its close callback
  FlushQueue flush_;
  std::shared_ptr<size_t> open_ = std::make_shared<size_t>(0);  // shared with close hooks
};

}  // namespace lockq::net
