#pragma once
// Error replies the server (not the state machine) sends. One place, so the
// wording stays consistent and tests can refer to it. The request path's own
// errors live in dispatch/errors.h and are re-exported here.

#include "dispatch/errors.h"

namespace lockq::server {

using dispatch::kErrBatchTooBig;
using dispatch::kErrLeaderChanged;
using dispatch::kErrLeadershipLost;
using dispatch::kErrLeaderUnreachable;
using dispatch::kErrNoLeader;
using dispatch::kErrNotLeader;
using dispatch::kErrShuttingDown;
using dispatch::kErrShutdownOutcomeUnknown;
using dispatch::kErrLeaderUnreachableNotSent;
inline constexpr const char* kErrMaxClients = "ERR max number of clients reached";
inline constexpr const char* kErrQueryLimit = "ERR Protocol error: query buffer limit reached";
inline constexpr const char* kErrOutputLimit = "ERR reply buffer limit reached; client disconnected";

}  // namespace lockq::server
