// Grant signing keys (docs/locks.md "Signed grants"):
//
//   LOCK.SIGNKEY ROTATE [KEY hex]   -> id   a new key signs; the old one only verifies
//   LOCK.SIGNKEY ADD [KEY hex]      -> id   a new key that only verifies (staged)
//   LOCK.SIGNKEY ACTIVATE id        -> OK   id signs; the old one only verifies
//   LOCK.SIGNKEY RETIRE id          -> OK   id stops signing (still verifies)
//   LOCK.SIGNKEY REMOVE id          -> OK   id is gone: its grants no longer verify
//   LOCK.SIGNKEY LIST               -> [{id, state, created_ms}, ...]
//   LOCK.SIGNKEY EXPORT             -> the keys file (lockq/grant.h), secrets included
//
// KEY is required at apply time: lockqd's front end adds a random one
// (NewGrantKeySecret) before proposing when the client gave none, so apply
// never reads a random source (STYLE.md habit 1). An operator may give KEY
// to import a key, e.g. one shared with another cluster.

#include <optional>
#include <string>

#include "common/hex.h"
#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/parse.h"
#include "sm/sign_keys.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

enum class Sub { kRotate, kAdd, kActivate, kRetire, kRemove, kList, kExport };

struct SignKeyArgs {
  Sub sub = Sub::kList;
  uint64_t id = 0;
  std::optional<std::string> secret;  // ROTATE / ADD with KEY
};

std::optional<Reply> ParseSecret(const Argv& argv, SignKeyArgs* a) {
  if (argv.size() == 2) return std::nullopt;
  if (argv.size() != 4 || !EqualsIgnoreCase(argv[2], "KEY")) return Err(errors::kSyntax);
  std::string secret;
  if (!HexDecode(argv[3], &secret) || secret.size() != kGrantKeyBytes) return Err(errors::kSignKeyBad);
  a->secret = std::move(secret);
  return std::nullopt;
}

std::optional<Reply> ParseSignKey(const Argv& argv, SignKeyArgs* a) {
  std::string_view sub = argv[1];
  struct Row {
    std::string_view name;
    Sub sub;
    bool takes_id;
  };
  static constexpr Row kSubs[] = {
      {"ROTATE", Sub::kRotate, false}, {"ADD", Sub::kAdd, false},       {"ACTIVATE", Sub::kActivate, true},
      {"RETIRE", Sub::kRetire, true},  {"REMOVE", Sub::kRemove, true},  {"LIST", Sub::kList, false},
      {"EXPORT", Sub::kExport, false},
  };
  for (const Row& row : kSubs) {
    if (!EqualsIgnoreCase(sub, row.name)) continue;
    a->sub = row.sub;
    if (row.sub == Sub::kRotate || row.sub == Sub::kAdd) return ParseSecret(argv, a);
    if (!row.takes_id) return argv.size() == 2 ? std::nullopt : std::optional<Reply>(Err(errors::kSyntax));
    if (argv.size() != 3) return Err(errors::kSyntax);
    if (!ParseUint64(argv[2], &a->id)) return Err(errors::kNotInteger);
    return std::nullopt;
  }
  return Err(errors::kSyntax);
}

std::optional<Reply> ValidateSignKey(const Argv& argv) {
  SignKeyArgs a;
  return ParseSignKey(argv, &a);
}

Reply ListReply(const SignKeys& keys) {
  std::vector<Reply> out;
  for (const auto& [id, key] : keys.map()) {
    out.push_back(Reply::Map({Reply::Bulk("id"), Reply::Int(static_cast<int64_t>(id)),
                              Reply::Bulk("state"),
                              Reply::Bulk(key.state == SignKeyState::kSigning ? "signing" : "verify"),
                              Reply::Bulk("created_ms"), Reply::Int(static_cast<int64_t>(key.created_ms))}));
  }
  return Reply::Array(std::move(out));
}

Reply SignKeyCommand(CommandContext& ctx) {
  SignKeyArgs a;
  if (auto err = ParseSignKey(ctx.argv, &a)) return *err;
  SignKeys& keys = ctx.state.locks.mutable_sign_keys();
  switch (a.sub) {
    case Sub::kRotate:
    case Sub::kAdd: {
      if (!a.secret) return Err(errors::kSignKeyMissing);
      uint64_t id = keys.Add(std::move(*a.secret), a.sub == Sub::kRotate, ctx.now_ms);
      if (id == 0) return Err(errors::kTooManySignKeys);
      return Reply::Int(static_cast<int64_t>(id));
    }
    case Sub::kActivate:
      return keys.Activate(a.id) ? Reply::Ok() : Err(errors::kSignKeyUnknown);
    case Sub::kRetire:
      return keys.Retire(a.id) ? Reply::Ok() : Err(errors::kSignKeyUnknown);
    case Sub::kRemove: {
      auto it = keys.map().find(a.id);
      if (it == keys.map().end()) return Err(errors::kSignKeyUnknown);
      if (it->second.state == SignKeyState::kSigning) return Err(errors::kSignKeyIsSigning);
      keys.Remove(a.id);
      return Reply::Ok();
    }
    case Sub::kList:
      return ListReply(keys);
    case Sub::kExport:
      return Reply::Bulk(FormatGrantKeys(keys.Export()));
  }
  return Err(errors::kSyntax);
}

}  // namespace

void AddSignKeyFamily(std::vector<CommandDef>* t) {
  // Admin: EXPORT returns secrets. No scripts: a script would have no KEY
  // to give, and must not read secrets either.
  t->push_back({{"LOCK.SIGNKEY", -2, kCmdWrite | kCmdAdmin | kCmdNoScript, 0, 0, 0, kAclLock}, SignKeyCommand,
                ValidateSignKey});
}

}  // namespace lockq::sm
