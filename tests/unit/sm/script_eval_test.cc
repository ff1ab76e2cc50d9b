// EVAL / EVALSHA / SCRIPT through the harness: commands, the script cache,
// Redis's Lua<->RESP conversion rules and error wording (Redis 7).

#include <gtest/gtest.h>

#include "script_test_util.h"
#include "sm/errors.h"
#include "sm/parse.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using namespace script_test;
using testing::SmHarness;

TEST(ScriptEvalTest, RunsCommandsThroughTheCommandTable) {
  SmHarness h;
  EXPECT_EQ(Eval(h, "return redis.call('set',KEYS[1],ARGV[1])", {"k"}, {"v"}), Reply::Ok());
  EXPECT_EQ(h.Run({"GET", "k"}), B("v"));
  EXPECT_EQ(Eval(h, "return redis.call('GET',KEYS[1])", {"k"}), B("v"));
  EXPECT_EQ(Eval(h, "return {KEYS[1],KEYS[2],ARGV[1],#KEYS,#ARGV}", {"a", "b"}, {"c"}),
            A({B("a"), B("b"), B("c"), I(2), I(1)}));
  EXPECT_EQ(Eval(h, "return #KEYS + #ARGV"), I(0));
}

TEST(ScriptEvalTest, LuaToRespConversion) {
  SmHarness h;
  EXPECT_EQ(Eval(h, "return 1"), I(1));
  EXPECT_EQ(Eval(h, "return 3.99"), I(3));  // truncated
  EXPECT_EQ(Eval(h, "return -3.99"), I(-3));
  EXPECT_EQ(Eval(h, "return 'x'"), B("x"));
  EXPECT_EQ(Eval(h, "return true"), I(1));
  EXPECT_EQ(Eval(h, "return false"), Reply::Null());
  EXPECT_EQ(Eval(h, "return nil"), Reply::Null());
  EXPECT_EQ(Eval(h, ""), Reply::Null());
  EXPECT_EQ(Eval(h, "return {1,2,3,nil,4}"), A({I(1), I(2), I(3)}));  // stops at nil
  EXPECT_EQ(Eval(h, "return {1,'a',{2,false,true}}"),  // false is not nil
            A({I(1), B("a"), A({I(2), Reply::Null(), I(1)})}));
  EXPECT_EQ(Eval(h, "return {}"), A({}));
  EXPECT_EQ(Eval(h, "return {ok='FINE'}"), Reply::Status("FINE"));
  EXPECT_EQ(Eval(h, "return {err='MYERR bad thing'}"), E("MYERR bad thing"));
  EXPECT_EQ(Eval(h, "return {err='x', ok='y'}"), E("x"));  // err wins, as in Redis
  EXPECT_EQ(Eval(h, "return redis.status_reply('PONG')"), Reply::Status("PONG"));
  EXPECT_EQ(Eval(h, "return redis.error_reply('My Error')"), E("My Error"));
  EXPECT_EQ(Eval(h, "return redis.error_reply('oops')"), E("ERR oops"));
  EXPECT_EQ(Eval(h, "return redis.error_reply('-WRONGTYPE bad')"), E("WRONGTYPE bad"));
  EXPECT_EQ(Eval(h, "return {err='a\\r\\nb'}"), E("a  b"));  // stays one RESP line
  // A cyclic table ends in an error element instead of recursing forever.
  Reply r = Eval(h, "local t = {} t[1] = t return t");
  ASSERT_EQ(r.kind, Reply::Kind::kArray);
  const Reply* p = &r;
  while (p->kind == Reply::Kind::kArray) p = &p->elems.at(0);
  EXPECT_EQ(*p, E("ERR reached lua stack limit"));
}

TEST(ScriptEvalTest, RespToLuaConversion) {
  SmHarness h;
  h.Run({"SET", "a", "1"});
  h.Run({"SET", "s", "text"});
  EXPECT_EQ(Eval(h, "return type(redis.call('get','missing'))"), B("boolean"));
  EXPECT_EQ(Eval(h, "return redis.call('get','missing') == false"), I(1));
  EXPECT_EQ(Eval(h, "return type(redis.call('incr','n'))"), B("number"));
  EXPECT_EQ(Eval(h, "return redis.call('incr','n') + 10"), I(12));
  EXPECT_EQ(Eval(h, "return redis.call('set','x','1').ok"), B("OK"));
  EXPECT_EQ(Eval(h, "local r = redis.call('mget','a','nope') return {#r, r[1], type(r[2])}"),
            A({I(2), B("1"), B("boolean")}));
  // pcall gives the error as a table; returning it gives the error reply.
  EXPECT_EQ(Eval(h, "return redis.pcall('incr','s').err"), B(std::string(errors::kNotInteger)));
  EXPECT_EQ(Eval(h, "return redis.pcall('incr','s')"), E(errors::kNotInteger));
  // Numbers as arguments: integral ones are written as integers.
  EXPECT_EQ(Eval(h, "redis.call('set','n1',42) redis.call('set','n2',1.5) "
                    "return redis.call('mget','n1','n2')"),
            A({B("42"), B("1.5")}));
}

TEST(ScriptEvalTest, CallRaisesCommandErrors) {
  SmHarness h;
  h.Run({"SET", "s", "text"});
  const std::string s1 = "return redis.call('incr',KEYS[1])";
  EXPECT_EQ(Eval(h, s1, {"s"}), E(std::string(errors::kNotInteger) + At(s1, 1)));
  const std::string s2 = "local x = 1\nreturn redis.call('nosuch', 'a')";
  EXPECT_EQ(Eval(h, s2), E("ERR Unknown Redis command called from script" + At(s2, 2)));
  EXPECT_EQ(Eval(h, "return redis.pcall('nosuch').err"),
            B("ERR Unknown Redis command called from script"));
  // Internal commands look unknown; scripting commands are refused.
  EXPECT_EQ(Eval(h, "return redis.pcall('lockq.noop').err"),
            B("ERR Unknown Redis command called from script"));
  EXPECT_EQ(Eval(h, "return redis.pcall('eval','return 1','0').err"),
            B("ERR This Redis command is not allowed from script"));
  EXPECT_EQ(Eval(h, "return redis.pcall('script','flush').err"),
            B("ERR This Redis command is not allowed from script"));
  EXPECT_EQ(Eval(h, "return redis.pcall('get').err"),
            B("ERR Wrong number of args calling Redis command from script"));
  // Argument errors are raised even by pcall, as in Redis.
  const std::string s3 = "return redis.pcall('get', {})";
  EXPECT_EQ(Eval(h, s3), E("ERR Lua redis lib command arguments must be strings or integers" +
                           At(s3, 1)));
  const std::string s4 = "return redis.call()";
  EXPECT_EQ(Eval(h, s4),
            E("ERR Please specify at least one argument for this redis lib call" + At(s4, 1)));
}

TEST(ScriptEvalTest, LuaErrors) {
  SmHarness h;
  const std::string s1 = "error('boom')";
  EXPECT_EQ(Eval(h, s1), E("ERR user_script:1: boom" + At(s1, 1)));
  const std::string s2 = "local x = 1\nreturn x + nil";
  EXPECT_EQ(Eval(h, s2),
            E("ERR user_script:2: attempt to perform arithmetic on a nil value" + At(s2, 2)));
  const std::string s3 = "error(redis.error_reply('MY custom'))";
  EXPECT_EQ(Eval(h, s3), E("MY custom" + At(s3, 1)));
  const std::string s4 = "error({})";
  EXPECT_EQ(Eval(h, s4), E("ERR unknown error" + At(s4, 1)));
  // Compile errors are not cached.
  Reply r = Eval(h, "return +");
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(r.str.rfind("ERR Error compiling script (new function): user_script:1:", 0), 0u)
      << r.str;
  EXPECT_EQ(h.Run({"SCRIPT", "EXISTS", Sha1Hex("return +")}), A({I(0)}));
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD", "return +"}), r);
}

TEST(ScriptEvalTest, NumKeys) {
  SmHarness h;
  const Reply too_big = E(errors::kNumKeysTooBig);
  EXPECT_EQ(too_big, E("ERR Number of keys can't be greater than number of args"));
  EXPECT_EQ(h.Run({"EVAL", "return 1", "2", "a"}), too_big);
  EXPECT_EQ(h.Run({"EVAL", "return 1", "-1"}), E("ERR Number of keys can't be negative"));
  EXPECT_EQ(h.Run({"EVAL", "return 1", "x"}), E(errors::kNotInteger));
  EXPECT_EQ(h.Run({"EVALSHA", "abc", "1"}), too_big);
  EXPECT_EQ(h.Run({"EVAL", "return 1"}), E("ERR wrong number of arguments for 'eval' command"));
  // Checked at the front end (Precheck), and again at apply.
  EXPECT_EQ(StateMachine::Precheck({"EVAL", "return 1", "3", "a"}), too_big);
  EXPECT_EQ(h.ApplyOnly({"EVAL", "return 1", "3", "a"}), too_big);
  EXPECT_EQ(StateMachine::Precheck({"EVAL", "return 1", "1", "a"}), std::nullopt);
}

TEST(ScriptEvalTest, EvalShaAndScriptCommands) {
  SmHarness h;
  const std::string sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";  // "return 1"
  const Reply noscript = E("NOSCRIPT No matching script. Please use EVAL.");
  EXPECT_EQ(h.Run({"EVALSHA", sha, "0"}), noscript);
  EXPECT_EQ(h.Run({"EVALSHA", "short", "0"}), noscript);
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD", "return 1"}), B(sha));
  EXPECT_EQ(h.Run({"EVALSHA", sha, "0"}), I(1));
  EXPECT_EQ(h.Run({"evalsha", ToUpper(sha), "0"}), I(1));  // Redis lower-cases it
  // EVAL caches too.
  EXPECT_EQ(Eval(h, "return ARGV[1]", {}, {"x"}), B("x"));
  EXPECT_EQ(h.Run({"EVALSHA", Sha1Hex("return ARGV[1]"), "0", "y"}), B("y"));
  EXPECT_EQ(h.Run({"SCRIPT", "EXISTS", sha, Sha1Hex("nope"), Sha1Hex("return ARGV[1]")}),
            A({I(1), I(0), I(1)}));
  EXPECT_EQ(h.Run({"SCRIPT", "EXISTS", ToUpper(sha)}), A({I(0)}));  // a plain lookup
  EXPECT_EQ(h.Run({"SCRIPT", "FLUSH"}), Reply::Ok());
  EXPECT_EQ(h.Run({"EVALSHA", sha, "0"}), noscript);
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD", "return 1"}), B(sha));
  EXPECT_EQ(h.Run({"SCRIPT", "FLUSH", "async"}), Reply::Ok());
  EXPECT_EQ(h.Run({"SCRIPT", "EXISTS", sha}), A({I(0)}));
  EXPECT_EQ(h.Run({"SCRIPT", "FLUSH", "SYNC"}), Reply::Ok());
  EXPECT_EQ(h.Run({"SCRIPT", "FLUSH", "later"}),
            E("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
  EXPECT_EQ(h.Run({"SCRIPT", "nope"}), E("ERR unknown subcommand 'nope'. Try SCRIPT HELP."));
  EXPECT_EQ(h.Run({"SCRIPT", "LOAD"}),
            E("ERR wrong number of arguments for 'script|load' command"));
  EXPECT_EQ(h.Run({"SCRIPT", "EXISTS"}),
            E("ERR wrong number of arguments for 'script|exists' command"));
  EXPECT_EQ(h.Run({"SCRIPT", "KILL"}), E("NOTBUSY No scripts in execution right now."));
}

TEST(ScriptEvalTest, ReadOnlyScripts) {
  SmHarness h;
  h.Run({"SET", "k", "v"});
  const std::string w = "return redis.call('set',KEYS[1],'changed')";
  EXPECT_EQ(Eval(h, w, {"k"}, {}, "EVAL_RO"),
            E("ERR Write commands are not allowed from read-only scripts." + At(w, 1)));
  EXPECT_EQ(h.Run({"GET", "k"}), B("v"));
  EXPECT_EQ(Eval(h, "return redis.call('get',KEYS[1])", {"k"}, {}, "EVAL_RO"), B("v"));
  // The script was cached by EVAL_RO; EVALSHA_RO refuses the write, EVALSHA runs it.
  EXPECT_EQ(h.Run({"EVALSHA_RO", Sha1Hex(w), "1", "k"}).str,
            "ERR Write commands are not allowed from read-only scripts." + At(w, 1));
  EXPECT_EQ(h.Run({"EVALSHA", Sha1Hex(w), "1", "k"}), Reply::Ok());
  EXPECT_EQ(h.Run({"GET", "k"}), B("changed"));
  EXPECT_EQ(Eval(h, "return redis.pcall('del','k').err", {}, {}, "EVAL_RO"),
            B("ERR Write commands are not allowed from read-only scripts."));
}

TEST(ScriptEvalTest, RedisHelpers) {
  SmHarness h;
  EXPECT_EQ(Eval(h, "return redis.sha1hex('')"), B("da39a3ee5e6b4b0d3255bfef95601890afd80709"));
  EXPECT_EQ(Eval(h, "return redis.log(redis.LOG_WARNING, 'hello')"), Reply::Null());
  Reply r = Eval(h, "redis.log('x')");
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(Eval(h, "return redis.replicate_commands()"), I(1));
}

// ---- the scripts lock clients run ------------------------------------------

// The compare-then-delete release (Redis docs, "Distributed locks").
const char kRelease[] =
    "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) "
    "else return 0 end";

// redis-py lock.py (Lock.LUA_EXTEND_SCRIPT): ARGV = token, ms, replace_ttl.
const char kExtend[] = R"(
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
local expiration = redis.call('pttl', KEYS[1])
if not expiration then
    expiration = 0
end
if expiration < 0 then
    return 0
end
local newttl = ARGV[2]
if ARGV[3] == "0" then
    newttl = ARGV[2] + expiration
end
redis.call('pexpire', KEYS[1], newttl)
return 1
)";

// redis-py lock.py (Lock.LUA_REACQUIRE_SCRIPT): ARGV = token, ms.
const char kReacquire[] = R"(
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
)";

TEST(ScriptLockTest, CompareThenDelete) {
  SmHarness h;
  EXPECT_EQ(Eval(h, kRelease, {"lock"}, {"tok"}), I(0));  // no lock
  h.Run({"SET", "lock", "tok", "PX", "5000", "NX"});
  EXPECT_EQ(Eval(h, kRelease, {"lock"}, {"other"}), I(0));
  EXPECT_EQ(h.Run({"GET", "lock"}), B("tok"));
  EXPECT_EQ(Eval(h, kRelease, {"lock"}, {"tok"}), I(1));
  EXPECT_EQ(h.Run({"EXISTS", "lock"}), I(0));
}

TEST(ScriptLockTest, RedisPyExtend) {
  SmHarness h;
  h.Run({"SET", "lock", "tok", "PX", "5000"});
  h.AdvanceTime(1000);
  EXPECT_EQ(Eval(h, kExtend, {"lock"}, {"tok", "3000", "0"}), I(1));  // adds
  EXPECT_EQ(h.Run({"PTTL", "lock"}), I(7000));
  EXPECT_EQ(Eval(h, kExtend, {"lock"}, {"tok", "3000", "1"}), I(1));  // replaces
  EXPECT_EQ(h.Run({"PTTL", "lock"}), I(3000));
  EXPECT_EQ(Eval(h, kExtend, {"lock"}, {"other", "3000", "1"}), I(0));
  EXPECT_EQ(h.Run({"PTTL", "lock"}), I(3000));
  h.Run({"SET", "forever", "tok"});
  EXPECT_EQ(Eval(h, kExtend, {"forever"}, {"tok", "3000", "0"}), I(0));  // no TTL
  h.AdvanceTime(3000);
  EXPECT_EQ(Eval(h, kExtend, {"lock"}, {"tok", "3000", "0"}), I(0));  // expired
}

TEST(ScriptLockTest, RedisPyReacquire) {
  SmHarness h;
  h.Run({"SET", "lock", "tok", "PX", "5000"});
  h.AdvanceTime(4000);
  EXPECT_EQ(Eval(h, kReacquire, {"lock"}, {"tok", "10000"}), I(1));
  EXPECT_EQ(h.Run({"PTTL", "lock"}), I(10000));
  EXPECT_EQ(Eval(h, kReacquire, {"lock"}, {"other", "10000"}), I(0));
  EXPECT_EQ(Eval(h, kReacquire, {"nolock"}, {"tok", "10000"}), I(0));
}

}  // namespace
}  // namespace lockq::sm
