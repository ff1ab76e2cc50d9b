#pragma once
// The transport bounds every front end (RESP, AMQP) takes from the config:
// --bind, its port, --max-clients and the per-connection output bounds
// (net/stream_conn.h); with `tls`, its TLS listener (handshake failures are
// logged at info with the peer's address).

#include <memory>

#include "net/listener.h"
#include "net/tls.h"
#include "server/config.h"

namespace lockq::server {

net::Listener::Options ListenerOptions(const Config& config, int port,
                                       std::shared_ptr<net::TlsContext> tls = nullptr);

// Listens on a front end's plain port (when `plain_on`) and its TLS port
// (when `tls` is not null), logging each address as "<protocol>: listening".
Status ListenAll(const char* protocol, net::Listener& plain, bool plain_on, net::Listener* tls);

}  // namespace lockq::server
