// Cost of one script call (EVALSHA of the lock-release script), and where
// it goes. Not a test: run build/bench/script_bench by hand
// (cmake --build build --target script_bench).
//
//   BM_RunScript*       RunScript() as EVALSHA calls it, key present / absent
//   BM_Evalsha          the whole command through StateMachine::Apply()
//   BM_Lua*             the raw Lua 5.1 steps a fresh state per call costs

#include <benchmark/benchmark.h>

#include <lua.hpp>
#include <string>

#include "sm/lua_engine.h"
#include "sm/sha1.h"
#include "sm/sm_state.h"
#include "sm/state_machine.h"

namespace lockq::sm {
namespace {

constexpr char kRelease[] =
    "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) "
    "else return 0 end";

ScriptCall ReleaseCall(const std::string& sha) {
  ScriptCall call;
  call.body = kRelease;
  call.sha = sha;
  call.keys = {"lock:k"};
  call.args = {"token-1"};
  return call;
}

void BM_RunScriptMiss(benchmark::State& st) {  // key absent: GET only
  SmState s;
  std::string sha = Sha1Hex(kRelease);
  ScriptCall call = ReleaseCall(sha);
  uint64_t index = 1;
  for (auto _ : st) benchmark::DoNotOptimize(RunScript(s, index++, call));
}
BENCHMARK(BM_RunScriptMiss);

void BM_RunScriptHit(benchmark::State& st) {  // SET, then the script's GET + DEL
  StateMachine sm;
  std::string sha = Sha1Hex(kRelease);
  uint64_t index = 1;
  Batch load;
  load.commands = {{"SCRIPT", "LOAD", kRelease}};
  sm.Apply(load, index++);
  Batch b;
  b.commands = {{"SET", "lock:k", "token-1"}, {"EVALSHA", sha, "1", "lock:k", "token-1"}};
  for (auto _ : st) benchmark::DoNotOptimize(sm.Apply(b, index++));
}
BENCHMARK(BM_RunScriptHit);

void BM_SetOnly(benchmark::State& st) {  // the SET half of BM_RunScriptHit
  StateMachine sm;
  uint64_t index = 1;
  Batch b;
  b.commands = {{"SET", "lock:k", "token-1"}, {"DEL", "lock:k"}};
  for (auto _ : st) benchmark::DoNotOptimize(sm.Apply(b, index++));
}
BENCHMARK(BM_SetOnly);

// ---- raw Lua steps -----------------------------------------------------------

void BM_LuaNewClose(benchmark::State& st) {
  for (auto _ : st) lua_close(luaL_newstate());
}
BENCHMARK(BM_LuaNewClose);

void OpenFour(lua_State* L) {
  const luaL_Reg libs[] = {{"", luaopen_base},
                           {LUA_TABLIBNAME, luaopen_table},
                           {LUA_STRLIBNAME, luaopen_string},
                           {LUA_MATHLIBNAME, luaopen_math}};
  for (const luaL_Reg& lib : libs) {
    lua_pushcfunction(L, lib.func);
    lua_pushstring(L, lib.name);
    lua_call(L, 1, 0);
  }
}

void BM_LuaNewOpenLibsClose(benchmark::State& st) {
  for (auto _ : st) {
    lua_State* L = luaL_newstate();
    OpenFour(L);
    lua_close(L);
  }
}
BENCHMARK(BM_LuaNewOpenLibsClose);

void BM_LuaCompile(benchmark::State& st) {
  lua_State* L = luaL_newstate();
  OpenFour(L);
  for (auto _ : st) {
    luaL_loadbuffer(L, kRelease, sizeof(kRelease) - 1, "@user_script");
    lua_pop(L, 1);
  }
  lua_close(L);
}
BENCHMARK(BM_LuaCompile);

void BM_LuaFullGc(benchmark::State& st) {  // a full collection of a sandbox-sized heap
  lua_State* L = luaL_newstate();
  OpenFour(L);
  for (auto _ : st) lua_gc(L, LUA_GCCOLLECT, 0);
  lua_close(L);
}
BENCHMARK(BM_LuaFullGc);

}  // namespace
}  // namespace lockq::sm

BENCHMARK_MAIN();
