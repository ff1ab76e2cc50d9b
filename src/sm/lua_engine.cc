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
#include "sm/lua_vm.h"
#include "sm/script_vm.h"
#include "sm/sha1.h"

namespace lockq::sm {

namespace {

// Redis 7 compiles scripts under this chunk name, so positions read
// "user_script:1:" and error replies "on @user_script:1.".
constexpr char kChunkName[] = "@user_script";

// Compiled scripts the state keeps (by sha1); past either bound the whole
// cache is dropped and scripts recompile on their next call. Which scripts
// are compiled never changes a reply.
constexpr size_t kCompiledMax = 1000;
constexpr size_t kCompiledBytesMax = size_t{8} << 20;
// A call starts with a full collection when earlier calls left more garbage
// than this (a full lua_gc costs ~4 us on the sandbox heap: not every call).
constexpr size_t kGcSlack = size_t{256} << 10;

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
