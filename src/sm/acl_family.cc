// ACL commands that change or read the replicated user store, and the two
// internal commands that carry users through the log
// (docs/security.md "Users and permissions"; WAVE2.md A.1).
//
//   ACL SETUSER name [rule...]    -> OK (incremental, as Redis)
//   ACL DELUSER name [name...]    -> count; emits a kChange event on
//                                    kAclUserDeletedTopic per deleted user,
//                                    so every node closes its connections
//                                    of that user
//   ACL GETUSER name              -> map (flags, passwords, commands, keys,
//                                    channels, selectors) or nil
//   ACL LIST / ACL USERS          -> descriptions / names
//   ACL DRYRUN name cmd [arg...]  -> OK or the denial text (bulk)
//   ACL CAT [category]            -> category names / commands in it
// WHOAMI, LOG and GENPASS are per connection or per node: the RESP front
// end answers them (server/resp/acl_commands.cc).
//
// AMQP permissions (LOCKQ.PERMISSIONS) are in vhost_family.cc.
//
// Internal (kCmdInternal | kCmdPeer: a follower forwards them):
//
//   LOCKQ.USER name cmd [arg...]  runs cmd (a client command, or LOCKQ.AS
//                                 wrapping one) as user `name`: its
//                                 permissions are checked as of this
//                                 entry's index. Unwrapped client commands
//                                 run as "default".
//   LOCKQ.ACLBOOT [line...]       the leader's users from --aclfile and
//                                 --requirepass; each line is
//                                 "name rule rule..." applied in order to
//                                 a store reset to the default user. Does
//                                 nothing (Int 0) when the store's
//                                 boot_digest already is SHA-256 of the
//                                 lines joined by '\n' (Int 1 otherwise).

#include <string>

#include "common/strings.h"
#include "sm/acl_check.h"
#include "sm/command_table.h"
#include "sm/errors.h"

namespace lockq::sm {

namespace {

constexpr std::string_view kErrBadUserName = "ERR Usernames can't contain spaces or null characters";
constexpr std::string_view kErrDeleteDefault = "ERR The 'default' user cannot be removed";
constexpr std::string_view kErrTooManyUsers = "ERR too many ACL users (10000)";

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

std::vector<std::string_view> Tail(const Argv& argv, size_t from) {
  return std::vector<std::string_view>(argv.begin() + static_cast<std::ptrdiff_t>(from), argv.end());
}

Reply SetUser(CommandContext& ctx) {
  const std::string& name = ctx.argv[2];
  if (!ValidAclUserName(name)) return Err(kErrBadUserName);
  const AclUser* existing = ctx.state.acl.Find(name);
  AclUser user = existing ? *existing : NewAclUser(name);
  if (auto err = ApplyAclRules(&user, Tail(ctx.argv, 3))) return Reply::Error(*err);
  if (!ctx.state.acl.Put(std::move(user))) return Err(kErrTooManyUsers);
  ctx.state.acl.BumpEpoch();
  return Reply::Ok();
}

void EmitDeleted(CommandContext& ctx, const std::string& name) {
  ctx.state.events.push_back(Event{Event::Kind::kChange, {}, std::string(kAclUserDeletedTopic), Reply::Bulk(name)});
}

Reply DelUser(CommandContext& ctx) {
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    if (ctx.argv[i] == "default") return Err(kErrDeleteDefault);
  }
  int64_t n = 0;
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    if (!ctx.state.acl.Erase(ctx.argv[i])) continue;
    n++;
    EmitDeleted(ctx, ctx.argv[i]);
  }
  if (n > 0) ctx.state.acl.BumpEpoch();
  return Reply::Int(n);
}

Reply GetUser(CommandContext& ctx) {
  const AclUser* u = ctx.state.acl.Find(ctx.argv[2]);
  if (u == nullptr) return Reply::Null();
  std::vector<Reply> flags{Reply::Bulk(u->enabled ? "on" : "off")};
  if (u->nopass) flags.push_back(Reply::Bulk("nopass"));
  std::vector<Reply> passwords;
  for (const Credential& c : u->credentials) {
    if (c.scheme == CredentialScheme::kSha256) passwords.push_back(Reply::Bulk(c.hash_hex));
  }
  return Reply::Map({Reply::Bulk("flags"), Reply::Array(std::move(flags)), Reply::Bulk("passwords"),
                     Reply::Array(std::move(passwords)), Reply::Bulk("commands"), Reply::Bulk(AclCommandsString(*u)),
                     Reply::Bulk("keys"), Reply::Bulk(AclKeysString(*u)), Reply::Bulk("channels"),
                     Reply::Bulk(AclChannelsString(*u)), Reply::Bulk("selectors"), Reply::Array({})});
}

Reply ListUsers(CommandContext& ctx, bool describe) {
  std::vector<Reply> out;
  for (const auto& [name, u] : ctx.state.acl.users()) {
    out.push_back(Reply::Bulk(describe ? DescribeAclUser(u) : name));
  }
  return Reply::Array(std::move(out));
}

Reply DryRun(CommandContext& ctx) {
  const AclUser* u = ctx.state.acl.Find(ctx.argv[2]);
  if (u == nullptr) return Reply::Error("ERR User '" + ctx.argv[2] + "' not found");
  Argv cmd(ctx.argv.begin() + 3, ctx.argv.end());
  const CommandDef* def = FindCommandDef(cmd[0]);
  bool known = (def != nullptr && !(def->spec.flags & kCmdInternal)) || FindFrontEndCommand(cmd[0]) != nullptr;
  if (!known) return Reply::Error("ERR Command '" + ToLower(cmd[0]) + "' not found");
  if (def != nullptr && !ArityOk(def->spec.arity, cmd.size())) return Reply::Error(errors::WrongArity(def->spec.name));
  if (auto denied = AclCheck(*u, cmd)) return Reply::Bulk(denied->message);
  return Reply::Ok();
}

Reply Cat(CommandContext& ctx) {
  std::vector<Reply> out;
  if (ctx.argv.size() == 2) {
    for (std::string_view n : AclCategoryNames()) out.push_back(Reply::Bulk(std::string(n)));
    return Reply::Array(std::move(out));
  }
  auto cat = AclCategoryByName(ctx.argv[2]);
  if (!cat) return Reply::Error("ERR Unknown category '" + ctx.argv[2] + "'");
  for (const CommandDef& def : CommandDefs()) {
    if (!(def.spec.flags & kCmdInternal) && (AclCategoriesOf({std::string(def.spec.name)}) & *cat)) {
      out.push_back(Reply::Bulk(ToLower(def.spec.name)));
    }
  }
  for (const FrontEndCommand& fe : FrontEndCommands()) {
    if (fe.categories & *cat) out.push_back(Reply::Bulk(ToLower(fe.name)));
  }
  return Reply::Array(std::move(out));
}

// The rules that fail whatever the user holds (syntax, unknown names,
// bad hashes), found before proposing. Removals (`<pw`, `!hash`) depend on
// the user and are left to apply.
std::optional<Reply> ValidateSetUser(const Argv& argv) {
  if (!ValidAclUserName(argv[2])) return Err(kErrBadUserName);
  std::vector<std::string_view> rules;
  for (size_t i = 3; i < argv.size(); i++) {
    if (!argv[i].empty() && argv[i][0] != '<' && argv[i][0] != '!') rules.push_back(argv[i]);
  }
  AclUser scratch = NewAclUser(argv[2]);
  if (auto err = ApplyAclRules(&scratch, rules)) return Reply::Error(*err);
  return std::nullopt;
}

std::optional<Reply> ValidateAcl(const Argv& argv) {
  std::string sub = ToUpper(argv[1]);
  size_t n = argv.size();
  bool ok = (sub == "SETUSER" && n >= 3) || (sub == "DELUSER" && n >= 3) || (sub == "GETUSER" && n == 3) ||
            ((sub == "LIST" || sub == "USERS") && n == 2) || (sub == "DRYRUN" && n >= 4) ||
            (sub == "CAT" && n <= 3);
  if (!ok) {
    return Reply::Error("ERR unknown subcommand or wrong number of arguments for '" + argv[1] + "'. Try ACL HELP.");
  }
  if (sub == "SETUSER") return ValidateSetUser(argv);
  return std::nullopt;
}

Reply AclCommand(CommandContext& ctx) {
  if (auto err = ValidateAcl(ctx.argv)) return *err;
  std::string sub = ToUpper(ctx.argv[1]);
  if (sub == "SETUSER") return SetUser(ctx);
  if (sub == "DELUSER") return DelUser(ctx);
  if (sub == "GETUSER") return GetUser(ctx);
  if (sub == "LIST") return ListUsers(ctx, /*describe=*/true);
  if (sub == "USERS") return ListUsers(ctx, /*describe=*/false);
  if (sub == "DRYRUN") return DryRun(ctx);
  return Cat(ctx);
}

// LOCKQ.USER: the wrapped command is a client command, or LOCKQ.AS (which
// checks its own inner command as a client's).
std::optional<Reply> ValidateUser(const Argv& argv) {
  if (!ValidAclUserName(argv[1])) return Err(kErrBadUserName);
  return CheckWrapped(argv, 2);
}

// Dispatch ran ValidateUser; the wrapped command is checked (arity, the
// user's permissions as of this entry) when it is dispatched.
Reply UserCommand(CommandContext& ctx) {
  Argv inner(ctx.argv.begin() + 2, ctx.argv.end());
  std::string saved = std::move(ctx.state.acting_user);
  ctx.state.acting_user = ctx.argv[1];
  Reply r = Dispatch(ctx.state, inner, ctx.index, ctx.client);
  ctx.state.acting_user = std::move(saved);
  return r;
}

Reply AclBootCommand(CommandContext& ctx) {
  std::string digest = AclBootDigest(std::vector<std::string>(ctx.argv.begin() + 1, ctx.argv.end()));
  if (digest == ctx.state.acl.boot_digest()) return Reply::Int(0);
  AclStore next = ctx.state.acl;
  next.Reset();
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    std::vector<std::string_view> words = SplitAclLine(ctx.argv[i]);
    if (words.empty() || !ValidAclUserName(words[0])) return Err(kErrBadUserName);
    const AclUser* existing = next.Find(words[0]);
    AclUser user = existing ? *existing : NewAclUser(std::string(words[0]));
    words.erase(words.begin());
    if (auto err = ApplyAclRules(&user, words)) return Reply::Error(*err);
    if (!next.Put(std::move(user))) return Err(kErrTooManyUsers);
  }
  for (const auto& [name, u] : ctx.state.acl.users()) {
    if (next.Find(name) == nullptr) EmitDeleted(ctx, name);
  }
  next.set_boot_digest(std::move(digest));
  next.BumpEpoch();
  ctx.state.acl = std::move(next);
  return Reply::Int(1);
}

}  // namespace

std::vector<std::string_view> SplitAclLine(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') i++;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

void AddAclFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kI = kCmdInternal | kCmdWrite;
  t->insert(t->end(), {
      // kCmdWrite (every row is write or read-only) makes ACL @write
      // besides Redis's @admin @slow @dangerous; WHOAMI, CAT and GENPASS
      // are @slow only (acl_categories.cc).
      {{"ACL", -2, kCmdWrite | kCmdAdmin | kCmdNoScript, 0, 0, 0, 0, kKeyAny}, AclCommand, ValidateAcl},
      {{"LOCKQ.USER", -3, kI | kCmdPeer | kCmdFast, 0, 0, 0, 0, kKeyAny}, UserCommand, ValidateUser},
      {{"LOCKQ.ACLBOOT", -1, kI, 0, 0, 0, 0, kKeyAny}, AclBootCommand, nullptr},
  });
}

}  // namespace lockq::sm
