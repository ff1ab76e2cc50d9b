#pragma once
// Error replies of the request path (the dispatcher and the forwarder), in
// one place. server/errors.h re-exports them under lockq::server. The texts
// are wire format: clients match the TRYAGAIN prefix.

namespace lockq::dispatch {

inline constexpr const char* kErrNoLeader = "TRYAGAIN no leader elected; retry shortly";
inline constexpr const char* kErrLeaderChanged = "TRYAGAIN leader changed; outcome unknown, check before retrying";
inline constexpr const char* kErrLeaderUnreachable = "TRYAGAIN cannot reach the leader; outcome unknown";
inline constexpr const char* kErrLeadershipLost = "TRYAGAIN leadership lost before commit; outcome unknown";
inline constexpr const char* kErrNotLeader = "TRYAGAIN this node is not the leader";
inline constexpr const char* kErrShuttingDown = "TRYAGAIN server shutting down";
inline constexpr const char* kErrShutdownOutcomeUnknown = "TRYAGAIN server shutting down; outcome unknown";
inline constexpr const char* kErrLeaderUnreachableNotSent =
    "TRYAGAIN cannot reach the leader; not executed, retry shortly";
inline constexpr const char* kErrBatchTooBig = "ERR command too large for one log entry";
// New with the waiting_max bound: the command was not executed.
inline constexpr const char* kErrTooManyWaiting =
    "TRYAGAIN too many commands waiting for a leader; not executed, retry shortly";
inline constexpr const char* kErrEntryUndecodable = "ERR internal: log entry does not decode";

}  // namespace lockq::dispatch
