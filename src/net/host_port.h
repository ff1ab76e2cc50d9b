#pragma once
// "host:port" addresses: the RESP and AMQP listeners' --bind, and the
// addresses nodes advertise to each other (the forwarder's link).
//
// Thread: any (pure functions).

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace lockq::net {

// Parses "host:port" into a socket address: an IPv4 literal, "localhost"
// (127.0.0.1) or "[IPv6]:port". The port is strict decimal 1..65535 (no
// sign, spaces or trailing bytes). Returns false on anything else.
bool ParseHostPort(std::string_view addr, sockaddr_storage* out);

// "host:port", with an IPv6 host in brackets: the inverse of ParseHostPort.
std::string JoinHostPort(std::string_view host, int port);

}  // namespace lockq::net
