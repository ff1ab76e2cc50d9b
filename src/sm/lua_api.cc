// The `redis` table scripts call (redis.call, pcall, sha1hex, error_reply,
// status_reply, log, ...) and the sandboxed standard libraries (a seeded
// math.random, no os/io/load/require), for the engine in lua_engine.cc
// (lua_vm.h).

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "sm/command_table.h"
#include "sm/acl_check.h"
#include "sm/errors.h"
#include "sm/lua_convert.h"
#include "sm/lua_vm.h"
#include "sm/parse.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

// ---- the redis table ---------------------------------------------------------

// Our C functions run with the memory limit lifted and never raise while
// C++ objects are alive: Impl returns the number of results, or -1 to raise
// the value on top of the stack once its locals are gone.
using Impl = int (*)(lua_State* L, RunContext* c);

template <Impl F>
int Guarded(lua_State* L) {
  ScriptVm* vm = Vm(L);
  bool enforce = vm->enforce_limit;
  vm->enforce_limit = false;
  int n = F(L, vm->ctx);
  vm->enforce_limit = enforce;
  if (vm->mem_used > vm->limit_at) {
    vm->mem_exceeded = true;
    lua_pushliteral(L, "not enough memory");  // fails too: LUA_ERRMEM
    return lua_error(L);
  }
  return n < 0 ? lua_error(L) : n;
}

// Redis 7 scriptCall(): the checks a command from a script passes before it
// runs, in Redis's order. nullopt: run it.
std::optional<std::string_view> RefuseFromScript(const Argv& argv, bool read_only) {
  const CommandDef* def = FindCommandDef(argv[0]);
  if (def == nullptr || (def->spec.flags & kCmdInternal)) return errors::kScriptUnknownCommand;
  if (!ArityOk(def->spec.arity, argv.size())) return errors::kScriptWrongArity;
  if (def->spec.flags & kCmdNoScript) return errors::kScriptCommandNotAllowed;
  if (read_only && (def->spec.flags & kCmdWrite)) return errors::kScriptWriteInReadOnly;
  return std::nullopt;
}

// Argument conversion: strings as they are, numbers as integers when they
// are integral (Redis prints them with fpconv_dtoa), else Lua's "%.14g".
bool ArgvFromStack(lua_State* L, Argv* argv) {
  int argc = lua_gettop(L);
  for (int i = 1; i <= argc; i++) {
    int t = lua_type(L, i);
    if (t == LUA_TNUMBER) {
      lua_Number n = lua_tonumber(L, i);
      if (std::floor(n) == n && std::fabs(n) < 9.2e18) {
        argv->push_back(FormatInt64(static_cast<int64_t>(n)));
        continue;
      }
    } else if (t != LUA_TSTRING) {
      return false;
    }
    size_t len;
    const char* s = lua_tolstring(L, i, &len);
    argv->emplace_back(s, len);
  }
  return true;
}

int CallImpl(lua_State* L, RunContext* c, bool raise) {
  if (lua_gettop(L) == 0) {
    PushErrorTable(L, ScriptError(errors::kScriptNoArgs));
    return -1;
  }
  Argv argv;
  if (!ArgvFromStack(L, &argv)) {
    PushErrorTable(L, ScriptError(errors::kScriptBadArgType));
    return -1;
  }
  if (std::optional<std::string_view> refused = RefuseFromScript(argv, c->call->read_only)) {
    PushErrorTable(L, ScriptError(*refused));
    return raise ? -1 : 1;
  }
  // Redis 7 scriptVerifyACL: the calling user's permissions, as of this
  // entry, for every command the script runs.
  if (std::optional<AclDenial> denied = AclCheckActing(*c->state, argv)) {
    PushErrorTable(L, ScriptError("ACL failure in script: " + denied->message));
    return raise ? -1 : 1;
  }
  Reply r = Dispatch(*c->state, argv, c->index);
  PushReply(L, r);
  return raise && r.is_error() ? -1 : 1;
}

int RedisCall(lua_State* L, RunContext* c) { return CallImpl(L, c, /*raise=*/true); }
int RedisPCall(lua_State* L, RunContext* c) { return CallImpl(L, c, /*raise=*/false); }

int Sha1HexImpl(lua_State* L, RunContext*) {
  if (lua_gettop(L) != 1 || !lua_isstring(L, 1)) {
    PushErrorTable(L, ScriptError("wrong number of arguments"));
    return -1;
  }
  size_t len;
  const char* s = lua_tolstring(L, 1, &len);
  std::string hex = Sha1Hex(std::string_view(s, len));
  lua_pushlstring(L, hex.data(), hex.size());
  return 1;
}

// redis.error_reply(msg): Redis 7 luaRedisErrorReplyCommand + luaPushErrorBuff:
// "-CODE text" and "CODE text" keep their code, a single word gets "ERR ".
int ErrorReplyImpl(lua_State* L, RunContext*) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    PushErrorTable(L, ScriptError("wrong number or type of arguments"));
    return 1;
  }
  std::string_view e = lua_tostring(L, 1);
  if (!e.empty() && e[0] == '-') e.remove_prefix(1);
  PushErrorTable(L, e.find(' ') == std::string_view::npos ? ScriptError(e) : std::string(e));
  return 1;
}

int StatusReplyImpl(lua_State* L, RunContext*) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    PushErrorTable(L, ScriptError("wrong number or type of arguments"));
    return 1;
  }
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "ok");
  return 1;
}

// redis.log(level, ...): checked like Redis, then dropped (lockq keeps no
// script log; replicas would all write the same lines anyway).
int LogImpl(lua_State* L, RunContext*) {
  if (lua_gettop(L) < 2) {
    PushErrorTable(L, ScriptError("redis.log() requires two arguments or more."));
    return -1;
  }
  if (lua_type(L, 1) != LUA_TNUMBER) {
    PushErrorTable(L, ScriptError("First argument must be a number"));
    return -1;
  }
  return 0;
}

int ReturnTrueImpl(lua_State* L, RunContext*) {
  lua_pushboolean(L, 1);
  return 1;
}

int NoopImpl(lua_State*, RunContext*) { return 0; }

}  // namespace

void RegisterRedis(lua_State* L) {
  lua_newtable(L);
  const luaL_Reg funcs[] = {
      {"call", Guarded<RedisCall>},
      {"pcall", Guarded<RedisPCall>},
      {"sha1hex", Guarded<Sha1HexImpl>},
      {"error_reply", Guarded<ErrorReplyImpl>},
      {"status_reply", Guarded<StatusReplyImpl>},
      {"log", Guarded<LogImpl>},
      {"replicate_commands", Guarded<ReturnTrueImpl>},  // always on since Redis 7
      {"set_repl", Guarded<NoopImpl>},                  // the log replicates everything
  };
  for (const luaL_Reg& f : funcs) {
    lua_pushcfunction(L, f.func);
    lua_setfield(L, -2, f.name);
  }
  const std::pair<const char*, int> constants[] = {
      {"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3},
      {"REPL_NONE", 0}, {"REPL_AOF", 1},    {"REPL_SLAVE", 2}, {"REPL_REPLICA", 2},
      {"REPL_ALL", 3},
  };
  for (const auto& [name, value] : constants) {
    lua_pushnumber(L, value);
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, LUA_GLOBALSINDEX, "redis");
}

namespace {

// ---- sandbox -------------------------------------------------------------------

}  // namespace

// math.random as Redis 5+ (src/rand.c): a 48-bit LCG, the rand48 family,
// seeded with 0 before every script, so every replica draws the same
// numbers.
void SeedRand48(RunContext* c, int32_t seed) {
  c->rand48 = (uint64_t{static_cast<uint32_t>(seed)} << 16) | 0x330E;
}

namespace {

int32_t NextRand48(RunContext* c) {
  c->rand48 = (0x5DEECE66DULL * c->rand48 + 0xB) & ((uint64_t{1} << 48) - 1);
  return static_cast<int32_t>(c->rand48 >> 17);
}

int MathRandom(lua_State* L) {
  constexpr int32_t kRandMax = INT32_MAX;
  lua_Number r = static_cast<lua_Number>(NextRand48(Ctx(L)) % kRandMax) / kRandMax;
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, r);
      return 1;
    case 1: {
      int u = luaL_checkint(L, 1);
      luaL_argcheck(L, 1 <= u, 1, "interval is empty");
      lua_pushnumber(L, std::floor(r * u) + 1);
      return 1;
    }
    case 2: {
      int l = luaL_checkint(L, 1);
      int u = luaL_checkint(L, 2);
      luaL_argcheck(L, l <= u, 2, "interval is empty");
      lua_pushnumber(L, std::floor(r * (u - l + 1)) + l);
      return 1;
    }
    default:
      return luaL_error(L, "wrong number of arguments");
  }
}

int MathRandomSeed(lua_State* L) {
  SeedRand48(Ctx(L), static_cast<int32_t>(luaL_checkint(L, 1)));
  return 0;
}

// tostring() without addresses: "table: 0x55d0..." differs between replicas
// and could be written to a key.
int SafeToString(lua_State* L) {
  luaL_checkany(L, 1);
  int t = lua_type(L, 1);
  bool has_address = t == LUA_TTABLE || t == LUA_TFUNCTION || t == LUA_TUSERDATA ||
                     t == LUA_TTHREAD || t == LUA_TLIGHTUSERDATA;
  if (has_address && !luaL_getmetafield(L, 1, "__tostring")) {
    lua_pushstring(L, lua_typename(L, t));
    return 1;
  }
  if (has_address) lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

}  // namespace

const char* KeyName(lua_State* L, int i) {
  int t = lua_type(L, i);
  return t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tostring(L, i) : lua_typename(L, t);
}

void OpenLibs(lua_State* L) {
  // Redis keeps base, table, string and math (plus cjson, struct, cmsgpack
  // and bit, which lockq does not ship); never io, os, package or debug.
  const luaL_Reg libs[] = {
      {"", luaopen_base},
      {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string},
      {LUA_MATHLIBNAME, luaopen_math},
  };
  for (const luaL_Reg& lib : libs) {
    lua_pushcfunction(L, lib.func);
    lua_pushstring(L, lib.name);
    lua_call(L, 1, 0);
  }
  // Disk, code loading (Lua 5.1 does not verify bytecode), output, and
  // memory introspection that differs between builds.
  for (const char* name : {"dofile", "loadfile", "load", "loadstring", "require", "module",
                           "print", "collectgarbage", "gcinfo", "newproxy"}) {
    lua_pushnil(L);
    lua_setfield(L, LUA_GLOBALSINDEX, name);
  }
  lua_getfield(L, LUA_GLOBALSINDEX, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_getfield(L, LUA_GLOBALSINDEX, LUA_MATHLIBNAME);
  lua_pushcfunction(L, MathRandom);
  lua_setfield(L, -2, "random");
  lua_pushcfunction(L, MathRandomSeed);
  lua_setfield(L, -2, "randomseed");
  lua_pop(L, 1);
  lua_getfield(L, LUA_GLOBALSINDEX, "tostring");
  lua_pushcclosure(L, SafeToString, 1);
  lua_setfield(L, LUA_GLOBALSINDEX, "tostring");
}

bool IsGKey(lua_State* L, int i) {
  size_t len;
  const char* s = lua_type(L, i) == LUA_TSTRING ? lua_tolstring(L, i, &len) : nullptr;
  return s != nullptr && len == 2 && s[0] == '_' && s[1] == 'G';
}

}  // namespace lockq::sm
