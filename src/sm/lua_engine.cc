#include "sm/lua_engine.h"

#include <lua.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/lua_convert.h"
#include "sm/parse.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

// Redis 7 compiles scripts under this chunk name, so positions read
// "user_script:1:" and error replies "on @user_script:1.".
constexpr char kChunkName[] = "@user_script";

// Registry keys: the addresses of these bytes (light userdata, which
// lua_rawget can look up without allocating).
char kContextKey;
char kScriptKey;
char kHandlerKey;

// Everything one call needs; the allocator and every C function reach it.
struct RunContext {
  SmState* state = nullptr;
  uint64_t index = 0;
  const ScriptCall* call = nullptr;
  // Memory: bytes the allocator holds. The limit is lifted while a C
  // function of ours runs (so Lua never longjmps over C++ objects) and
  // checked again when it returns.
  size_t mem_used = 0;
  bool enforce_limit = true;
  bool mem_exceeded = false;
  uint64_t instructions = 0;
  bool budget_exceeded = false;
  uint64_t rand48 = 0;
  bool compiled = false;
  std::string compile_error;
  std::string err_source;  // where the uncaught error was raised
  int err_line = -1;
};

RunContext* Ctx(lua_State* L) {
  lua_pushlightuserdata(L, &kContextKey);
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* c = static_cast<RunContext*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return c;
}

void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* c = static_cast<RunContext*>(ud);
  if (nsize == 0) {
    std::free(ptr);
    c->mem_used -= osize;
    return nullptr;
  }
  if (nsize > osize && c->enforce_limit && c->mem_used - osize + nsize > kScriptMemoryMax) {
    c->mem_exceeded = true;
    return nullptr;  // Lua raises LUA_ERRMEM
  }
  void* p = std::realloc(ptr, nsize);
  if (p != nullptr) c->mem_used = c->mem_used - osize + nsize;
  return p;
}

// Count hook: every kScriptHookInterval VM instructions, so the budget is a
// function of the script alone, never of time.
void BudgetHook(lua_State* L, lua_Debug*) {
  RunContext* c = Ctx(L);
  if (!c->budget_exceeded) {
    c->instructions += kScriptHookInterval;
    if (c->instructions < kScriptInstructionBudget) return;
    c->budget_exceeded = true;
    // From now on every instruction raises, so pcall cannot swallow the
    // error and keep looping (Redis does the same after SCRIPT KILL).
    lua_sethook(L, BudgetHook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
  }
  lua_pushliteral(L, "instruction budget exceeded");
  lua_error(L);
}

// Message handler of the top-level pcall: remembers where the uncaught
// error was raised (Redis 7's __redis__err__handler: the caller of a C
// function such as redis.call or error, else the raising function).
int ErrorHandler(lua_State* L) {
  RunContext* c = Ctx(L);
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0) {
    if (std::strcmp(ar.what, "C") == 0 && lua_getstack(L, 2, &ar) != 0) lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0) {
      c->err_source = ar.source;
      c->err_line = ar.currentline;
    }
  }
  return 1;
}

// ---- the redis table ---------------------------------------------------------

// Our C functions run with the memory limit lifted and never raise while
// C++ objects are alive: Impl returns the number of results, or -1 to raise
// the value on top of the stack once its locals are gone.
using Impl = int (*)(lua_State* L, RunContext* c);

template <Impl F>
int Guarded(lua_State* L) {
  RunContext* c = Ctx(L);
  c->enforce_limit = false;
  int n = F(L, c);
  c->enforce_limit = true;
  if (c->mem_used > kScriptMemoryMax) {
    c->mem_exceeded = true;
    lua_pushliteral(L, "not enough memory");  // fails too: LUA_ERRMEM
    return lua_error(L);
  }
  return n < 0 ? lua_error(L) : n;
}

std::string ScriptError(std::string_view message) { return "ERR " + std::string(message); }

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

// ---- sandbox -------------------------------------------------------------------

// math.random as Redis 5+ (src/rand.c): a 48-bit LCG, the rand48 family,
// seeded with 0 before every script, so every replica draws the same
// numbers.
void SeedRand48(RunContext* c, int32_t seed) {
  c->rand48 = (uint64_t{static_cast<uint32_t>(seed)} << 16) | 0x330E;
}

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

const char* KeyName(lua_State* L, int i) {
  int t = lua_type(L, i);
  return t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tostring(L, i) : lua_typename(L, t);
}

int GlobalNewIndex(lua_State* L) {
  return luaL_error(L, "Script attempted to create global variable '%s'", KeyName(L, 2));
}

int GlobalIndex(lua_State* L) {
  return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                    KeyName(L, 2));
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

void SetArgTable(lua_State* L, const char* name, const std::vector<std::string_view>& values) {
  lua_createtable(L, static_cast<int>(values.size()), 0);
  for (size_t i = 0; i < values.size(); i++) {
    lua_pushlstring(L, values[i].data(), values[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, LUA_GLOBALSINDEX, name);
}

void ProtectGlobals(lua_State* L) {
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, GlobalNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, GlobalIndex);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, LUA_GLOBALSINDEX);
}

// Runs under lua_cpcall: builds the sandbox and compiles the script. Leaves
// the compiled chunk and the message handler in the registry.
int Setup(lua_State* L) {
  auto* c = static_cast<RunContext*>(lua_touserdata(L, 1));
  lua_pushlightuserdata(L, &kContextKey);
  lua_pushlightuserdata(L, c);
  lua_rawset(L, LUA_REGISTRYINDEX);
  OpenLibs(L);
  RegisterRedis(L);
  SetArgTable(L, "KEYS", c->call->keys);
  SetArgTable(L, "ARGV", c->call->args);
  ProtectGlobals(L);
  lua_pushlightuserdata(L, &kHandlerKey);
  lua_pushcfunction(L, ErrorHandler);
  lua_rawset(L, LUA_REGISTRYINDEX);
  std::string_view body = c->call->body;
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {
    c->compile_error = "user_script: precompiled (binary) scripts are not allowed";
    return 0;
  }
  if (luaL_loadbuffer(L, body.data(), body.size(), kChunkName) != 0) {
    const char* msg = lua_tostring(L, -1);
    c->compile_error = msg != nullptr ? msg : "unknown error";
    return 0;
  }
  lua_pushlightuserdata(L, &kScriptKey);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  c->compiled = true;
  return 0;
}

struct LuaCloser {
  void operator()(lua_State* L) const { lua_close(L); }
};
using LuaPtr = std::unique_ptr<lua_State, LuaCloser>;

// Redis 7 luaCallFunction(): "<message> script: <sha>, on @user_script:<line>."
Reply UncaughtErrorReply(lua_State* L, const RunContext& c) {
  std::string msg;
  int t = lua_type(L, -1);
  if (t == LUA_TTABLE) {
    lua_getfield(L, -1, "err");
    msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "ERR unknown error";
    lua_pop(L, 1);
  } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    msg = ScriptError(lua_tostring(L, -1));
  } else if (t == LUA_TBOOLEAN) {
    msg = ScriptError(lua_toboolean(L, -1) ? "true" : "false");
  } else {
    msg = ScriptError(lua_typename(L, t));
  }
  if (c.err_line > 0) {
    msg += " script: " + std::string(c.call->sha) + ", on " + c.err_source + ":" +
           std::to_string(c.err_line) + ".";
  }
  return Reply::Error(OneLine(std::move(msg)));
}

Reply MemoryError() { return Reply::Error(errors::ScriptMemoryExceeded(kScriptMemoryMax)); }

}  // namespace

std::optional<Reply> CheckScriptCompiles(std::string_view body) {
  ScriptCall call;
  call.body = body;
  RunContext c;
  c.call = &call;
  LuaPtr L(lua_newstate(Alloc, &c));
  if (!L) return MemoryError();
  int status = lua_cpcall(L.get(), Setup, &c);
  c.enforce_limit = false;
  if (!c.compile_error.empty()) return Reply::Error(errors::ScriptCompile(c.compile_error));
  if (status != 0 || !c.compiled) return MemoryError();
  return std::nullopt;
}

Reply RunScript(SmState& state, uint64_t index, const ScriptCall& call) {
  RunContext c;  // outlives the state: lua_close() calls Alloc
  c.state = &state;
  c.index = index;
  c.call = &call;
  SeedRand48(&c, 0);
  LuaPtr owner(lua_newstate(Alloc, &c));
  if (!owner) return MemoryError();
  lua_State* L = owner.get();
  int status = lua_cpcall(L, Setup, &c);
  if (!c.compile_error.empty()) {
    c.enforce_limit = false;
    return Reply::Error(errors::ScriptCompile(c.compile_error));
  }
  if (status != 0 || !c.compiled) return MemoryError();
  lua_pushlightuserdata(L, &kHandlerKey);
  lua_rawget(L, LUA_REGISTRYINDEX);
  int handler = lua_gettop(L);
  lua_pushlightuserdata(L, &kScriptKey);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_sethook(L, BudgetHook, LUA_MASKCOUNT, kScriptHookInterval);
  status = lua_pcall(L, 0, 1, handler);
  lua_sethook(L, nullptr, 0, 0);
  c.enforce_limit = false;  // converting the result only reads and pushes keys
  // A budget or memory error wins even if the script caught it with pcall.
  if (c.budget_exceeded) {
    return Reply::Error(errors::ScriptBudgetExceeded(kScriptInstructionBudget));
  }
  if (c.mem_exceeded || status == LUA_ERRMEM) return MemoryError();
  if (status != 0) return UncaughtErrorReply(L, c);
  return LuaToReply(L, 0);
}

}  // namespace lockq::sm
