#include "server/listen_options.h"

namespace lockq::server {

net::Listener::Options ListenerOptions(const Config& config, int port) {
  net::Listener::Options o;
  o.bind = config.bind;
  o.port = port;
  o.max_clients = config.limits.max_clients;
  o.conn.max_pending = config.limits.max_pending_commands;
  o.conn.pause_output_bytes = config.limits.pause_output_bytes;
  o.conn.max_output_bytes = config.limits.max_output_bytes;
  return o;
}

}  // namespace lockq::server
