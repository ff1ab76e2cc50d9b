#include "server/loop_lag.h"

#include <algorithm>

namespace lockq::server {

LoopLag::LoopLag(uv_loop_t* loop) : loop_(loop) {}

void LoopLag::Start() {
  // Idle time is counted only once asked for; before, the first turns
  // read as busy for their whole poll and are skipped (last_ns_ == 0).
  uv_loop_configure(loop_, UV_METRICS_IDLE_TIME);
  uv_prepare_init(loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, &LoopLag::PrepareCb);
  started_ = true;
}

void LoopLag::Stop() {
  if (!started_) return;
  started_ = false;
  uv_prepare_stop(&prepare_);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
}

void LoopLag::PrepareCb(uv_prepare_t* h) noexcept {
  auto* self = static_cast<LoopLag*>(h->data);
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(self->loop_);
  if (self->last_ns_ != 0) {
    uint64_t elapsed = now - self->last_ns_;
    uint64_t idled = idle - self->last_idle_ns_;
    self->Record((elapsed > idled ? elapsed - idled : 0) / 1000);
  }
  self->last_ns_ = now;
  self->last_idle_ns_ = idle;
}

void LoopLag::Record(uint64_t busy_us) {
  size_t i = 0;
  while (i < kBoundsMs.size() && busy_us > kBoundsMs[i] * 1000) i++;
  buckets_[i]++;
  turns_++;
  max_us_ = std::max(max_us_, busy_us);
}

void LoopLag::Reset() {
  buckets_ = {};
  turns_ = 0;
  max_us_ = 0;
}

}  // namespace lockq::server
