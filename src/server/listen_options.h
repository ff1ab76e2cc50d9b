#pragma once
// The transport bounds every front end (RESP, AMQP) takes from the config:
// --bind, its port, --max-clients and the per-connection output bounds
// (net/stream_conn.h).

#include "net/listener.h"
#include "server/config.h"

namespace lockq::server {

net::Listener::Options ListenerOptions(const Config& config, int port);

}  // namespace lockq::server
