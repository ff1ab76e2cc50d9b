#include "sm/command_table.h"

#include <algorithm>
#include <map>
#include <string>

#include "common/check.h"
#include "sm/acl_check.h"
#include "sm/amqp_access.h"
#include "sm/errors.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

// Longer names cannot be in the table.
constexpr size_t kCommandNameMax = 64;

// ASCII case-insensitive order: lookups need no upper-cased copy (every
// command, and every wrapper around it, is looked up several times).
struct CaseLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; i++) {
      char x = Upper(a[i]), y = Upper(b[i]);
      if (x != y) return x < y;
    }
    return a.size() < b.size();
  }
  static char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
};

struct Table {
  std::vector<CommandDef> rows;
  std::map<std::string_view, const CommandDef*, CaseLess> by_name;
};

const Table& GetTable() {
  static const Table* table = [] {
    auto* t = new Table;
    AddKvFamily(&t->rows);
    AddKeysFamily(&t->rows);
    AddExpireFamily(&t->rows);
    AddInternalFamily(&t->rows);
    AddScriptFamily(&t->rows);
    AddLockFamily(&t->rows);
    AddSignKeyFamily(&t->rows);
    AddSessionFamily(&t->rows);
    AddElectFamily(&t->rows);
    AddQueueFamily(&t->rows);
    AddAclFamily(&t->rows);
    AddVhostFamily(&t->rows);
    for (const CommandDef& def : t->rows) {
      LOCKQ_CHECK(def.spec.name.size() <= kCommandNameMax);
      LOCKQ_CHECK(ToUpper(def.spec.name) == def.spec.name);
      bool inserted = t->by_name.emplace(def.spec.name, &def).second;
      LOCKQ_CHECK(inserted);
    }
    return t;
  }();
  return *table;
}

}  // namespace

bool ArityOk(int arity, size_t argc) {
  return arity >= 0 ? argc == static_cast<size_t>(arity) : argc >= static_cast<size_t>(-arity);
}

const CommandDef* FindCommandDef(std::string_view name) {
  if (name.size() > kCommandNameMax) return nullptr;
  const Table& t = GetTable();
  auto it = t.by_name.find(name);
  return it == t.by_name.end() ? nullptr : it->second;
}

const std::vector<CommandDef>& CommandDefs() { return GetTable().rows; }

std::optional<Reply> CheckCommand(const Argv& argv, bool allow_internal) {
  if (argv.empty()) return Reply::Error(std::string(errors::kEmptyCommand));
  const CommandDef* def = FindCommandDef(argv[0]);
  if (def == nullptr || (!allow_internal && (def->spec.flags & kCmdInternal))) {
    return Reply::Error(errors::UnknownCommand(argv));
  }
  if (!ArityOk(def->spec.arity, argv.size())) {
    return Reply::Error(errors::WrongArity(def->spec.name));
  }
  if (def->validate != nullptr) return def->validate(argv);
  return std::nullopt;
}

std::optional<Reply> CheckWrapped(const Argv& argv, size_t first) {
  if (argv.size() <= first) return Reply::Error(std::string(errors::kEmptyCommand));
  const CommandDef* def = FindCommandDef(argv[first]);
  if (def == nullptr || ((def->spec.flags & kCmdInternal) && def->spec.name != std::string_view("LOCKQ.AS"))) {
    return Reply::Error(errors::UnknownCommand(Argv(argv.begin() + static_cast<ptrdiff_t>(first), argv.end())));
  }
  return std::nullopt;
}

Reply Dispatch(SmState& state, const Argv& argv, uint64_t index, const ClientRef& client) {
  if (std::optional<Reply> err = CheckCommand(argv, /*allow_internal=*/true)) return *err;
  const CommandDef* def = FindCommandDef(argv[0]);
  // The authority on permissions: the acting user's rights as of this log
  // index, so every replica gives the same answer (WAVE2.md A.4).
  // A command an AMQP connection sent (LOCKQ.AMQP set the vhost) is
  // checked against RabbitMQ's table instead (amqp_access.h).
  if (!(def->spec.flags & kCmdInternal)) {
    if (!state.acting_vhost.empty()) {
      if (auto denied = AmqpCommandDenied(state, state.acting_user, state.acting_vhost, argv)) {
        return Reply::Error(*denied);
      }
    } else if (std::optional<AclDenial> denied = AclCheckActing(state, argv)) {
      return Reply::Error("NOPERM " + denied->message);
    }
  }
  CommandContext ctx{argv, state.now_ms, index, state, client};
  return def->handler(ctx);
}

}  // namespace lockq::sm
