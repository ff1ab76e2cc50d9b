#include "sm/acl_check.h"

#include "common/strings.h"
#include "sm/command_table.h"
#include "sm/sm_state.h"

namespace lockq::sm {

namespace {

bool HasSubcommands(std::string_view upper_name) {
  return upper_name == "ACL" || upper_name == "CLIENT" || upper_name == "CONFIG" || upper_name == "COMMAND" ||
         upper_name == "SCRIPT" || upper_name == "LOCKQ.CLUSTER";
}

// @read, @write, @fast, @slow, @admin, @dangerous from the row's flags,
// as Redis derives them (src/server.c setImplicitACLCategories).
uint32_t ImplicitCategories(uint32_t flags) {
  uint32_t c = 0;
  if (flags & kCmdWrite) c |= kAclWrite;
  if (flags & kCmdReadOnly) c |= kAclRead;
  if (flags & kCmdAdmin) c |= kAclAdmin | kAclDangerous;
  c |= (flags & kCmdFast) ? kAclFast : kAclSlow;
  return c;
}

// True when the user may run anything on any key: the default user of a
// fresh server. Skips the per-key work on the hot path.
bool Unrestricted(const AclUser& u) {
  if (u.command_rules.size() != 1 || u.command_rules[0] != "+@all") return false;
  for (const KeyPattern& k : u.keys) {
    if (k.pattern == "*" && k.access == kKeyReadWrite) return true;
  }
  return false;
}

}  // namespace

namespace {

// A command's rows, looked up once per check (FindCommandDef upper-cases).
struct Lookup {
  const CommandDef* def = nullptr;
  const FrontEndCommand* fe = nullptr;
  std::string_view upper;  // the table's (upper case) name; empty when unknown
};

Lookup LookupCommand(const Argv& argv) {
  Lookup l;
  if ((l.def = FindCommandDef(argv[0])) != nullptr) {
    l.upper = l.def->spec.name;
  } else if ((l.fe = FindFrontEndCommand(argv[0])) != nullptr) {
    l.upper = l.fe->name;
  }
  return l;
}

std::string SubcommandOf(const Lookup& l, const Argv& argv) {
  if (argv.size() < 2 || !HasSubcommands(l.upper)) return {};
  return ToUpper(argv[1]);
}

uint32_t CategoriesOf(const Lookup& l, const std::string& sub) {
  if (!sub.empty()) {
    if (auto c = SubcommandCategories(l.upper, sub)) return *c;
  }
  if (l.def != nullptr) return l.def->spec.acl_categories | ImplicitCategories(l.def->spec.flags);
  if (l.fe != nullptr) return l.fe->categories;
  return 0;
}

}  // namespace

std::string AclSubcommand(const Argv& argv) {
  std::string name = ToUpper(argv[0]);
  if (argv.size() < 2 || !HasSubcommands(name)) return {};
  return ToUpper(argv[1]);
}

std::string AclCommandName(const Argv& argv) {
  std::string sub = AclSubcommand(argv);
  return sub.empty() ? ToLower(argv[0]) : ToLower(argv[0]) + "|" + ToLower(sub);
}

uint32_t AclCategoriesOf(const Argv& argv) {
  Lookup l = LookupCommand(argv);
  return CategoriesOf(l, SubcommandOf(l, argv));
}

void AclKeysOf(const Argv& argv, std::vector<AclKey>* out) {
  if (const CommandDef* def = FindCommandDef(argv[0])) {
    if (def->keys != nullptr) {
      def->keys(argv, out);
      return;
    }
    const CommandSpec& s = def->spec;
    if (s.first_key <= 0 || s.key_step <= 0) return;
    int argc = static_cast<int>(argv.size());
    int last = s.last_key < 0 ? argc + s.last_key : s.last_key;
    for (int i = s.first_key; i <= last && i < argc; i += s.key_step) out->push_back({argv[i], s.key_access});
    return;
  }
  if (const FrontEndCommand* fe = FindFrontEndCommand(argv[0])) {
    if (fe->key_pos > 0 && static_cast<size_t>(fe->key_pos) < argv.size()) {
      out->push_back({argv[fe->key_pos], kKeyRead});
    }
  }
}

// EVAL script numkeys key... arg...: every key read and written (Redis's
// key spec for EVAL is RW ACCESS UPDATE); redis.call() checks each call.
void AclEvalKeys(const Argv& argv, std::vector<AclKey>* out) {
  auto n = ParseInt64(argv[2]);
  if (!n || *n < 0 || static_cast<uint64_t>(*n) > argv.size() - 3) return;
  bool ro = ToUpper(argv[0]).ends_with("_RO");
  for (size_t i = 3; i < 3 + static_cast<size_t>(*n); i++) {
    out->push_back({argv[i], ro ? kKeyRead : kKeyReadWrite});
  }
}

// SET key value ... [FENCE lock token]: W on the key, R on the lock
// (WAVE2.md A.1 spec 5).
void AclSetKeys(const Argv& argv, std::vector<AclKey>* out) {
  out->push_back({argv[1], kKeyWrite});
  for (size_t i = 3; i + 2 < argv.size(); i++) {
    if (EqualsIgnoreCase(argv[i], "FENCE")) {
      out->push_back({argv[i + 1], kKeyRead});
      return;
    }
  }
}

std::string AclCommandDenied(std::string_view user, std::string_view command) {
  return "User " + std::string(user) + " has no permissions to run the '" + std::string(command) + "' command";
}

std::optional<AclDenial> AclCheck(const AclUser& user, const Argv& argv) {
  if (Unrestricted(user)) return std::nullopt;
  Lookup l = LookupCommand(argv);
  if (l.def != nullptr && (l.def->spec.flags & kCmdAclExempt)) return std::nullopt;
  std::string sub = SubcommandOf(l, argv);
  if (!AclAllowsCommand(user, argv[0], sub, CategoriesOf(l, sub))) {
    std::string name = AclCommandName(argv);
    return AclDenial{AclDenial::Reason::kCommand, name, AclCommandDenied(user.name, name)};
  }
  auto denied = [](std::string_view key) {
    return AclDenial{AclDenial::Reason::kKey, std::string(key), std::string(kAclKeyDenied)};
  };
  if (l.def != nullptr && l.def->keys == nullptr) {  // the common case: no vector
    const CommandSpec& s = l.def->spec;
    if (s.first_key <= 0 || s.key_step <= 0) return std::nullopt;
    int argc = static_cast<int>(argv.size());
    int last = s.last_key < 0 ? argc + s.last_key : s.last_key;
    for (int i = s.first_key; i <= last && i < argc; i += s.key_step) {
      if (!AclAllowsKey(user, argv[i], s.key_access)) return denied(argv[i]);
    }
    return std::nullopt;
  }
  std::vector<AclKey> keys;
  AclKeysOf(argv, &keys);
  for (const AclKey& k : keys) {
    if (!AclAllowsKey(user, k.key, k.access)) return denied(k.key);
  }
  return std::nullopt;
}

std::optional<AclDenial> AclCheckActing(const SmState& state, const Argv& argv) {
  std::string_view name = state.acting_user.empty() ? std::string_view("default") : state.acting_user;
  const AclUser* user = state.acl.Find(name);
  if (user == nullptr) {
    // Deleted between the front end's check and this entry: every replica
    // sees the same deletion at the same index, so the answer is the same.
    std::string cmd = AclCommandName(argv);
    return AclDenial{AclDenial::Reason::kCommand, cmd, AclCommandDenied(name, cmd)};
  }
  return AclCheck(*user, argv);
}

}  // namespace lockq::sm
