// Scripts share one Lua state per state machine (script_vm.h): nothing one
// call does may be seen by a later call, the state is derived data (copies
// and restores start without it, and it never changes a reply), and it is
// left clean after errors, runaway scripts and memory errors.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "script_test_util.h"
#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/lua_engine.h"
#include "sm/sm_state.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using namespace script_test;
using testing::SmHarness;

const Reply kBudget = E(errors::ScriptBudgetExceeded(kScriptInstructionBudget));
const Reply kMemory = E(errors::ScriptMemoryExceeded(kScriptMemoryMax));

// Runs commands straight on an SmState, so tests can look at its Lua state.
struct Direct {
  SmState s;
  uint64_t index = 0;
  Reply Run(const Argv& argv) { return Dispatch(s, argv, ++index); }
  Reply Eval(const std::string& body, const std::vector<std::string>& keys = {},
             const std::vector<std::string>& args = {}) {
    Argv argv{"EVAL", body, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv);
  }
};

std::string NoGlobal(const std::string& body, const std::string& name, int line = 1) {
  return "ERR user_script:" + std::to_string(line) +
         ": Script attempted to access nonexistent global variable '" + name + "'" + At(body, line);
}

TEST(ScriptIsolationTest, GlobalsDoNotSurviveACall) {
  SmHarness h;
  const std::string create = "x = 1";
  EXPECT_EQ(Eval(h, create),
            E("ERR user_script:1: Script attempted to create global variable 'x'" + At(create, 1)));
  const std::string read_x = "return x";
  EXPECT_EQ(Eval(h, read_x), E(NoGlobal(read_x, "x")));
  // rawset and _G reach only this call's environment.
  EXPECT_EQ(Eval(h, "rawset(_G, 'leak', 41) return leak + 1"), I(42));
  const std::string read_leak = "return leak";
  EXPECT_EQ(Eval(h, read_leak), E(NoGlobal(read_leak, "leak")));
  EXPECT_EQ(Eval(h, "_G.KEYS = {'k'} return 1"), I(1));
  EXPECT_EQ(Eval(h, "return #KEYS", {}), I(0));
  // Removing the environment's metatable or changing it.
  EXPECT_EQ(Eval(h, "setmetatable(_G, nil) z = 1 return z"), I(1));
  const std::string read_z = "return z";
  EXPECT_EQ(Eval(h, read_z), E(NoGlobal(read_z, "z")));
  EXPECT_EQ(Eval(h, "getmetatable(_G).__index = function() return 7 end return q"), I(7));
  // The metamethods are reachable; called on anything else they only
  // touch what they were given.
  EXPECT_EQ(Eval(h,
                 "local mt = getmetatable(_G) local t = {} "
                 "local s = mt.__index(t, 'string') s.len = nil mt.__newindex(t, 'math', 1) "
                 "return {type(rawget(t, 'string')), t.math, "
                 "select(2, pcall(mt.__index, 1, 'string'))}"),
            A({B("table"), I(1), B("bad argument #1 to '?' (table expected, got number)")}));
  EXPECT_EQ(Eval(h, "return string.len('abc')"), I(3));
  const std::string read_q = "return q";
  EXPECT_EQ(Eval(h, read_q), E(NoGlobal(read_q, "q")));
  // Replacing the environment of the chunk or of the thread.
  const std::string fenv = "setfenv(1, {tonumber = tonumber}) return tonumber('5')";
  EXPECT_EQ(Eval(h, fenv), I(5));
  EXPECT_EQ(h.Run({"EVALSHA", Sha1Hex(fenv), "0"}), I(5));  // the cached chunk again
  EXPECT_EQ(Eval(h, "setfenv(0, {}) return 1"), I(1));
  EXPECT_EQ(Eval(h, "return type(string) .. type(getfenv(0).redis)"), B("tabletable"));
  // Reassigning built-ins.
  EXPECT_EQ(Eval(h, "tostring = nil redis = nil return 1"), I(1));
  EXPECT_EQ(Eval(h, "return tostring(12) .. type(redis.call)"), B("12function"));
}

TEST(ScriptIsolationTest, LibrariesAndMetatablesDoNotSurviveACall) {
  SmHarness h;
  EXPECT_EQ(Eval(h, "string.len = function() return 99 end return string.len('ab')"), I(99));
  EXPECT_EQ(Eval(h, "return string.len('ab')"), I(2));
  EXPECT_EQ(Eval(h, "table.insert = nil math.floor = nil string.leak = 1 return 1"), I(1));
  EXPECT_EQ(Eval(h, "local t = {} table.insert(t, 3) return {#t, math.floor(2.5)}"),
            A({I(1), I(2)}));
  EXPECT_EQ(Eval(h, "return string.leak"), Reply::Null());
  EXPECT_EQ(Eval(h, "redis.call = function() return 'fake' end return redis.call('incr', 'c')"),
            B("fake"));
  EXPECT_EQ(Eval(h, "return redis.call('incr', 'c')"), I(1));
  EXPECT_EQ(Eval(h,
                 "setmetatable(string, {__index = function() return 5 end}) "
                 "return string.nosuch"),
            I(5));
  EXPECT_EQ(Eval(h, "return {type(getmetatable(string)), type(string.nosuch)}"),
            A({B("nil"), B("nil")}));
  // The string metatable is shared by every string: it is protected.
  EXPECT_EQ(Eval(h, "return type(getmetatable(''))"), B("boolean"));
  const std::string mt = "getmetatable('').__index = {}";
  EXPECT_EQ(Eval(h, mt).str.rfind("ERR user_script:1: attempt to index a boolean value", 0), 0u);
  EXPECT_NE(Eval(h, "return setmetatable('', {})").str.find("bad argument #1 to 'setmetatable'"),
            std::string::npos);
  EXPECT_EQ(Eval(h, "return ('abc'):upper() .. ('x'):rep(2)"), B("ABCxx"));
  // math.random's state belongs to the call.
  const std::string r = "return math.random(1000000)";
  Reply first = Eval(h, r);
  EXPECT_EQ(Eval(h, "math.randomseed(99) return math.random(10)").kind, Reply::Kind::kInt);
  EXPECT_EQ(Eval(h, r), first);
}

TEST(ScriptIsolationTest, ErrorsAndRunawaysLeaveTheStateClean) {
  Direct d;
  EXPECT_EQ(d.Eval("string.upper = nil error('boom')").str.rfind("ERR user_script:1: boom", 0), 0u);
  EXPECT_EQ(d.s.lua.lua_top(), 0);
  EXPECT_EQ(d.Eval("return string.upper('a')"), B("A"));
  EXPECT_EQ(d.Eval("string.rep = nil while true do end"), kBudget);
  EXPECT_EQ(d.s.lua.lua_top(), 0);
  EXPECT_EQ(d.Eval("return string.rep('a', 3)"), B("aaa"));  // and no hook left behind
  EXPECT_EQ(d.Eval("local co = coroutine.wrap(function() while true do coroutine.yield(1) end "
                   "end) co() string.lower = nil return redis.call('nosuch')")
                .str.rfind("ERR Unknown Redis command called from script", 0),
            0u);
  EXPECT_EQ(d.s.lua.lua_top(), 0);
  EXPECT_EQ(d.Eval("return string.lower('A')"), B("a"));
  // An error object whose metatable would run code is read raw.
  EXPECT_EQ(d.Eval("error(setmetatable({}, {__index = function() while true do end end}))")
                .str.rfind("ERR unknown error", 0),
            0u);
  EXPECT_EQ(d.s.lua.lua_top(), 0);
  EXPECT_EQ(d.s.lua.builds(), 1u);
}

TEST(ScriptIsolationTest, MemoryErrorRebuildsTheState) {
  Direct d;
  EXPECT_EQ(d.Eval("return 1"), I(1));
  EXPECT_EQ(d.s.lua.builds(), 1u);
  EXPECT_EQ(d.Eval("string.len = nil return #string.rep('x', 64 * 1024 * 1024)"), kMemory);
  EXPECT_EQ(d.s.lua.get(), nullptr);  // thrown away
  EXPECT_EQ(d.Eval("return string.len('abc')"), I(3));
  EXPECT_EQ(d.s.lua.builds(), 2u);
  // The limit is per call: garbage of earlier calls does not count.
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(d.Eval("local s = string.rep('x', 10 * 1024 * 1024) return #s"), I(10 * 1024 * 1024));
  }
  EXPECT_EQ(d.s.lua.builds(), 2u);
}

TEST(ScriptIsolationTest, CompiledOnceFlushAndNewBodiesRecompile) {
  Direct d;
  const std::string one = "return 1";
  EXPECT_EQ(d.Eval(one), I(1));
  EXPECT_EQ(d.s.lua.compiles(), 1u);
  EXPECT_EQ(d.Run({"EVALSHA", Sha1Hex(one), "0"}), I(1));
  EXPECT_EQ(d.Eval(one), I(1));
  EXPECT_EQ(d.s.lua.compiles(), 1u);    // reused
  EXPECT_EQ(d.Eval("return 2"), I(2));  // a changed body is another script
  EXPECT_EQ(d.s.lua.compiles(), 2u);
  EXPECT_EQ(d.Run({"SCRIPT", "FLUSH"}), Reply::Ok());
  EXPECT_EQ(d.s.lua.get(), nullptr);
  EXPECT_EQ(d.Run({"EVALSHA", Sha1Hex(one), "0"}), E(errors::kNoScript));
  EXPECT_EQ(d.Eval(one), I(1));
  EXPECT_EQ(d.s.lua.compiles(), 3u);
  EXPECT_EQ(d.s.lua.builds(), 2u);
  // Past the compiled-chunk bound everything still runs (recompiled).
  for (int i = 0; i < 1100; i++) {
    ASSERT_EQ(d.Eval("return " + std::to_string(i)), I(i));
  }
  EXPECT_EQ(d.Run({"EVALSHA", Sha1Hex("return 5"), "0"}), I(5));
  EXPECT_EQ(d.Run({"EVALSHA", Sha1Hex(one), "0"}), I(1));
}

TEST(ScriptIsolationTest, CopiesAndRestoresStartWithoutALuaState) {
  Direct d;
  EXPECT_EQ(d.Eval("return 1"), I(1));
  ASSERT_NE(d.s.lua.get(), nullptr);
  SmState copy = d.s;
  EXPECT_EQ(copy.lua.get(), nullptr);
  EXPECT_NE(d.s.lua.get(), nullptr);
  EXPECT_EQ(Dispatch(copy, {"EVALSHA", Sha1Hex("return 1"), "0"}, 10), I(1));
  EXPECT_NE(copy.lua.get(), d.s.lua.get());
}

// The same log on two machines: one also runs unrelated scripts that vandal
// everything they can reach, between the others, and is copied (as for an
// async snapshot) half-way; the other is snapshotted and restored
// half-way. Replies and snapshots agree.
TEST(ScriptIsolationTest, InterleavingsAndRestoresDoNotChangeReplies) {
  const std::vector<std::string> vandals = {
      "string.len = nil string.format = nil table.concat = nil math.random = nil return 1",
      "rawset(_G, 'counter', 1) getmetatable(_G).__index = function() return 3 end return 1",
      "setmetatable(_G, nil) setfenv(0, {}) redis.call = error return 1",
      "local t = {} for i = 1, 20000 do t[i] = tostring(i) .. 'garbage' end return #t",
      "while true do string.rep = nil end",
      "return #string.rep('x', 40 * 1024 * 1024)",
      "coroutine.wrap(function() coroutine.yield() end)() math.randomseed(123) return 1",
  };
  const std::vector<std::string> work = {
      "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])",
      "return {string.len(ARGV[1]), string.format('%05d', #KEYS), math.random(100000), "
      "table.concat({'a', 'b'}, ARGV[1]), type(counter)}",
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
      "else return 0 end",
      "local ok, e = pcall(function() return undefined_name end) return tostring(ok) .. e",
      "return {tostring({}), tostring(print), rawget(_G, 'counter') == nil and 1 or 0}",
  };
  auto setup = [&](SmHarness& h) {
    for (const std::string& s : vandals) h.Run({"SCRIPT", "LOAD", s});
    for (const std::string& s : work) h.Run({"SCRIPT", "LOAD", s});
  };
  SmHarness a_orig;
  SmHarness b;
  setup(a_orig);
  setup(b);
  StateMachine* a = &a_orig.sm();
  StateMachine* bm = &b.sm();
  std::unique_ptr<StateMachine> a_copy;
  std::unique_ptr<StateMachine> b_restored;
  uint64_t index = 1000;
  std::vector<Reply> ra, rb;
  for (int round = 0; round < 40; round++) {
    if (round == 20) {
      a_copy = std::make_unique<StateMachine>(*a);  // the copy carries on
      a = a_copy.get();
      b_restored = std::make_unique<StateMachine>();
      ASSERT_TRUE(b_restored->Restore(bm->Snapshot()).ok());
      bm = b_restored.get();
    }
    const std::string& body = work[round % work.size()];
    std::string key = "k" + std::to_string(round % 7);
    std::string arg = "v" + std::to_string(round % 3);
    Argv call{"EVALSHA", Sha1Hex(body), "1", key, arg};
    index++;
    Batch batch;
    batch.leader_time_ms = 5000 + round;
    batch.commands = {call};
    Batch with_vandals = batch;
    const std::string& v = vandals[round % vandals.size()];
    with_vandals.commands.insert(with_vandals.commands.begin(), Argv{"EVALSHA", Sha1Hex(v), "0"});
    with_vandals.commands.push_back(
        Argv{"EVALSHA", Sha1Hex(vandals[(round + 3) % vandals.size()]), "0"});
    std::vector<Reply> got_a = a->Apply(with_vandals, index);
    std::vector<Reply> got_b = bm->Apply(batch, index);
    ASSERT_EQ(got_a.size(), 3u);
    ASSERT_EQ(got_b.size(), 1u);
    ra.push_back(got_a[1]);
    rb.push_back(got_b[0]);
    EXPECT_EQ(got_a[1], got_b[0]) << "round " << round << ": " << ToDebugString(got_a[1]);
  }
  EXPECT_EQ(a->Snapshot(), bm->Snapshot());
  EXPECT_EQ(ra, rb);
}

}  // namespace
}  // namespace lockq::sm
