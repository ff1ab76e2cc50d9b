#pragma once
// Loopback TCP sockets for tests that need real ports on 127.0.0.1: one
// place for the bind-to-port-0 dance (tests/unit/net/*). Header-only, plain
// POSIX; a failing call is a test failure (ADD_FAILURE), not an abort.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace lockq::testing {

// 127.0.0.1:port.
inline sockaddr_in LoopbackAddress(int port = 0) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picks; *port gets
// it. The caller owns (and closes) the socket.
inline int BindLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa = LoopbackAddress();
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) ADD_FAILURE() << "bind 127.0.0.1:0 failed";
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// A port that was free on 127.0.0.1 a moment ago (bound, then closed):
// for servers a test starts itself; another process may take it meanwhile.
inline int FreeLoopbackPort() {
  int port = 0;
  ::close(BindLoopback(&port));
  return port;
}

// A blocking TCP connection to 127.0.0.1:port; the caller closes it.
inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa = LoopbackAddress(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << "connect 127.0.0.1:" << port;
  return fd;
}

}  // namespace lockq::testing
