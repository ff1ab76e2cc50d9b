#pragma once
// Forwarder: a follower's link to the leader. Commands a follower receives
// are sent to the leader's RESP port as one internal LOCKQ.FORWARD command
// per event-loop turn (its argument is sm::EncodeArgvList of the commands);
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
// Thread: the server loop.

#include <uv.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "net/host_port.h"
#include "resp/resp.h"
#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::server {

class Forwarder {
 public:
  using ReplyCb = std::function<void(sm::Reply)>;
  using RequeueCb = std::function<void(sm::Argv argv, ReplyCb cb, uint64_t deadline_ms)>;

  Forwarder(uv_loop_t* loop, RequeueCb requeue);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Queues argv for the node whose RESP listener is `addr`. A different
  // address than the current link's resets the link first.
  void Send(const std::string& addr, sm::Argv argv, ReplyCb cb, uint64_t deadline_ms);
  // Sends what Send() queued this turn as one LOCKQ.FORWARD (Core's check).
  void Flush();
  // Drops the link: commands sent get `reason` as an error; unsent ones are
  // requeued, or failed with `reason` too when `requeue_unsent` is false.
  void Reset(const std::string& reason, bool requeue_unsent = true);
  size_t outstanding() const;
  uint64_t forwarded() const { return forwarded_; }

 struct Link;  // one TCP connection to the leader (forwarder.cc)

 private:
  static void ConnectCb(uv_connect_t* req, int status) noexcept;
  static void ReadCb(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;
  void Connect();
  void OnReply(const sm::Reply& reply);

  uv_loop_t* loop_;
  std::string addr_;
  Link* link_ = nullptr;  // owned; freed in its close callback
  std::vector<sm::Argv> queued_argv_;
  std::vector<ReplyCb> queued_cbs_;
  std::vector<uint64_t> queued_deadlines_;
  RequeueCb requeue_;
  uint64_t forwarded_ = 0;
  std::deque<std::vector<ReplyCb>> sent_;  // one entry per LOCKQ.FORWARD, in order
};

// "host:port" parsing lives in net/host_port.h.
using net::ParseHostPort;

}  // namespace lockq::server
