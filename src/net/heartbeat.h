#pragma once
// Heartbeat timing, protocol-neutral, on the monotonic clock (AMQP 0-9-1
// section 4.2.7 states the rule; any protocol with keepalives can use it):
// a peer silent for two intervals is dead; after half an interval without
// writing, send a heartbeat. Times are Clock::MonotonicMs values (for a
// StreamConnection: last_read_ms/last_write_ms), so a wall clock stepped
// back or forward never makes a live peer look silent.

#include <cstdint>

namespace lockq::net {

enum class HeartbeatAction { kNone, kSend, kPeerDead };

// `interval_ms` 0 disables heartbeats (kNone).
inline HeartbeatAction CheckHeartbeat(uint64_t now_ms, uint64_t last_read_ms, uint64_t last_write_ms,
                                      uint64_t interval_ms) {
  if (interval_ms == 0) return HeartbeatAction::kNone;
  // Written as "now > last + bound": a stamp later than now cannot wrap.
  if (now_ms > last_read_ms + 2 * interval_ms) return HeartbeatAction::kPeerDead;
  if (now_ms >= last_write_ms + interval_ms / 2) return HeartbeatAction::kSend;
  return HeartbeatAction::kNone;
}

}  // namespace lockq::net
