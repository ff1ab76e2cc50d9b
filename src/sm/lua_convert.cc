#include "sm/lua_convert.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace lockq::sm {

std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  for (char& ch : s) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  return s;
}

void PushErrorTable(lua_State* L, std::string_view line) {
  std::string text = OneLine(std::string(line));
  lua_createtable(L, 0, 1);
  lua_pushlstring(L, text.data(), text.size());
  lua_setfield(L, -2, "err");
}

void PushReply(lua_State* L, const Reply& r) {
  lua_checkstack(L, 4);
  switch (r.kind) {
    case Reply::Kind::kInt:
    case Reply::Kind::kBool:
      lua_pushnumber(L, static_cast<lua_Number>(r.integer));
      break;
    case Reply::Kind::kBulk:
    case Reply::Kind::kDouble:
    case Reply::Kind::kVerbatim:
      lua_pushlstring(L, r.str.data(), r.str.size());
      break;
    case Reply::Kind::kNull:
    case Reply::Kind::kNullArray:
    case Reply::Kind::kDeferred:  // never from scripts: WAIT is refused there
      lua_pushboolean(L, 0);
      break;
    case Reply::Kind::kStatus:
      lua_createtable(L, 0, 1);
      lua_pushlstring(L, r.str.data(), r.str.size());
      lua_setfield(L, -2, "ok");
      break;
    case Reply::Kind::kError:
      PushErrorTable(L, r.str);
      break;
    case Reply::Kind::kArray:
    case Reply::Kind::kMap:
    case Reply::Kind::kSet:
    case Reply::Kind::kPush:
      lua_createtable(L, static_cast<int>(r.elems.size()), 0);
      for (size_t i = 0; i < r.elems.size(); i++) {
        PushReply(L, r.elems[i]);
        lua_rawseti(L, -2, static_cast<int>(i + 1));
      }
      break;
  }
}

namespace {

int64_t NumberToInt(lua_Number n) {
  // Redis casts with (long long); keep the cast defined for any double.
  if (std::isnan(n)) return INT64_MIN;
  if (n >= 9223372036854775807.0) return INT64_MAX;
  if (n <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(n);
}

}  // namespace

Reply LuaToReply(lua_State* L, int depth) {
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, -1, &n);
      return Reply::Bulk(std::string(s, n));
    }
    case LUA_TBOOLEAN:
      return lua_toboolean(L, -1) ? Reply::Int(1) : Reply::Null();
    case LUA_TNUMBER:
      return Reply::Int(NumberToInt(lua_tonumber(L, -1)));
    case LUA_TTABLE:
      break;
    default:
      return Reply::Null();
  }
  if (depth >= kScriptReplyDepthMax || !lua_checkstack(L, 4)) {
    return Reply::Error("ERR reached lua stack limit");
  }
  for (const char* field : {"err", "ok"}) {
    lua_pushstring(L, field);
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
      std::string text = OneLine(lua_tostring(L, -1));
      lua_pop(L, 1);
      return field[0] == 'e' ? Reply::Error(std::move(text)) : Reply::Status(std::move(text));
    }
    lua_pop(L, 1);
  }
  // An array: elements 1, 2, ... up to the first nil.
  std::vector<Reply> elems;
  for (int j = 1;; j++) {
    lua_rawgeti(L, -1, j);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    elems.push_back(LuaToReply(L, depth + 1));
    lua_pop(L, 1);
  }
  return Reply::Array(std::move(elems));
}

}  // namespace lockq::sm
