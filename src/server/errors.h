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
// ---- users and permissions (WAVE2.md A.1; Redis 7 wording, which clients
// match on) ----
inline constexpr const char* kErrWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr const char* kErrHelloNoAuth =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH "
    "<user> <pass> option can be used to authenticate the client and select the RESP protocol version at the "
    "same time";
inline constexpr const char* kErrAuthNoPassword =
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
    "configuration is correct?";
// AUTH while this node's --requirepass/--aclfile are not in the applied
// user store yet (start, or flags that differ from the cluster's): Redis's
// LOADING code, which clients retry (redis-py BusyLoadingError).
inline constexpr const char* kErrAclLoading =
    "LOADING lockq is applying the users of --requirepass/--aclfile; try again";
// Redis's protected-mode text with lockq's name and remedies; clients
// match on the DENIED prefix.
inline constexpr const char* kErrProtectedMode =
    "DENIED lockq is running in protected mode because protected mode is enabled and no password is set for "
    "the default user. In this mode connections are only accepted from the loopback interface. If you want to "
    "connect from external computers to lockq you may adopt one of the following solutions: 1) Set up an "
    "authentication password for the default user (--requirepass, --aclfile, or ACL SETUSER default "
    ">password from the loopback interface). 2) If you started the server manually just for testing, restart "
    "it with the '--protected-mode no' option, and MAKE SURE lockq is not publicly accessible from the "
    "internet. NOTE: You only need to do one of the above things in order for the server to start accepting "
    "connections from the outside.";
inline constexpr const char* kErrOutputLimit = "ERR reply buffer limit reached; client disconnected";

}  // namespace lockq::server
