#pragma once
// Forwarder: a follower's link to the leader. Commands a follower receives
// are sent to the leader as one internal LOCKQ.FORWARD command per
// event-loop turn, on a peer link (net/peer_link.h: the raft port, channel
// kForward, authenticated like raft's own links; client ports refuse
// LOCKQ.FORWARD) (its argument is sm::EncodeArgvList of the commands);
// the leader proposes them and answers with one bulk string holding
// sm::EncodeReplies. The follower then formats each reply for its own
// client's protocol, so forwarding is invisible to clients.
//
// A lost link or a leader change fails the commands already sent with
// TRYAGAIN ("outcome unknown"): a write may have committed, so it is never
// silently retried. Commands not yet sent (still queued, e.g. while
// connecting to a leader that just died) are handed back through the
// requeue callback, to wait for the next leader within their deadline.
//
// Applied within the bound or never (docs/architecture.md, "Forwarded
// commands"): every command carries the deadline its front end gave it
// (arrival + --no-leader-timeout-ms, monotonic). A command still unanswered
// at its deadline is answered TRYAGAIN ("outcome unknown") and the link is
// ABORTED (RST, SO_LINGER 0): the kernel discards the bytes it still holds
// for the leader, so a link cut for 30 s cannot deliver them when it heals
// and have the leader apply a write its client gave up on long ago. Queued
// commands past their deadline were never sent: TRYAGAIN, not executed.
// Every link is closed abortively for the same reason.
//
// Thread: the server loop.

#include <uv.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "dispatch/forwarding.h"
#include "net/peer_link.h"
#include "net/stream_conn.h"
#include "resp/resp.h"
#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::server {

class Forwarder final : public dispatch::Forwarding {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  using RequeueCb = std::function<void(sm::Argv argv, ReplyCb cb, uint64_t deadline_ms)>;

  // `deadline_ms` of Send() and the requeue callback are on
  // clock.MonotonicMs().
  // `peer_address` maps a node id to its raft address ("" if unknown).
  using AddressOf = std::function<std::string(uint64_t id)>;
  Forwarder(uv_loop_t* loop, net::PeerEndpoint* peers, AddressOf peer_address, RequeueCb requeue,
            const Clock& clock = SystemClock());
  ~Forwarder() override;
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Queues argv for node `leader`. Another node than the current link's
  // resets the link first.
  void Send(uint64_t leader, sm::Argv argv, ReplyCb cb, uint64_t deadline_ms) override;
  // Sends what Send() queued this turn as one LOCKQ.FORWARD (Dispatcher::EndOfTurn).
  void Flush() override;
  // Aborts the link: commands sent get `reason` (an "outcome unknown"
  // error); unsent ones are requeued, or failed with `reason` too when
  // `requeue_unsent` is false.
  void Reset(const std::string& reason, bool requeue_unsent = true) override;
  // Answers what passed its deadline (see above; Dispatcher::Tick).
  size_t ExpireDeadlines() override;
  size_t outstanding() const;
  uint64_t forwarded() const override { return forwarded_; }

 struct Link;  // one TCP connection to the leader (forwarder.cc)

 private:
  void Connect();
  void OnReply(const sm::Reply& reply);

  uv_loop_t* loop_;
  net::PeerEndpoint* peers_;
  AddressOf peer_address_;
  uint64_t leader_ = 0;
  std::string addr_;  // leader_'s raft address, once connecting
  Link* link_ = nullptr;  // freed by its connection's close hook
  struct Queued {  // Send()'s command, not yet on the link
    sm::Argv argv;
    ReplyCb cb;
    uint64_t deadline_ms;
  };
  std::vector<Queued> queued_;
  RequeueCb requeue_;
  const Clock& clock_;
  uint64_t forwarded_ = 0;
  struct Sent {  // one LOCKQ.FORWARD on the link
    std::vector<ReplyCb> cbs;
    uint64_t deadline_ms;  // the earliest of its commands'
  };
  std::deque<Sent> sent_;  // in the order sent
};

}  // namespace lockq::server
