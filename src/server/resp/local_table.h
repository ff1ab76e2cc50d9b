#pragma once
// The table of local commands (local_commands.cc) and the context their
// handlers get. Internal to src/server.

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::server {

class RespSession;
class RespServer;

struct LocalCtx {
  RespServer& server;
  const std::shared_ptr<RespSession>& conn;
  const sm::Argv& argv;
  uint64_t slot;
};

// Returns the reply, or nullopt when the handler fills `slot` later itself.
using LocalHandler = std::optional<sm::Reply> (*)(LocalCtx&);

struct LocalCommand {
  std::string_view name;
  int arity;      // Redis convention: N exact, -N at least N
  bool internal;  // lockqd plumbing: only peer sessions run it (clients get "unknown command"); hidden from COMMAND
  LocalHandler handler;
};

const std::vector<LocalCommand>& LocalCommands();

// acl_commands.cc: AUTH, and ACL WHOAMI / LOG / GENPASS (the other ACL
// subcommands go through the log: sm/acl_family.cc).
std::optional<sm::Reply> Auth(LocalCtx& c);
std::optional<sm::Reply> AclLocal(LocalCtx& c);
bool IsLocalAclSubcommand(const sm::Argv& argv);

// cluster_commands.cc
std::optional<sm::Reply> Forward(LocalCtx& c);
std::optional<sm::Reply> Cluster(LocalCtx& c);

}  // namespace lockq::server
