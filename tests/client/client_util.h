#pragma once
// Helpers for the liblockq tests (tests/client): a real cluster and a
// lockq::Client pointed at it.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "lockq/client.h"
#include "testlib/process_cluster.h"
#include "testlib/status_assert.h"

namespace lockq::testing {

inline std::vector<std::string> Endpoints(const ProcessCluster& c) {
  std::vector<std::string> out;
  for (int i = 0; i < c.size(); i++) out.push_back(c.RespAddr(i));
  return out;
}

// Short backoff and budgets so failure paths finish quickly in tests.
inline ClientOptions FastOptions() {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.call_timeout = std::chrono::milliseconds(5000);
  o.retry_for = std::chrono::milliseconds(15000);
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

// "127.0.0.1:port" where nothing listens (bound, then closed).
inline std::string ClosedEndpoint() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

inline std::string Str(const Result<Reply>& r) { return r.ok() ? r->str : r.status().ToString(); }

}  // namespace lockq::testing
