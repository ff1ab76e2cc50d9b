#pragma once
// One ACL user and Redis's rule grammar for it (WAVE2.md A.1; Redis
// `ACL SETUSER`). Part of the replicated state (acl_store.h): everything
// here is plain ordered data, so replicas' snapshots stay byte-identical.
//
// Commands are kept as the ordered list of command rules the user was
// given ("+@all", "-@dangerous", "+get", "+acl|whoami"), compacted: a rule
// replaces an earlier rule for the same name or category, and
// allcommands/nocommands start the list over. A command is allowed when
// the last rule that matches it is a '+'. That is what Redis's command
// bitmap computes, rule by rule, for a fixed command table.
//
// AMQP: per-vhost {configure, write, read} regexes (RabbitMQ's permissions,
// docs/security.md "AMQP"), set by LOCKQ.PERMISSIONS; `tags` (RabbitMQ
// management tags) are stored and snapshotted but unused; credential
// schemes besides sha256 are reserved.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sm/acl_categories.h"

namespace lockq::sm {

// Bounds: one user's lists, and names and patterns.
inline constexpr size_t kAclNameMax = 256;
inline constexpr size_t kAclPatternMax = 1024;
inline constexpr size_t kAclPasswordsMax = 64;
inline constexpr size_t kAclPatternsMax = 1024;
inline constexpr size_t kAclCommandRulesMax = 1024;

enum class CredentialScheme : uint8_t {
  kSha256 = 0,        // Redis: unsalted SHA-256, lowercase hex (">pw", "#hex")
  kRabbitSha256 = 1,  // reserved: RabbitMQ definitions (salt, SHA-256)
  kPbkdf2Sha256 = 2,  // reserved: human passwords (HTTP UI)
};
inline constexpr uint8_t kMaxCredentialScheme = 2;

struct Credential {
  CredentialScheme scheme = CredentialScheme::kSha256;
  std::string salt;      // empty for kSha256
  std::string hash_hex;  // 64 lowercase hex characters for kSha256
  uint32_t iterations = 0;
  auto operator<=>(const Credential&) const = default;
};

struct KeyPattern {
  uint8_t access = kKeyReadWrite;  // AclKeyAccess bits
  std::string pattern;             // Redis glob
  bool operator==(const KeyPattern&) const = default;
};

struct VhostPermissions {  // RabbitMQ's three regexes (AMQP); "" matches nothing
  std::string configure, write, read;
  bool operator==(const VhostPermissions&) const = default;
};

// RabbitMQ's topic permissions: for one exchange of one vhost, regexes on
// the routing key of a publish (write) and on the binding key of a bind
// (read), checked for topic exchanges only; no entry for an exchange
// means no restriction.
struct TopicPermissions {
  std::string write, read;
  bool operator==(const TopicPermissions&) const = default;
};
using TopicKey = std::pair<std::string, std::string>;  // (vhost, exchange)

struct AclUser {
  std::string name;
  bool enabled = false;
  bool nopass = false;
  std::set<Credential> credentials;
  std::vector<KeyPattern> keys;
  std::vector<std::string> channels;
  std::vector<std::string> command_rules;  // lower case, compacted (above)
  std::set<std::string> tags;                       // AMQP management tags (later)
  std::map<std::string, VhostPermissions> vhosts;   // AMQP permissions (LOCKQ.PERMISSIONS)
  std::map<TopicKey, TopicPermissions> topics;      // LOCKQ.PERMISSIONS TOPIC (snapshot v8)
  bool operator==(const AclUser&) const = default;
};

// `ACL SETUSER u` on a new user: off, no passwords, no keys, no channels,
// no commands (Redis 7: "off resetchannels -@all").
AclUser NewAclUser(std::string name);
// `user default on nopass ~* &* +@all`.
AclUser DefaultAclUser();

// Applies one rule to *user. On failure returns Redis's reason text (the
// part after "modifier '<rule>': ") and *user may be half changed: callers
// apply rules to a copy (ApplyAclRules).
std::optional<std::string> ApplyAclRule(AclUser* user, std::string_view rule);
// Applies every rule to a copy and commits only when all succeed; returns
// the whole error line ("ERR Error in ACL SETUSER modifier '...': ...").
std::optional<std::string> ApplyAclRules(AclUser* user, const std::vector<std::string_view>& rules);

// "user <name> <flags> <#hash...> <keys> <channels> <commands>" (ACL LIST,
// ACL-file syntax).
std::string DescribeAclUser(const AclUser& user);
std::string AclKeysString(const AclUser& user);
std::string AclChannelsString(const AclUser& user);
std::string AclCommandsString(const AclUser& user);

// Checks. `command` and `sub` upper case (sub empty when none);
// `categories` the command's, AclCategoriesOf().
bool AclAllowsCommand(const AclUser& user, std::string_view command, std::string_view sub, uint32_t categories);
bool AclAllowsKey(const AclUser& user, std::string_view key, uint8_t access);
// nopass, or a stored credential matches. Constant time in the password
// for each stored hash.
bool AclCheckPassword(const AclUser& user, std::string_view password);

// The AMQP permissions of `user` in `vhost`: its entry for the vhost; or,
// when the user has no entries at all and its command rules are exactly
// +@all (as `default` has: a superuser), ".*" for all three in every
// vhost, so that clients that worked before users existed work unchanged.
// nullopt: the vhost is refused.
std::optional<VhostPermissions> AclVhostPermissions(const AclUser& user, std::string_view vhost);
// Bounds for LOCKQ.PERMISSIONS.
inline constexpr size_t kAclVhostsMax = 1024;

// ">pw" -> "#sha256(pw)", "<pw" -> "!sha256(pw)"; other rules unchanged.
// Front ends rewrite ACL SETUSER this way before proposing, and the ACL
// file is read this way, so cleartext passwords never reach the log.
std::string HashCleartextRule(std::string_view rule);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Valid user names: 1..kAclNameMax bytes, no spaces or NULs (Redis).
bool ValidAclUserName(std::string_view name);

}  // namespace lockq::sm
