#pragma once
// Error replies the server (not the state machine) sends. One place, so the
// wording stays consistent and tests can refer to it.

namespace lockq::server {

inline constexpr const char* kErrNoLeader = "TRYAGAIN no leader elected; retry shortly";
inline constexpr const char* kErrLeaderChanged = "TRYAGAIN leader changed; outcome unknown, check before retrying";
inline constexpr const char* kErrLeaderUnreachable = "TRYAGAIN cannot reach the leader; outcome unknown";
inline constexpr const char* kErrLeadershipLost = "TRYAGAIN leadership lost before commit; outcome unknown";
inline constexpr const char* kErrNotLeader = "TRYAGAIN this node is not the leader";
inline constexpr const char* kErrShuttingDown = "TRYAGAIN server shutting down";
inline constexpr const char* kErrShutdownOutcomeUnknown = "TRYAGAIN server shutting down; outcome unknown";
inline constexpr const char* kErrLeaderUnreachableNotSent = "TRYAGAIN cannot reach the leader; not executed, retry shortly";
inline constexpr const char* kErrMaxClients = "ERR max number of clients reached";
inline constexpr const char* kErrQueryLimit = "ERR Protocol error: query buffer limit reached";
inline constexpr const char* kErrOutputLimit = "ERR reply buffer limit reached; client disconnected";
inline constexpr const char* kErrBatchTooBig = "ERR command too large for one log entry";

}  // namespace lockq::server
