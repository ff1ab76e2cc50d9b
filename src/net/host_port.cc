#include "net/host_port.h"

#include <uv.h>

#include <cstring>
#include <optional>

#include "common/strings.h"

namespace lockq::net {

bool ParseHostPort(std::string_view addr, sockaddr_storage* out) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string host(addr.substr(0, colon));
  // ParseInt64 is strict (no sign, spaces, leading zeros or trailing bytes).
  std::optional<int64_t> port = ParseInt64(addr.substr(colon + 1));
  if (!port || *port <= 0 || *port > 65535) return false;
  std::memset(out, 0, sizeof(*out));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return uv_ip6_addr(host.substr(1, host.size() - 2).c_str(), static_cast<int>(*port),
                       reinterpret_cast<sockaddr_in6*>(out)) == 0;
  }
  if (host == "localhost") host = "127.0.0.1";
  return uv_ip4_addr(host.c_str(), static_cast<int>(*port), reinterpret_cast<sockaddr_in*>(out)) == 0;
}

std::string JoinHostPort(std::string_view host, int port) {
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

}  // namespace lockq::net
