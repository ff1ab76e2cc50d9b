#include "server/listen_options.h"

#include <spdlog/spdlog.h>

namespace lockq::server {

net::Listener::Options ListenerOptions(const Config& config, int port, std::shared_ptr<net::TlsContext> tls) {
  net::Listener::Options o;
  o.bind = config.bind;
  o.port = port;
  o.max_clients = config.limits.max_clients;
  o.conn.max_pending = config.limits.max_pending_commands;
  o.conn.pause_output_bytes = config.limits.pause_output_bytes;
  o.conn.max_output_bytes = config.limits.max_output_bytes;
  if (tls) {
    o.conn.tls = std::move(tls);
    o.conn.on_tls_error = [port](const std::string& peer, const std::string& error) {
      spdlog::info("tls port {}: client {} refused: {}", port, peer, error);
    };
  }
  return o;
}

Status ListenAll(const char* protocol, net::Listener& plain, bool plain_on, net::Listener* tls) {
  std::string addr;
  if (plain_on) {
    Status s = plain.Listen(&addr);
    if (!s.ok()) return s;
    spdlog::info("{}: listening on {}", protocol, addr);
  }
  if (tls != nullptr) {
    Status s = tls->Listen(&addr);
    if (!s.ok()) return s;
    spdlog::info("{}: listening on {} (TLS)", protocol, addr);
  }
  return Status::Ok();
}

}  // namespace lockq::server
