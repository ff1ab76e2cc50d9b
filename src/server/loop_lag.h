#pragma once
// LoopLag: how long the event loop goes without looking at its sockets.
//
// Every loop turn runs its callbacks (I/O, timers, the end-of-turn group
// commit) between two polls; a request that arrives while they run waits
// for all of them. LoopLag measures each turn's busy time: the time from
// one uv_prepare (just before the poll) to the next, less the time the
// loop spent blocked in the poll (uv_metrics_idle_time). That is what a
// PING probe sees as latency, without the probe's own noise, and it
// catches every stall however short, not only those a timer happens to
// straddle. Turns are counted into a histogram of busy time (INFO
// "latency" section, docs/architecture.md "Loop stalls").
//
// Thread: the loop's.

#include <uv.h>

#include <array>
#include <cstdint>

namespace lockq::server {

class LoopLag {
 public:
  // Upper bounds (ms) of the histogram's buckets; a last bucket counts
  // the turns longer than the last bound.
  static constexpr std::array<uint64_t, 10> kBoundsMs{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};

  explicit LoopLag(uv_loop_t* loop);
  LoopLag(const LoopLag&) = delete;
  LoopLag& operator=(const LoopLag&) = delete;

  void Start();
  void Stop();  // closes the handle (the loop must run once more)

  // Turns counted in bucket i (i == kBoundsMs.size(): longer than the last bound).
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  uint64_t turns() const { return turns_; }
  uint64_t max_us() const { return max_us_; }
  // Forgets what was counted (CONFIG RESETSTAT): a benchmark resets
  // before its run so that start-up turns do not count.
  void Reset();
  // Counts one turn that was busy for `busy_us` (public for tests).
  void Record(uint64_t busy_us);

 private:
  static void PrepareCb(uv_prepare_t* h) noexcept;

  uv_loop_t* loop_;
  uv_prepare_t prepare_ {};
  bool started_ = false;
  uint64_t last_ns_ = 0;       // uv_hrtime at the previous prepare
  uint64_t last_idle_ns_ = 0;  // uv_metrics_idle_time then
  std::array<uint64_t, kBoundsMs.size() + 1> buckets_ {};
  uint64_t turns_ = 0;
  uint64_t max_us_ = 0;
};

}  // namespace lockq::server
