#pragma once
// ACL categories and key access (docs/security.md "Users and permissions").
//
// Redis 7's 21 categories plus lockq's @lock and @queue, as bits. A command
// row (command_table.h) declares its family categories; @read, @write,
// @fast, @slow, @admin and @dangerous follow from its flags, as Redis
// derives them from its command flags (AclCategoriesOf). Commands the RESP
// front end answers itself (PING, CLIENT, AUTH, ACL WHOAMI, LOCKQ.CLUSTER,
// ...) are described here too (FrontEndCommands), so a rule such as
// `+client` is validated and checked the same way on every node.
//
// Key access comes from a command's key positions and flags (Redis key
// specs, WAVE2.md A.1): insert/update/delete -> W, access -> R, neither ->
// R or W is enough (EXISTS, TYPE).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/argv.h"

namespace lockq::sm {

enum AclCategory : uint32_t {
  kAclKeyspace = 1u << 0,
  kAclRead = 1u << 1,
  kAclWrite = 1u << 2,
  kAclSet = 1u << 3,
  kAclSortedSet = 1u << 4,
  kAclList = 1u << 5,
  kAclHash = 1u << 6,
  kAclString = 1u << 7,
  kAclBitmap = 1u << 8,
  kAclHyperLogLog = 1u << 9,
  kAclGeo = 1u << 10,
  kAclStream = 1u << 11,
  kAclPubSub = 1u << 12,
  kAclAdmin = 1u << 13,
  kAclFast = 1u << 14,
  kAclSlow = 1u << 15,
  kAclBlocking = 1u << 16,
  kAclDangerous = 1u << 17,
  kAclConnection = 1u << 18,
  kAclTransaction = 1u << 19,
  kAclScripting = 1u << 20,
  kAclLock = 1u << 21,   // lockq: LOCK.*, SESSION.*, ELECT.*
  kAclQueue = 1u << 22,  // lockq: Q.*, X.*
};
inline constexpr uint32_t kAclAllCategories = (1u << 23) - 1;

// Key access a command needs on one key.
enum AclKeyAccess : uint8_t {
  kKeyAny = 0,        // R or W is enough (EXISTS)
  kKeyRead = 1 << 0,  // %R~
  kKeyWrite = 1 << 1, // %W~
  kKeyReadWrite = kKeyRead | kKeyWrite,
};

struct AclKey {
  std::string_view key;  // points into the command's argv
  uint8_t access;
};

// The category names in bit order ("keyspace", "read", ..., "queue").
const std::vector<std::string_view>& AclCategoryNames();
// "read" -> kAclRead (case-insensitive, without '@'); nullopt if unknown.
std::optional<uint32_t> AclCategoryByName(std::string_view name);

// One command the RESP front end answers without the log.
struct FrontEndCommand {
  std::string_view name;  // upper case
  uint32_t categories;
  // Key position (1-based) of its one key, 0 when none; access kKeyRead.
  int key_pos;
};
const std::vector<FrontEndCommand>& FrontEndCommands();
const FrontEndCommand* FindFrontEndCommand(std::string_view name);

// Subcommands whose categories differ from their command's (Redis: ACL
// WHOAMI, CAT, GENPASS, LOG are not all @admin). `sub` upper case.
std::optional<uint32_t> SubcommandCategories(std::string_view command, std::string_view sub);

}  // namespace lockq::sm
