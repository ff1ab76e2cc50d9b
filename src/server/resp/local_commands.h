#pragma once
// Connection-local and node-local commands: they never enter the log
// (PING, ECHO, HELLO, SELECT, QUIT, RESET, CLIENT, COMMAND, CONFIG, INFO) or
// they are lockqd's own plumbing (LOCKQ.FORWARD from followers,
// LOCKQ.CLUSTER for operators). Every other command goes to the state
// machine through Core.

#include <memory>
#include <string>
#include <string_view>

#include "sm/command.h"

namespace lockq::server {

class RespSession;
class RespServer;

// Handles argv if argv[0] names a local command and returns true; the reply
// is written to `slot` now or, for asynchronous ones, later.
bool RunLocalCommand(RespServer& server, const std::shared_ptr<RespSession>& conn, const sm::Argv& argv,
                     uint64_t slot);

// AUTH, HELLO, QUIT and RESET: what an unauthenticated client may send
// (Redis's CMD_NO_AUTH), and what needs no permission.
bool IsNoAuthCommand(std::string_view name);

// The INFO text for `section` ("" or "default" or "all" or a section name).
std::string BuildInfo(RespServer& server, std::string_view section);

}  // namespace lockq::server
