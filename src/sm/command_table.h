#pragma once
// The command table (STYLE.md habit 3): one row per command, contributed by
// the family files (kv_family.cc, keys_family.cc, internal_family.cc, ...).
// Adding a family is adding a file with an AddXxxFamily() function and one
// line in command_table.cc.
//
// A row has two functions:
//  - validate: the stateless checks Precheck() runs on the front end before
//    proposing (option syntax, integer arguments). Optional.
//  - handler: runs at apply time. It must re-check everything it relies on
//    (Apply never trusts that Precheck ran: the log may hold commands from an
//    older or buggy proposer) and must not change state before it knows the
//    command succeeds, so a failing command leaves no partial effect.
//
// Dispatch() is the single entry point used by Apply() and by Lua's
// redis.call() (lua_api.cc), which run commands by argv too.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sm/acl_categories.h"
#include "sm/command.h"
#include "sm/reply.h"
#include "sm/sm_state.h"
#include "sm/state_machine.h"

namespace lockq::sm {

struct CommandContext {
  const Argv& argv;
  uint64_t now_ms;  // state machine time for this batch
  uint64_t index;   // log index of the batch
  SmState& state;
  ClientRef client;  // who sent it (LOCKQ.AS); empty for scripts and internal commands
};

using CommandHandler = Reply (*)(CommandContext& ctx);
using CommandValidator = std::optional<Reply> (*)(const Argv& argv);
// The keys of a command whose keys first_key..last_key cannot describe
// (EVAL's numkeys, SET's FENCE lock), appended to *out. argv passed
// CheckCommand.
using AclKeysFn = void (*)(const Argv& argv, std::vector<AclKey>* out);

struct CommandDef {
  CommandSpec spec;
  CommandHandler handler;
  CommandValidator validate;  // nullptr: arity is the only stateless check
  AclKeysFn keys = nullptr;   // nullptr: spec.first_key..last_key, spec.key_access
};

// Case-insensitive lookup; nullptr when unknown.
const CommandDef* FindCommandDef(std::string_view name);
// Every row, in table order.
const std::vector<CommandDef>& CommandDefs();

// Unknown command, arity and validate(). `allow_internal` false makes
// kCmdInternal commands look unknown (a client must not learn they exist).
std::optional<Reply> CheckCommand(const Argv& argv, bool allow_internal);
// For wrappers (LOCKQ.USER, LOCKQ.AMQP): argv[first] names a command a
// wrapper may carry, a client command or LOCKQ.AS (which checks its own
// inner command); the wrapped command's arity and options are checked when
// Dispatch runs it. No copy of argv: wrappers carry every client command.
std::optional<Reply> CheckWrapped(const Argv& argv, size_t first);
// Redis arity convention: N exact, -N at least N (name included).
bool ArityOk(int arity, size_t argc);
// CheckCommand(argv, true), then, for a client command (not kCmdInternal),
// the ACL check of state.acting_user (acl_check.h), then the handler. `client` is who sent it, when
// known (kCmdClientRef commands wrapped in LOCKQ.AS).
Reply Dispatch(SmState& state, const Argv& argv, uint64_t index, const ClientRef& client = {});

// Family registration, one per file.
void AddKvFamily(std::vector<CommandDef>* table);
void AddKeysFamily(std::vector<CommandDef>* table);
void AddExpireFamily(std::vector<CommandDef>* table);
void AddInternalFamily(std::vector<CommandDef>* table);
void AddScriptFamily(std::vector<CommandDef>* table);
void AddLockFamily(std::vector<CommandDef>* table);
void AddSignKeyFamily(std::vector<CommandDef>* table);
void AddSessionFamily(std::vector<CommandDef>* table);
void AddElectFamily(std::vector<CommandDef>* table);
void AddQueueFamily(std::vector<CommandDef>* table);
void AddAclFamily(std::vector<CommandDef>* table);
void AddVhostFamily(std::vector<CommandDef>* table);

// Key extractors of rows (acl_check.cc).
void AclEvalKeys(const Argv& argv, std::vector<AclKey>* out);
void AclSetKeys(const Argv& argv, std::vector<AclKey>* out);

}  // namespace lockq::sm
