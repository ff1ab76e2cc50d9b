// The scripting sandbox: instruction budget, memory limit, globals,
// refused libraries, deterministic math.random, and the script cache as
// replicated state (limits, snapshots, copies).

#include <gtest/gtest.h>

#include "script_test_util.h"
#include "sm/errors.h"
#include "sm/lua_engine.h"
#include "sm/script_cache.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using namespace script_test;
using testing::SmHarness;

const Reply kBudget = E(errors::ScriptBudgetExceeded(kScriptInstructionBudget));
const Reply kMemory = E(errors::ScriptMemoryExceeded(kScriptMemoryMax));

TEST(ScriptSandboxTest, InstructionBudget) {
  SmHarness h;
  EXPECT_EQ(kBudget, E("ERR Script exceeded the instruction budget of 10000000 instructions"));
  EXPECT_EQ(Eval(h, "while true do end"), kBudget);
  // pcall cannot swallow it, not even once.
  EXPECT_EQ(Eval(h, "while true do pcall(function() while true do end end) end"), kBudget);
  EXPECT_EQ(Eval(h, "pcall(function() while true do end end) return 1"), kBudget);
  EXPECT_EQ(Eval(h, "coroutine.wrap(function() while true do end end)()"), kBudget);
  // Writes made before the error stay (Redis does not roll scripts back).
  EXPECT_EQ(Eval(h, "redis.call('set','w','1') while true do end"), kBudget);
  EXPECT_EQ(h.Run({"GET", "w"}), B("1"));
  // A long but finite script is fine.
  EXPECT_EQ(Eval(h, "local n = 0 for i = 1, 100000 do n = n + i end return n"), I(5000050000));
}

TEST(ScriptSandboxTest, MemoryLimit) {
  SmHarness h;
  EXPECT_EQ(Eval(h, "return #string.rep('x', 64 * 1024 * 1024)"), kMemory);
  EXPECT_EQ(Eval(h, "local s = string.rep('x', 1024 * 1024) local t = {} "
                    "for i = 1, 100 do t[i] = s .. i end return #t"),
            kMemory);
  EXPECT_EQ(Eval(h, "local ok = pcall(string.rep, 'x', 64 * 1024 * 1024) return 1"), kMemory);
  // Under the limit works, and the next script starts afresh.
  EXPECT_EQ(Eval(h, "return #string.rep('x', 1024 * 1024)"), I(1024 * 1024));
}

TEST(ScriptSandboxTest, Globals) {
  SmHarness h;
  const std::string s1 = "x = 1";
  EXPECT_EQ(Eval(h, s1),
            E("ERR user_script:1: Script attempted to create global variable 'x'" + At(s1, 1)));
  const std::string s2 = "return y";
  EXPECT_EQ(Eval(h, s2), E("ERR user_script:1: Script attempted to access nonexistent global "
                           "variable 'y'" + At(s2, 1)));
  EXPECT_EQ(Eval(h, "local function f(a) return a * 2 end local z = f(21) return z"), I(42));
  // Nothing leaks from one script to the next.
  EXPECT_EQ(Eval(h, "string.leak = 1 return 1"), I(1));
  EXPECT_EQ(Eval(h, "return string.leak"), Reply::Null());
}

TEST(ScriptSandboxTest, RefusedFacilities) {
  SmHarness h;
  for (const char* name : {"os", "io", "loadfile", "dofile", "require", "package", "debug",
                           "load", "loadstring", "print", "collectgarbage", "module"}) {
    Reply r = Eval(h, std::string("return type(") + name + ")");
    EXPECT_NE(r.str.find("Script attempted to access nonexistent global variable"),
              std::string::npos)
        << name << ": " << ToDebugString(r);
  }
  EXPECT_EQ(Eval(h, "return type(string.dump)"), B("nil"));
  EXPECT_EQ(Eval(h, "return {type(table.concat), type(string.format), type(math.floor), "
                    "type(pcall), type(coroutine.create)}"),
            A({B("function"), B("function"), B("function"), B("function"), B("function")}));
  // No addresses: they differ between replicas.
  EXPECT_EQ(Eval(h, "return tostring({}) .. tostring(true) .. tostring(1.5)"),
            B("tabletrue1.5"));
  // Precompiled chunks are refused (Lua 5.1 does not verify bytecode).
  Reply r = Eval(h, "\x1bLua\x51 junk");
  EXPECT_EQ(r.str.rfind("ERR Error compiling script (new function):", 0), 0u) << r.str;
}

TEST(ScriptSandboxTest, MathRandomIsDeterministic) {
  SmHarness h;
  const std::string s = "return {math.random(1000000), math.random(1000000), math.random(5, 9)}";
  Reply first = Eval(h, s);
  ASSERT_EQ(first.kind, Reply::Kind::kArray);
  EXPECT_EQ(Eval(h, s), first);  // reseeded for every call
  EXPECT_NE(first.elems[0], first.elems[1]);
  EXPECT_EQ(Eval(h, "math.randomseed(7) local a = math.random() math.randomseed(7) "
                    "return a == math.random()"),
            I(1));
  EXPECT_EQ(Eval(h, "local r = math.random() return r >= 0 and r < 1"), I(1));
}

TEST(ScriptSandboxTest, ReplicasAgree) {
  SmHarness a, b;
  for (SmHarness* h : {&a, &b}) {
    for (int i = 0; i < 20; i++) {
      Eval(*h, "redis.call('set', KEYS[1], math.random(1000000)) return 1",
           {"k" + std::to_string(i)});
      Eval(*h, "redis.call('set', 'seed' .. ARGV[1], tostring({}) .. math.random())", {},
           {std::to_string(i)});
    }
    h->Run({"SCRIPT", "LOAD", "return 'loaded'"});
  }
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

TEST(ScriptSandboxTest, SnapshotRoundTripKeepsScripts) {
  SmHarness h;
  h.Run({"SCRIPT", "LOAD", "return 1"});
  Eval(h, "return redis.call('set', KEYS[1], 'v')", {"k"});
  std::string snap = h.Snapshot();
  StateMachine restored;
  ASSERT_TRUE(restored.Restore(snap).ok());
  EXPECT_EQ(restored.Snapshot(), snap);
  Batch batch;
  batch.commands = {{"EVALSHA", Sha1Hex("return 1"), "0"},
                    {"EVALSHA", Sha1Hex("return redis.call('set', KEYS[1], 'v')"), "1", "k2"},
                    {"GET", "k2"}};
  EXPECT_EQ(restored.Apply(batch, 100), (std::vector<Reply>{I(1), Reply::Ok(), B("v")}));
  // A body that does not match its digest is corruption.
  std::string bad = snap;
  size_t pos = bad.rfind("return 1");
  ASSERT_NE(pos, std::string::npos);
  bad[pos + 7] = '2';
  StateMachine other;
  EXPECT_EQ(other.Restore(bad).code(), StatusCode::kCorruption);
}

TEST(ScriptSandboxTest, CopyCopiesTheCache) {
  SmHarness h;
  h.Run({"SCRIPT", "LOAD", "return 1"});
  StateMachine copy(h.sm());
  h.Run({"SCRIPT", "FLUSH"});
  EXPECT_EQ(h.Run({"EVALSHA", Sha1Hex("return 1"), "0"}), E(errors::kNoScript));
  Batch batch;
  batch.commands = {{"EVALSHA", Sha1Hex("return 1"), "0"}};
  EXPECT_EQ(copy.Apply(batch, 50), std::vector<Reply>{I(1)});
}

TEST(ScriptCacheTest, Limits) {
  ScriptCache c;
  for (size_t i = 0; i < kScriptsMax; i++) {
    std::string body = "return " + std::to_string(i);
    ASSERT_TRUE(c.Add(Sha1Hex(body), body));
  }
  EXPECT_TRUE(c.Add(Sha1Hex("return 0"), "return 0"));  // already there
  EXPECT_FALSE(c.Add(Sha1Hex("return -1"), "return -1"));
  EXPECT_EQ(c.size(), kScriptsMax);
  c.Clear();
  std::string big(kScriptCacheBytesMax - 10, ' ');
  EXPECT_TRUE(c.Add(Sha1Hex(big), big));
  std::string more(11, ' ');
  EXPECT_FALSE(c.Add(Sha1Hex(more), more));
  EXPECT_EQ(c.body_bytes(), kScriptCacheBytesMax - 10);
}

TEST(ScriptCacheTest, FullCacheIsAClearError) {
  SmHarness h;
  std::string big(kScriptCacheBytesMax / 2 + 1, ' ');
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD", big}), B(Sha1Hex(big)));
  std::string big2 = big + "  ";
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD", big2}), E(errors::kScriptCacheFull));
  EXPECT_EQ(Eval(h, big2), E(errors::kScriptCacheFull));
  EXPECT_EQ(h.Run({"EVALSHA", Sha1Hex(big), "0"}), Reply::Null());
}

}  // namespace
}  // namespace lockq::sm
