#pragma once
// Every error line the state machine (and the front ends, for the commands
// they answer themselves) sends, in one place (STYLE.md habit 3). Wording
// follows Redis 7 exactly, because client libraries match on it (redis-py
// maps "WRONGTYPE", "NOSCRIPT", ... to exception classes). A Reply::Error
// line carries no leading '-'.

#include <string>
#include <string_view>

#include "sm/command.h"

namespace lockq::sm::errors {

inline constexpr std::string_view kSyntax = "ERR syntax error";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kIncrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kDecrementOverflow = "ERR decrement would overflow";
inline constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kDbIndexOutOfRange = "ERR DB index is out of range";
inline constexpr std::string_view kInvalidCursor = "ERR invalid cursor";
inline constexpr std::string_view kExpireNxConflict =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
inline constexpr std::string_view kExpireGtLtConflict =
    "ERR GT and LT options at the same time are not compatible";
inline constexpr std::string_view kKeysTooMany =
    "ERR KEYS would scan more than 100000 keys; use SCAN";
inline constexpr std::string_view kNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kNoScript = "NOSCRIPT No matching script. Please use EVAL.";
inline constexpr std::string_view kNoAuth = "NOAUTH Authentication required.";
inline constexpr std::string_view kEmptyCommand = "ERR empty command";
inline constexpr std::string_view kTooManyNodes = "ERR too many nodes announced";

// Native locks (lock_family.cc, SET ... FENCE). NOTOWNER and STALETOKEN are
// lockq's own error codes (docs/design/native-locks.md).
inline constexpr std::string_view kNotOwner = "NOTOWNER lock is not held with this token";
inline constexpr std::string_view kStaleToken =
    "STALETOKEN token is older than the lock's current grant";
inline constexpr std::string_view kFenceStale =
    "STALETOKEN fencing token is older than the lock's current grant";
inline constexpr std::string_view kLockWaitNoClient =
    "ERR WAIT needs a client connection (it is refused inside scripts)";
inline constexpr std::string_view kLockAlreadyWaiting = "ERR this request is already waiting";
inline constexpr std::string_view kTooManyWaiters = "ERR too many lock waiters (1000000)";
inline constexpr std::string_view kPermitsMismatch =
    "ERR semaphore is held with a different number of permits";
inline constexpr std::string_view kPermitsRange = "ERR permits must be between 1 and 1000000";
inline constexpr std::string_view kLockHeldBySession =
    "ERR lock is held through a session; renew it with SESSION.KEEPALIVE";
// Signed grants (signkey_family.cc, LOCK.ACQUIRE ... SIGNED).
inline constexpr std::string_view kNoSigningKey =
    "ERR no grant signing key; create one with LOCK.SIGNKEY ROTATE";
inline constexpr std::string_view kSignKeyMissing =
    "ERR LOCK.SIGNKEY needs KEY <64 hex digits> (lockqd adds a random one)";
inline constexpr std::string_view kSignKeyBad = "ERR KEY must be 64 hex digits (32 bytes)";
inline constexpr std::string_view kSignKeyUnknown = "ERR no such signing key";
inline constexpr std::string_view kSignKeyIsSigning =
    "ERR the key is signing; ROTATE to a new key or RETIRE it first";
inline constexpr std::string_view kTooManySignKeys = "ERR too many signing keys (16); REMOVE old ones";
// Sessions (session_family.cc). NOSESSION is lockq's own code.
inline constexpr std::string_view kNoSession = "NOSESSION no such session (closed or expired)";
inline constexpr std::string_view kNoSessionWhileWaiting =
    "NOSESSION the session ended while the request waited";
inline constexpr std::string_view kTooManySessions = "ERR too many sessions (1000000)";
inline constexpr std::string_view kLockOwnerTooLong = "ERR OWNER tag longer than 256 bytes";
inline constexpr std::string_view kTooManyLocks = "ERR too many locks (1000000)";
inline constexpr std::string_view kLockListTooMany =
    "ERR LOCK.LIST would scan more than 100000 locks";

// Scripting (script_family.cc, lua_engine.cc), Redis 7 wording where Redis
// has one (src/eval.c, src/script.c, src/script_lua.c).
inline constexpr std::string_view kNumKeysTooBig =
    "ERR Number of keys can't be greater than number of args";
inline constexpr std::string_view kNumKeysNegative = "ERR Number of keys can't be negative";
inline constexpr std::string_view kScriptCacheFull =
    "ERR script cache is full (10000 scripts or 64 MiB of source); use SCRIPT FLUSH";
inline constexpr std::string_view kScriptFlushOption =
    "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
inline constexpr std::string_view kNotBusy = "NOTBUSY No scripts in execution right now.";
// Errors of redis.call()/redis.pcall() (without "ERR ": the engine adds it,
// as Redis's luaPushError does).
inline constexpr std::string_view kScriptUnknownCommand = "Unknown Redis command called from script";
inline constexpr std::string_view kScriptCommandNotAllowed =
    "This Redis command is not allowed from script";
inline constexpr std::string_view kScriptWrongArity =
    "Wrong number of args calling Redis command from script";
inline constexpr std::string_view kScriptWriteInReadOnly =
    "Write commands are not allowed from read-only scripts.";
inline constexpr std::string_view kScriptNoArgs =
    "Please specify at least one argument for this redis lib call";
inline constexpr std::string_view kScriptBadArgType =
    "Lua redis lib command arguments must be strings or integers";

// "ERR unknown subcommand 'foo'. Try SCRIPT HELP."
std::string UnknownSubcommand(std::string_view command, std::string_view sub);
// "ERR Error compiling script (new function): user_script:1: ..."
std::string ScriptCompile(std::string_view lua_message);
// "ERR Script exceeded the instruction budget of N instructions"
std::string ScriptBudgetExceeded(uint64_t instructions);
// "ERR Script exceeded the memory limit of N bytes"
std::string ScriptMemoryExceeded(uint64_t bytes);

// "ERR wrong number of arguments for 'get' command" (lower-case name).
std::string WrongArity(std::string_view command_name);
// "ERR invalid expire time in 'set' command" (lower-case name).
std::string InvalidExpireTime(std::string_view command_name);
// "ERR Unsupported option foo" (EXPIRE's option parser).
std::string UnsupportedOption(std::string_view option);
// "ERR unknown command 'foo', with args beginning with: 'a' 'b' " -- Redis
// quotes at most ~128 bytes of arguments and turns CR/LF into spaces so the
// line stays one RESP simple error.
std::string UnknownCommand(const Argv& argv);

}  // namespace lockq::sm::errors
