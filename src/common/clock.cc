#include "common/clock.h"

#include <chrono>

namespace lockq {

namespace {

template <typename C>
uint64_t MillisOf() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(C::now().time_since_epoch()).count());
}

class RealClock final : public Clock {
 public:
  uint64_t MonotonicMs() const override { return MillisOf<std::chrono::steady_clock>(); }
  uint64_t WallMs() const override { return MillisOf<std::chrono::system_clock>(); }
};

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

}  // namespace lockq
