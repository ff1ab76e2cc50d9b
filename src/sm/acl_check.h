#pragma once
// Permission checks (WAVE2.md A.1): one code path for the front ends (fail
// fast, before proposing) and for Apply (the authority: the user's rights
// as of the entry's log index, the same on every replica).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/argv.h"
#include "sm/acl_user.h"

namespace lockq::sm {

struct SmState;

struct AclDenial {
  enum class Reason : uint8_t { kCommand, kKey };
  Reason reason;
  std::string object;   // the command's full name ("acl|setuser") or the key
  std::string message;  // after "NOPERM " (Redis 7 wording)
};

// The name Redis reports: "get", or "acl|setuser" for commands with
// subcommands. argv non-empty.
std::string AclCommandName(const Argv& argv);
// Upper-case subcommand for commands that have them (ACL, CLIENT, CONFIG,
// COMMAND, SCRIPT, LOCKQ.CLUSTER); empty otherwise.
std::string AclSubcommand(const Argv& argv);
// Categories of a state machine or front-end command (0 when unknown).
uint32_t AclCategoriesOf(const Argv& argv);
// The keys argv touches and the access each needs.
void AclKeysOf(const Argv& argv, std::vector<AclKey>* out);

// nullopt: `user` may run argv. argv names a known command with a valid
// arity (CheckCommand passed, or a front-end command).
std::optional<AclDenial> AclCheck(const AclUser& user, const Argv& argv);
// AclCheck for state.acting_user; a user that no longer exists is denied.
std::optional<AclDenial> AclCheckActing(const SmState& state, const Argv& argv);

// "User <u> has no permissions to run the '<cmd>' command"
std::string AclCommandDenied(std::string_view user, std::string_view command);
// An ACL-file line or LOCKQ.ACLBOOT line split on spaces and tabs.
std::vector<std::string_view> SplitAclLine(std::string_view line);

inline constexpr std::string_view kAclKeyDenied = "No permissions to access a key";

}  // namespace lockq::sm
