#include "sm/acl_categories.h"

#include "common/strings.h"

namespace lockq::sm {

const std::vector<std::string_view>& AclCategoryNames() {
  static const std::vector<std::string_view> kNames = {
      "keyspace", "read",       "write",  "set",   "sortedset", "list",      "hash",        "string",
      "bitmap",   "hyperloglog", "geo",   "stream", "pubsub",   "admin",     "fast",        "slow",
      "blocking", "dangerous",  "connection", "transaction", "scripting", "lock", "queue"};
  return kNames;
}

std::optional<uint32_t> AclCategoryByName(std::string_view name) {
  const auto& names = AclCategoryNames();
  for (size_t i = 0; i < names.size(); i++) {
    if (EqualsIgnoreCase(names[i], name)) return 1u << i;
  }
  return std::nullopt;
}

const std::vector<FrontEndCommand>& FrontEndCommands() {
  constexpr uint32_t kConnFast = kAclFast | kAclConnection;
  constexpr uint32_t kAdminSlow = kAclAdmin | kAclSlow | kAclDangerous;
  static const std::vector<FrontEndCommand> kTable = {
      {"PING", kConnFast, 0},
      {"ECHO", kConnFast, 0},
      {"HELLO", kConnFast, 0},
      {"AUTH", kConnFast, 0},
      {"SELECT", kConnFast, 0},
      {"QUIT", kConnFast, 0},
      {"RESET", kConnFast, 0},
      {"CLIENT", kAclSlow | kAclConnection, 0},
      {"COMMAND", kAclSlow | kAclConnection, 0},
      {"CONFIG", kAdminSlow, 0},
      {"INFO", kAclSlow | kAclDangerous, 0},
      {"LOCKQ.CLUSTER", kAdminSlow, 0},
      {"ELECT.OBSERVE", kAclLock | kAclRead | kAclSlow, 1},
      {"ELECT.UNOBSERVE", kAclLock | kAclRead | kAclFast, 1},
  };
  return kTable;
}

const FrontEndCommand* FindFrontEndCommand(std::string_view name) {
  for (const FrontEndCommand& c : FrontEndCommands()) {
    if (EqualsIgnoreCase(c.name, name)) return &c;
  }
  return nullptr;
}

std::optional<uint32_t> SubcommandCategories(std::string_view command, std::string_view sub) {
  if (EqualsIgnoreCase(command, "ACL")) {
    if (sub == "WHOAMI" || sub == "CAT" || sub == "GENPASS") return kAclSlow;
    return std::nullopt;  // the row's @admin @slow @dangerous
  }
  if (EqualsIgnoreCase(command, "CLIENT")) {
    if (sub == "LIST" || sub == "KILL") return kAclAdmin | kAclSlow | kAclDangerous | kAclConnection;
  }
  return std::nullopt;
}

}  // namespace lockq::sm
