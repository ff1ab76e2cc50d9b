#pragma once
// HandOffLeadership: a leader that is asked to stop (SIGTERM, SIGINT) first
// hands leadership to the most up-to-date voter (Raft thesis §3.10,
// "Leadership transfer extension": the leader catches the target up and
// sends it TimeoutNow; the target starts an election at once, skipping
// pre-vote, and wins it in one round). Without it the followers notice the
// leader is gone only after an election timeout, and every write waits for
// that (docs/consensus.md "Clean shutdown and rolling restarts").
//
// Bounded: libraft abandons a transfer after one election timeout (checked
// every heartbeat); `bound_ms` is this side's backstop should its callback
// never come. Either way `then` runs, exactly once, and the node stops as
// before. A follower, a single voter or a leader with no other voter runs
// `then` at once (inside the call).
//
// While the transfer runs the node keeps its clients: commands wait (libraft
// refuses proposals during a transfer) and, once the new leader is known,
// are forwarded to it like any follower's.
//
// Thread: the server loop. `node` must outlive the hand-off (until `then`).

#include <uv.h>

#include <functional>

#include "consensus/node.h"

namespace lockq::server {

void HandOffLeadership(uv_loop_t* loop, consensus::Node& node, unsigned bound_ms, std::function<void()> then);

}  // namespace lockq::server
