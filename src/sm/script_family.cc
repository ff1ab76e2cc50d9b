// Lua scripting commands (compare Redis src/eval.c): EVAL, EVALSHA, their
// read-only variants and SCRIPT LOAD/EXISTS/FLUSH/KILL. The script cache
// (script_cache.h) is replicated state: these are log commands like any
// other, so every replica caches the same scripts. Execution is in
// lua_engine.cc; docs/scripting.md describes the sandbox.
//
//   EVAL script numkeys key... arg...      runs and caches the script
//   EVALSHA sha1 numkeys key... arg...     runs a cached script, or NOSCRIPT
//   EVAL_RO / EVALSHA_RO                   same, refusing write commands
//   SCRIPT LOAD script                     caches it; the sha1 (bulk)
//   SCRIPT EXISTS sha1...                  array of 0/1
//   SCRIPT FLUSH [ASYNC|SYNC]              empties the cache (both are sync)
//   SCRIPT KILL                            NOTBUSY: a script never outlives
//                                          the Apply() that runs it

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/lua_engine.h"
#include "sm/parse.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

// Redis 7 evalGetKeys()/evalGenericCommand(): numkeys is argv[2].
std::optional<Reply> ParseNumKeys(const Argv& argv, size_t* numkeys) {
  int64_t n;
  if (!ParseInt64(argv[2], &n)) return Err(errors::kNotInteger);
  if (n > static_cast<int64_t>(argv.size() - 3)) return Err(errors::kNumKeysTooBig);
  if (n < 0) return Err(errors::kNumKeysNegative);
  *numkeys = static_cast<size_t>(n);
  return std::nullopt;
}

std::optional<Reply> ValidateEval(const Argv& argv) {
  size_t numkeys;
  return ParseNumKeys(argv, &numkeys);
}

// Caches `body` under `sha` unless it is there; compiles it first so a
// script that cannot compile is never cached (Redis luaCreateFunction).
std::optional<Reply> CacheScript(SmState& state, const std::string& sha, std::string_view body) {
  if (state.scripts.Find(sha) != nullptr) return std::nullopt;
  if (std::optional<Reply> err = CompileScript(state, sha, body)) return err;
  if (!state.scripts.Add(sha, body)) return Err(errors::kScriptCacheFull);
  return std::nullopt;
}

Reply EvalGeneric(CommandContext& ctx, bool by_sha, bool read_only) {
  const Argv& argv = ctx.argv;
  size_t numkeys;
  if (std::optional<Reply> err = ParseNumKeys(argv, &numkeys)) return *err;
  std::string sha;
  const std::string* body;
  if (by_sha) {
    // Redis lower-cases the digest and treats any other length as unknown.
    sha = ToLower(argv[1]);
    body = sha.size() == 40 ? ctx.state.scripts.Find(sha) : nullptr;
    if (body == nullptr) return Err(errors::kNoScript);
  } else {
    sha = Sha1Hex(argv[1]);
    if (std::optional<Reply> err = CacheScript(ctx.state, sha, argv[1])) return *err;
    body = &argv[1];
  }
  ScriptCall call;
  call.body = *body;
  call.sha = sha;
  call.read_only = read_only;
  for (size_t i = 3; i < argv.size(); i++) {
    (i < 3 + numkeys ? call.keys : call.args).push_back(argv[i]);
  }
  return RunScript(ctx.state, ctx.index, call);
}

Reply EvalCommand(CommandContext& ctx) { return EvalGeneric(ctx, false, false); }
Reply EvalShaCommand(CommandContext& ctx) { return EvalGeneric(ctx, true, false); }
Reply EvalRoCommand(CommandContext& ctx) { return EvalGeneric(ctx, false, true); }
Reply EvalShaRoCommand(CommandContext& ctx) { return EvalGeneric(ctx, true, true); }

// SCRIPT's subcommands: stateless syntax, shared by validate and handler.
std::optional<Reply> ValidateScript(const Argv& argv) {
  std::string sub = ToUpper(argv[1]);
  size_t argc = argv.size();
  bool arity_ok;
  if (sub == "LOAD") {
    arity_ok = argc == 3;
  } else if (sub == "EXISTS") {
    arity_ok = argc >= 3;
  } else if (sub == "FLUSH") {
    arity_ok = argc <= 3;
    if (arity_ok && argc == 3 && !EqualsIgnoreCase(argv[2], "ASYNC") &&
        !EqualsIgnoreCase(argv[2], "SYNC")) {
      return Err(errors::kScriptFlushOption);
    }
  } else if (sub == "KILL") {
    arity_ok = argc == 2;
  } else {
    return Reply::Error(errors::UnknownSubcommand("SCRIPT", argv[1]));
  }
  if (!arity_ok) return Reply::Error(errors::WrongArity("SCRIPT|" + sub));
  return std::nullopt;
}

Reply ScriptCommand(CommandContext& ctx) {
  if (std::optional<Reply> err = ValidateScript(ctx.argv)) return *err;
  std::string sub = ToUpper(ctx.argv[1]);
  if (sub == "LOAD") {
    std::string sha = Sha1Hex(ctx.argv[2]);
    if (std::optional<Reply> err = CacheScript(ctx.state, sha, ctx.argv[2])) return *err;
    return Reply::Bulk(std::move(sha));
  }
  if (sub == "EXISTS") {
    // As Redis: a plain lookup, so an upper-case digest is not found.
    std::vector<Reply> found;
    for (size_t i = 2; i < ctx.argv.size(); i++) {
      found.push_back(Reply::Int(ctx.state.scripts.Find(ctx.argv[i]) != nullptr ? 1 : 0));
    }
    return Reply::Array(std::move(found));
  }
  if (sub == "FLUSH") {
    ctx.state.scripts.Clear();
    ctx.state.lua.Reset();  // and the compiled chunks, as Redis resets its Lua state
    return Reply::Ok();
  }
  return Err(errors::kNotBusy);  // KILL
}

}  // namespace

void AddScriptFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdNoScript;
  // EVAL_RO only reads keys; it may still add its script to the cache.
  constexpr uint32_t kR = kCmdReadOnly | kCmdNoScript;
  t->insert(t->end(), {
      {{"EVAL", -3, kW, 0, 0, 0, kAclScripting, kKeyReadWrite}, EvalCommand, ValidateEval, AclEvalKeys},
      {{"EVALSHA", -3, kW, 0, 0, 0, kAclScripting, kKeyReadWrite}, EvalShaCommand, ValidateEval, AclEvalKeys},
      {{"EVAL_RO", -3, kR, 0, 0, 0, kAclScripting, kKeyRead}, EvalRoCommand, ValidateEval, AclEvalKeys},
      {{"EVALSHA_RO", -3, kR, 0, 0, 0, kAclScripting, kKeyRead}, EvalShaRoCommand, ValidateEval, AclEvalKeys},
      {{"SCRIPT", -2, kW, 0, 0, 0, kAclScripting, kKeyAny}, ScriptCommand, ValidateScript},
  });
}

}  // namespace lockq::sm
