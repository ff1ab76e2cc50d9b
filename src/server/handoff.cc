#include "server/handoff.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <utility>

#include "common/clock.h"

namespace lockq::server {

namespace {

// One hand-off. Shared by the transfer callback and the backstop timer;
// the timer's handle keeps it alive until libuv has closed it.
struct HandOff {
  uv_timer_t timer {};
  consensus::Node* node = nullptr;
  std::function<void()> then;
  uint64_t start_ms = 0;
  uint64_t from_term = 0;
  bool finished = false;
  std::shared_ptr<HandOff> self;  // released by the timer's close callback

  void Finish(const Status& s) {
    if (finished) return;
    finished = true;
    uint64_t took_ms = SystemClock().MonotonicMs() - start_ms;
    // Integration tests and operators read these lines (docs/consensus.md).
    if (s.ok()) {
      spdlog::info("shutdown: leadership transferred to node {} in term {} ({} ms); stopping", node->leader_id(),
                   node->term(), took_ms);
    } else {
      spdlog::warn("shutdown: leadership transfer did not complete in {} ms ({}); stopping anyway", took_ms,
                   s.message());
    }
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
      static_cast<HandOff*>(h->data)->self.reset();  // may delete *this: last statement
    });
    auto cb = std::move(then);
    cb();
  }
};

}  // namespace

void HandOffLeadership(uv_loop_t* loop, consensus::Node& node, unsigned bound_ms, std::function<void()> then) {
  if (!node.is_leader()) {
    then();
    return;
  }
  auto h = std::make_shared<HandOff>();
  h->node = &node;
  h->then = std::move(then);
  h->start_ms = SystemClock().MonotonicMs();
  h->from_term = node.term();
  // Transfer(0): the most up-to-date voter that answers (consensus/leader_view.h).
  Status s = node.Transfer(0, [h](Status st) { h->Finish(st); });
  if (!s.ok()) {
    // Not the leader after all, or no other voter (a single node): nothing to hand over.
    spdlog::info("shutdown: no leadership transfer ({})", s.message());
    auto cb = std::move(h->then);
    cb();
    return;
  }
  spdlog::info("shutdown: handing leadership over (term {}, bound {} ms)", h->from_term, bound_ms);
  h->self = h;
  uv_timer_init(loop, &h->timer);
  h->timer.data = h.get();
  uv_timer_start(
      &h->timer,
      [](uv_timer_t* t) {
        static_cast<HandOff*>(t->data)->Finish(Status::Unavailable("backstop timer"));
      },
      bound_ms, 0);
}

}  // namespace lockq::server
