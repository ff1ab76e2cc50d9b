#include "sm/lua_engine.h"

#include <lua.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/lua_convert.h"
#include "sm/parse.h"
#include "sm/script_vm.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

// Redis 7 compiles scripts under this chunk name, so positions read
// "user_script:1:" and error replies "on @user_script:1.".
constexpr char kChunkName[] = "@user_script";

// Everything one call needs besides the Lua state; ScriptVm::ctx points
// here while the call runs.
struct RunContext {
  SmState* state = nullptr;
  uint64_t index = 0;
  const ScriptCall* call = nullptr;
  bool compile_only = false;  // CompileScript(): compile and cache, do not run
  uint64_t instructions = 0;
  bool budget_exceeded = false;
  uint64_t rand48 = 0;
  bool compiled = false;
  std::string compile_error;
  std::string err_source;  // where the uncaught error was raised
  int err_line = -1;
};

// Compiled scripts the state keeps (by sha1); past either bound the whole
// cache is dropped and scripts recompile on their next call. Which scripts
// are compiled never changes a reply.
constexpr size_t kCompiledMax = 1000;
constexpr size_t kCompiledBytesMax = size_t{8} << 20;
// A call starts with a full collection when earlier calls left more garbage
// than this (a full lua_gc costs ~4 us on the sandbox heap: not every call).
constexpr size_t kGcSlack = size_t{256} << 10;

}  // namespace

// The long-lived Lua state (script_vm.h). The allocator's userdata, so C
// functions find it with lua_getallocf.
class ScriptVm {
 public:
  ~ScriptVm() {
    if (L != nullptr) {
      enforce_limit = false;
      lua_close(L);
    }
  }

  lua_State* L = nullptr;
  RunContext* ctx = nullptr;  // the running call
  // Memory: bytes the allocator holds. During a call, growth past
  // limit_at (the call's starting point + kScriptMemoryMax) is refused;
  // the limit is lifted while a C function of ours runs (so Lua never
  // longjmps over C++ objects) and checked again when it returns.
  size_t mem_used = 0;
  size_t limit_at = SIZE_MAX;
  bool enforce_limit = false;
  bool mem_exceeded = false;
  size_t after_gc = 0;  // mem_used after the last full collection
  // Registry references (luaL_ref), made once by Build().
  int globals_ref = LUA_NOREF;   // the pristine globals: never seen by scripts
  int index_ref = LUA_NOREF;     // EnvIndex closure
  int newindex_ref = LUA_NOREF;  // EnvNewIndex closure
  int cache_ref = LUA_NOREF;     // sha1 -> compiled chunk
  int idle_env_ref = LUA_NOREF;  // env of cached chunks between calls
  int handler_ref = LUA_NOREF;   // ErrorHandler
  int setup_ref = LUA_NOREF;     // CallSetup
  size_t compiled_count = 0;
  size_t compiled_bytes = 0;
};

namespace {

ScriptVm* Vm(lua_State* L) {
  void* ud;
  lua_getallocf(L, &ud);
  return static_cast<ScriptVm*>(ud);
}

RunContext* Ctx(lua_State* L) { return Vm(L)->ctx; }

void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* vm = static_cast<ScriptVm*>(ud);
  if (nsize == 0) {
    std::free(ptr);
    vm->mem_used -= osize;
    return nullptr;
  }
  if (nsize > osize && vm->enforce_limit && vm->mem_used - osize + nsize > vm->limit_at) {
    vm->mem_exceeded = true;
    return nullptr;  // Lua raises LUA_ERRMEM
  }
  void* p = std::realloc(ptr, nsize);
  if (p != nullptr) vm->mem_used = vm->mem_used - osize + nsize;
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

// ---- the per-call environment -------------------------------------------------
//
// A call's globals are a fresh, initially empty table (the env) whose
// metatable, also fresh, resolves names against the pristine globals
// (upvalue 1), which scripts never see: a library table (string, math,
// redis, ...) is copied into the env at its first use, a function is
// stored as it is, `_G` is the env itself, and any other name is an
// error. So a call can change anything it can reach, and all of it is
// garbage when the call ends.

// __index(env, key)
int EnvIndex(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);  // scripts can call it: getmetatable(_G).__index
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));  // 3: the pristine value
  switch (lua_type(L, 3)) {
    case LUA_TNIL:
      if (!IsGKey(L, 2)) {
        return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                          KeyName(L, 2));
      }
      lua_pushvalue(L, 1);
      lua_replace(L, 3);
      break;
    case LUA_TTABLE: {  // a library: the call gets its own copy
      int n = 0;
      lua_pushnil(L);
      while (lua_next(L, 3) != 0) {
        lua_pop(L, 1);
        n++;
      }
      lua_createtable(L, 0, n);  // 4
      lua_pushnil(L);
      while (lua_next(L, 3) != 0) {  // key value
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 4);
        lua_pop(L, 1);
      }
      lua_replace(L, 3);
      break;
    }
    default:
      break;
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, 1);  // later reads of the name do not come here
  return 1;
}

// __newindex(env, key, value): a built-in name may be reassigned (in this
// call's env only); creating a global is an error, as in Redis.
int EnvNewIndex(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 3);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  bool known = !lua_isnil(L, 4) || IsGKey(L, 2);
  if (!known) {
    return luaL_error(L, "Script attempted to create global variable '%s'", KeyName(L, 2));
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

void RawSetArgTable(lua_State* L, int env, const char* name,
                    const std::vector<std::string_view>& values) {
  lua_pushstring(L, name);
  lua_createtable(L, static_cast<int>(values.size()), 0);
  for (size_t i = 0; i < values.size(); i++) {
    lua_pushlstring(L, values[i].data(), values[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_rawset(L, env);
}

int Ref(lua_State* L) { return luaL_ref(L, LUA_REGISTRYINDEX); }

// Compiles the call's body and caches it by sha1; leaves the chunk on top.
// False (nothing pushed) when it does not compile.
bool Compile(lua_State* L, ScriptVm* vm, RunContext* c, int cache) {
  std::string_view body = c->call->body;
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {
    c->compile_error = "user_script: precompiled (binary) scripts are not allowed";
    return false;
  }
  int status = luaL_loadbuffer(L, body.data(), body.size(), kChunkName);
  if (status != 0) {
    const char* msg = lua_tostring(L, -1);
    c->compile_error = msg != nullptr ? msg : "unknown error";
    if (status == LUA_ERRMEM) vm->mem_exceeded = true;
    lua_pop(L, 1);
    return false;
  }
  c->state->lua.CountCompile();
  if (vm->compiled_count >= kCompiledMax || body.size() > kCompiledBytesMax - vm->compiled_bytes) {
    lua_newtable(L);  // drop every compiled script
    lua_pushvalue(L, -1);
    lua_rawseti(L, LUA_REGISTRYINDEX, vm->cache_ref);
    lua_replace(L, cache);
    vm->compiled_count = 0;
    vm->compiled_bytes = 0;
  }
  if (body.size() <= kCompiledBytesMax) {
    lua_pushlstring(L, c->call->sha.data(), c->call->sha.size());
    lua_pushvalue(L, -2);
    lua_rawset(L, cache);
    vm->compiled_count++;
    vm->compiled_bytes += body.size();
  }
  return true;
}

// Runs under lua_pcall with the memory limit on: finds or compiles the
// chunk, gives it a fresh environment with KEYS and ARGV, and returns it.
int CallSetup(lua_State* L) {
  ScriptVm* vm = Vm(L);
  RunContext* c = vm->ctx;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cache_ref);  // 1
  lua_pushlstring(L, c->call->sha.data(), c->call->sha.size());
  lua_rawget(L, 1);  // 2: the chunk, or nil
  if (lua_isnil(L, 2)) {
    lua_pop(L, 1);
    if (!Compile(L, vm, c, 1)) return 0;
  }
  c->compiled = true;
  if (c->compile_only) return 0;
  lua_createtable(L, 0, 4);  // 3: env
  RawSetArgTable(L, 3, "KEYS", c->call->keys);
  RawSetArgTable(L, 3, "ARGV", c->call->args);
  lua_createtable(L, 0, 2);  // 4: its metatable, fresh too
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->index_ref);
  lua_setfield(L, 4, "__index");
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->newindex_ref);
  lua_setfield(L, 4, "__newindex");
  lua_setmetatable(L, 3);
  lua_pushvalue(L, 3);
  lua_setfenv(L, 2);
  // The thread's globals too: getfenv(0), getfenv of a C function and
  // coroutines the script creates all see the env, never the pristine
  // globals.
  lua_replace(L, LUA_GLOBALSINDEX);
  return 1;
}

// Runs under lua_cpcall on a new state: the libraries into the pristine
// globals, the references a call needs.
int Build(lua_State* L) {
  ScriptVm* vm = Vm(L);
  OpenLibs(L);
  RegisterRedis(L);
  lua_pushnil(L);  // EnvIndex answers _G with the call's env
  lua_setfield(L, LUA_GLOBALSINDEX, "_G");
  // The string metatable is shared by every string: scripts may not get it
  // (its __index is the pristine string library) and so cannot change it
  // (Redis 7.2+ makes it read-only too).
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  vm->globals_ref = Ref(L);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_pushcclosure(L, EnvIndex, 1);
  vm->index_ref = Ref(L);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_pushcclosure(L, EnvNewIndex, 1);
  vm->newindex_ref = Ref(L);
  lua_newtable(L);
  vm->cache_ref = Ref(L);
  lua_newtable(L);
  vm->idle_env_ref = Ref(L);
  lua_pushcfunction(L, ErrorHandler);
  vm->handler_ref = Ref(L);
  lua_pushcfunction(L, CallSetup);
  vm->setup_ref = Ref(L);
  return 0;
}

// Redis 7 luaCallFunction(): "<message> script: <sha>, on @user_script:<line>."
Reply UncaughtErrorReply(lua_State* L, const RunContext& c) {
  std::string msg;
  int t = lua_type(L, -1);
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "err");
    lua_rawget(L, -2);  // raw: no metamethod of the script's runs here
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

// Runs a call (or, with compile_only, just the compile) on the state's Lua
// state and leaves that state as it found it: empty stack, the pristine
// globals installed, no hook, cached chunks pointing at an empty env.
Reply Execute(SmState& state, RunContext& c) {
  ScriptVm* vm = state.lua.GetOrBuild();
  if (vm == nullptr) return MemoryError();
  lua_State* L = vm->L;
  lua_settop(L, 0);
  if (vm->mem_used > vm->after_gc + kGcSlack) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    vm->after_gc = vm->mem_used;
  }
  vm->ctx = &c;
  vm->mem_exceeded = false;
  vm->limit_at = vm->mem_used + kScriptMemoryMax;
  vm->enforce_limit = true;
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->handler_ref);  // 1
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->setup_ref);
  int status = lua_pcall(L, 0, 1, 0);  // 2: the chunk (nil if it did not compile)
  std::optional<Reply> reply;
  if (!c.compile_error.empty()) {
    reply = Reply::Error(errors::ScriptCompile(c.compile_error));
  } else if (status != 0 || !c.compiled || vm->mem_exceeded) {
    reply = MemoryError();
  } else if (c.compile_only) {
    reply = Reply::Ok();
  } else {
    lua_pushvalue(L, 2);
    lua_sethook(L, BudgetHook, LUA_MASKCOUNT, kScriptHookInterval);
    status = lua_pcall(L, 0, 1, 1);
    lua_sethook(L, nullptr, 0, 0);
    vm->enforce_limit = false;  // converting the result only reads and pushes keys
    // A budget or memory error wins even if the script caught it with pcall.
    if (c.budget_exceeded) {
      reply = Reply::Error(errors::ScriptBudgetExceeded(kScriptInstructionBudget));
    } else if (vm->mem_exceeded || status == LUA_ERRMEM) {
      reply = MemoryError();
    } else if (status != 0) {
      reply = UncaughtErrorReply(L, c);
    } else {
      reply = LuaToReply(L, 0);
    }
  }
  vm->enforce_limit = false;
  vm->limit_at = SIZE_MAX;
  bool drop = vm->mem_exceeded || status == LUA_ERRMEM;
  if (!drop) {
    if (lua_isfunction(L, 2)) {  // the chunk keeps no reference to the call's env
      lua_rawgeti(L, LUA_REGISTRYINDEX, vm->idle_env_ref);
      lua_setfenv(L, 2);
    }
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->globals_ref);
    lua_replace(L, LUA_GLOBALSINDEX);
    vm->ctx = nullptr;
  } else {
    // A memory error may have left the state half-way through anything:
    // throw it away; the next call builds a new one.
    state.lua.Reset();
  }
  return std::move(*reply);
}

}  // namespace

ScriptVmSlot::ScriptVmSlot() = default;
ScriptVmSlot::~ScriptVmSlot() = default;
ScriptVmSlot::ScriptVmSlot(const ScriptVmSlot&) {}
ScriptVmSlot& ScriptVmSlot::operator=(const ScriptVmSlot& other) {
  if (this != &other) Reset();
  return *this;
}
ScriptVmSlot::ScriptVmSlot(ScriptVmSlot&&) noexcept {}
ScriptVmSlot& ScriptVmSlot::operator=(ScriptVmSlot&& other) noexcept {
  if (this != &other) {
    Reset();
    other.Reset();
  }
  return *this;
}

void ScriptVmSlot::Deleter::operator()(ScriptVm* vm) const { delete vm; }

void ScriptVmSlot::Reset() { vm_.reset(); }

int ScriptVmSlot::lua_top() const { return vm_ ? lua_gettop(vm_->L) : -1; }

ScriptVm* ScriptVmSlot::GetOrBuild() {
  if (vm_) return vm_.get();
  std::unique_ptr<ScriptVm, Deleter> vm(new ScriptVm);
  vm->L = lua_newstate(Alloc, vm.get());
  if (vm->L == nullptr || lua_cpcall(vm->L, Build, nullptr) != 0) return nullptr;
  lua_settop(vm->L, 0);
  lua_gc(vm->L, LUA_GCCOLLECT, 0);
  vm->after_gc = vm->mem_used;
  builds_++;
  vm_ = std::move(vm);
  return vm_.get();
}

std::optional<Reply> CompileScript(SmState& state, std::string_view sha, std::string_view body) {
  ScriptCall call;
  call.body = body;
  call.sha = sha;
  RunContext c;
  c.state = &state;
  c.call = &call;
  c.compile_only = true;
  Reply r = Execute(state, c);
  if (r.is_error()) return r;
  return std::nullopt;
}

Reply RunScript(SmState& state, uint64_t index, const ScriptCall& call) {
  RunContext c;
  c.state = &state;
  c.index = index;
  c.call = &call;
  SeedRand48(&c, 0);
  return Execute(state, c);
}

}  // namespace lockq::sm
