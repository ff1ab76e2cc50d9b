#pragma once
// Internal to the script engine (lua_engine.cc, lua_api.cc): the long-lived
// Lua state, the context of the running call, and what the engine uses of
// the `redis` table and the sandboxed libraries (lua_api.cc).

#include <lua.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sm/lua_engine.h"

namespace lockq::sm {

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

inline ScriptVm* Vm(lua_State* L) {
  void* ud;
  lua_getallocf(L, &ud);
  return static_cast<ScriptVm*>(ud);
}

inline RunContext* Ctx(lua_State* L) { return Vm(L)->ctx; }

// An error reply's line for a script error message.
inline std::string ScriptError(std::string_view message) { return "ERR " + std::string(message); }

// lua_api.cc
void RegisterRedis(lua_State* L);  // the `redis` table
void OpenLibs(lua_State* L);       // the sandboxed standard libraries
void SeedRand48(RunContext* c, int32_t seed);
// For the environment's guards: the key at index i as text, and whether it
// names a global of the sandbox.
const char* KeyName(lua_State* L, int i);
bool IsGKey(lua_State* L, int i);

}  // namespace lockq::sm
