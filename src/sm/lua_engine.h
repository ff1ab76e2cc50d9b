#pragma once
// Runs one Lua 5.1 script the way Redis's EVAL does, inside Apply().
//
// Determinism (STYLE.md habit 1). Scripts run on one long-lived lua_State
// per state machine (SmState::lua, script_vm.h), which is derived data: not
// snapshotted, not copied, rebuilt on demand. Every call runs its cached
// chunk in a fresh environment table (a fresh _G, KEYS, ARGV, and its own
// copy of each library it touches); the pristine globals, the library
// tables and the string metatable are out of the script's reach, so
// nothing one call does (setting a global, changing string.len or a
// metatable) can be seen by a later call, and a replica that restored a
// snapshot (with no Lua state at all) replies exactly like one that
// applied the whole log. Within a call everything is a function of the
// script, its arguments and the state: the instruction budget counts VM
// instructions (never time), the memory limit counts bytes the call makes
// the Lua allocator hold, math.random is reseeded with a constant, and
// the facilities that touch the clock, the disk or addresses are removed
// (docs/scripting.md lists them and the one caveat of the shared heap).
//
// redis.call()/redis.pcall() run commands through Dispatch(), the same
// command table as Apply(). Writes done before an error stay done, as in
// Redis (scripts are atomic, not transactional).
//
// Thread: the caller's (the state machine's owner). Not reentrant: scripts
// cannot call EVAL (kCmdNoScript).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sm/reply.h"
#include "sm/sm_state.h"

namespace lockq::sm {

// VM instructions one script call may execute; the count hook runs every
// kScriptHookInterval instructions, so the budget is exact to that interval.
inline constexpr uint64_t kScriptInstructionBudget = 10'000'000;
inline constexpr int kScriptHookInterval = 1000;
// Bytes the Lua allocator may hold during one call, garbage included.
inline constexpr size_t kScriptMemoryMax = size_t{32} << 20;

struct ScriptCall {
  std::string_view body;
  std::string_view sha;  // 40 lower-case hex digits, quoted in error replies
  std::vector<std::string_view> keys;
  std::vector<std::string_view> args;
  bool read_only = false;  // EVAL_RO / EVALSHA_RO: refuse write commands
};

// Compiles `body` (whose sha1 is `sha`) in the state's Lua state and keeps
// the chunk for later calls: nullopt when it compiles, otherwise Redis's
// "ERR Error compiling script (new function): ..." reply (or the memory
// error). Binary (precompiled) chunks are refused: Lua 5.1 does not verify
// bytecode.
std::optional<Reply> CompileScript(SmState& state, std::string_view sha, std::string_view body);

// Runs the script against `state` at log `index` and converts its result
// with Redis's Lua-to-RESP rules.
Reply RunScript(SmState& state, uint64_t index, const ScriptCall& call);

}  // namespace lockq::sm
