#pragma once
// Brute-force brake for AUTH and HELLO AUTH (WAVE2.md A.5, issue 12 item 5):
// per node and per client address (IP, port dropped), the first
// kFreeFailures wrong passwords are answered at once; each further one
// waits twice as long as the previous, from kFirstDelayMs up to
// kMaxDelayMs. The wait is a timer on the loop (RespServer's delayed
// replies), never a blocked loop, and only delays that connection's
// replies: other clients are unaffected. kForgetMs without a failure
// clears the address; a success does not, or whoever holds one valid login
// could reset the brake between guesses at another user's password. At most kAddressesMax addresses are
// tracked; past it the stalest goes.
//
// Thread: the server loop. Time: a monotonic clock in ms, passed in.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace lockq::server {

class AuthThrottle {
 public:
  static constexpr uint32_t kFreeFailures = 3;
  static constexpr uint64_t kFirstDelayMs = 10;
  static constexpr uint64_t kMaxDelayMs = 2000;
  static constexpr uint64_t kForgetMs = 60000;
  static constexpr size_t kAddressesMax = 10000;

  // A failed login from `peer` ("ip:port" or "[v6]:port"); returns how long
  // from now to hold its error reply.
  uint64_t OnFailure(std::string_view peer, uint64_t now_ms);

  uint64_t failures() const { return failures_; }
  uint64_t last_delay_ms() const { return last_delay_ms_; }
  size_t tracked() const { return by_address_.size(); }

  // "10.0.0.1:5000" -> "10.0.0.1", "[::1]:5000" -> "::1" (and ::1:5000).
  static std::string AddressOf(std::string_view peer);

 private:
  struct Entry {
    uint32_t failures = 0;
    uint64_t last_ms = 0;
    uint64_t busy_until_ms = 0;  // when its last delayed reply is due
  };
  void Evict(uint64_t now_ms);

  std::map<std::string, Entry, std::less<>> by_address_;
  uint64_t failures_ = 0;
  uint64_t last_delay_ms_ = 0;
};

}  // namespace lockq::server
