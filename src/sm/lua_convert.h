#pragma once
// Redis's conversions between command replies and Lua values (src/script_lua.c
// redisProtocolToLuaType / luaReplyToRedisReply, RESP2 rules), used by
// lua_engine.cc. docs/scripting.md "Conversion rules" states them.
//
// The Push* functions allocate in the Lua state; lua_engine.cc calls them
// with its memory limit lifted, so they only raise on a real allocation
// failure.

#include <lua.hpp>

#include <string>
#include <string_view>

#include "sm/reply.h"

namespace lockq::sm {

// Nesting depth of a table a script returns (cyclic tables end here).
inline constexpr int kScriptReplyDepthMax = 32;

// `s` as one RESP line: trailing CR/LF dropped, inner ones made spaces.
std::string OneLine(std::string s);
// Pushes Redis's error table {err = line}; `line` is "CODE message".
void PushErrorTable(lua_State* L, std::string_view line);
// Pushes `r` as Lua: integer -> number, bulk -> string, null -> false,
// array -> table, status -> {ok=...}, error -> {err=...}.
void PushReply(lua_State* L, const Reply& r);
// The reply for the value on top of the stack (left there): number ->
// integer (truncated), string -> bulk, true -> 1, false/nil -> null, table
// with err/ok -> error/status, other table -> array up to the first nil.
Reply LuaToReply(lua_State* L, int depth = 0);

}  // namespace lockq::sm
