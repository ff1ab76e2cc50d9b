#pragma once
// The time seam. Every interval (timeouts, heartbeats, deadlines, node-down
// detection, backstops) is measured on the monotonic clock, which never goes
// back; the wall clock is read only where a point in real time is the
// meaning: the leader's time stamped on log entries (leader_time_ms) and
// uptime/INFO fields. A wall clock stepped back by NTP or an operator must
// never make an interval wrap or look expired.
//
// Production code takes a `Clock&` (SystemClock() by default); tests and the
// simulation pass a ManualClock and step either clock on purpose.
//
// Thread: SystemClock is safe from any thread; a ManualClock is not
// synchronized (tests drive it from one thread).

#include <cstdint>

namespace lockq {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since an arbitrary origin; never decreases.
  virtual uint64_t MonotonicMs() const = 0;
  // Milliseconds since the Unix epoch; may step in either direction.
  virtual uint64_t WallMs() const = 0;
};

// std::chrono::steady_clock and system_clock.
Clock& SystemClock();

// A clock that moves only when told to (unit tests, simulation).
class ManualClock : public Clock {
 public:
  explicit ManualClock(uint64_t monotonic_ms = 1, uint64_t wall_ms = 1'700'000'000'000)
      : mono_(monotonic_ms), wall_(wall_ms) {}
  uint64_t MonotonicMs() const override { return mono_; }
  uint64_t WallMs() const override { return wall_; }
  // Both clocks move forward by `ms`, as real time passing does.
  void Advance(uint64_t ms) {
    mono_ += ms;
    wall_ += ms;
  }
  // Steps only the wall clock (an NTP step or an operator's `date -s`).
  void SetWall(uint64_t wall_ms) { wall_ = wall_ms; }

 private:
  uint64_t mono_;
  uint64_t wall_;
};

}  // namespace lockq
