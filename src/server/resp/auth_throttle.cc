#include "server/resp/auth_throttle.h"

#include <algorithm>

namespace lockq::server {

std::string AuthThrottle::AddressOf(std::string_view peer) {
  size_t colon = peer.rfind(':');
  std::string_view host = colon == std::string_view::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::string(host);
}

void AuthThrottle::Evict(uint64_t now_ms) {
  for (auto it = by_address_.begin(); it != by_address_.end();) {
    it = now_ms - it->second.last_ms >= kForgetMs ? by_address_.erase(it) : std::next(it);
  }
  if (by_address_.size() < kAddressesMax) return;
  auto stalest = std::min_element(by_address_.begin(), by_address_.end(),
                                  [](const auto& a, const auto& b) { return a.second.last_ms < b.second.last_ms; });
  by_address_.erase(stalest);
}

uint64_t AuthThrottle::OnFailure(std::string_view peer, uint64_t now_ms) {
  failures_++;
  std::string addr = AddressOf(peer);
  auto it = by_address_.find(addr);
  if (it == by_address_.end()) {
    if (by_address_.size() >= kAddressesMax) Evict(now_ms);
    it = by_address_.emplace(std::move(addr), Entry{}).first;
  } else if (now_ms - it->second.last_ms >= kForgetMs) {
    it->second.failures = 0;
  }
  Entry& e = it->second;
  e.failures++;
  e.last_ms = now_ms;
  uint64_t delay = 0;
  if (e.failures > kFreeFailures) {
    uint32_t doublings = std::min<uint32_t>(e.failures - kFreeFailures - 1, 16);
    delay = std::min(kMaxDelayMs, kFirstDelayMs << doublings);
  }
  last_delay_ms_ = delay;
  if (delay == 0) return 0;
  e.busy_until_ms = std::max(e.busy_until_ms, now_ms) + delay;
  return e.busy_until_ms - now_ms;
}

}  // namespace lockq::server
