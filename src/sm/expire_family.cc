// TTL commands (compare Redis src/expire.c): EXPIRE, PEXPIRE, EXPIREAT,
// PEXPIREAT with NX/XX/GT/LT, PERSIST, TTL, PTTL, EXPIRETIME, PEXPIRETIME.
// Deadlines are absolute state machine times (ms); "now" is the batch's
// clock, never a local one.

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

struct ExpireArgs {
  int64_t when = 0;  // as given; may be negative (Redis then deletes the key)
  bool nx = false, xx = false, gt = false, lt = false;
};

// Redis 7 parseExtendedExpireArgumentsOrReply(), then the integer.
std::optional<Reply> ParseExpire(const Argv& argv, ExpireArgs* a) {
  for (size_t j = 3; j < argv.size(); j++) {
    const std::string& opt = argv[j];
    if (EqualsIgnoreCase(opt, "NX")) a->nx = true;
    else if (EqualsIgnoreCase(opt, "XX")) a->xx = true;
    else if (EqualsIgnoreCase(opt, "GT")) a->gt = true;
    else if (EqualsIgnoreCase(opt, "LT")) a->lt = true;
    else return Reply::Error(errors::UnsupportedOption(opt));
  }
  if (a->nx && (a->xx || a->gt || a->lt)) return Err(errors::kExpireNxConflict);
  if (a->gt && a->lt) return Err(errors::kExpireGtLtConflict);
  if (!ParseInt64(argv[2], &a->when)) return Err(errors::kNotInteger);
  return std::nullopt;
}

std::optional<Reply> ValidateExpire(const Argv& argv) {
  ExpireArgs a;
  return ParseExpire(argv, &a);
}

// The absolute deadline in ms (possibly <= 0), or nullopt on overflow.
std::optional<int64_t> AbsoluteWhen(const std::string& command, int64_t when, uint64_t now_ms) {
  std::string name = ToUpper(command);
  bool seconds = name == "EXPIRE" || name == "EXPIREAT";
  bool relative = name == "EXPIRE" || name == "PEXPIRE";
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) return std::nullopt;
    when *= 1000;
  }
  int64_t base = relative ? static_cast<int64_t>(now_ms) : 0;
  if (when > INT64_MAX - base) return std::nullopt;
  return when + base;
}

// NX/XX/GT/LT against the current deadline (-1 = none, "infinite").
bool ConditionsAllow(const ExpireArgs& a, int64_t when, int64_t current) {
  if (a.nx && current != -1) return false;
  if (a.xx && current == -1) return false;
  if (a.gt && (current == -1 || when <= current)) return false;
  if (a.lt && current != -1 && when >= current) return false;
  return true;
}

Reply ExpireCommand(CommandContext& ctx) {
  ExpireArgs a;
  if (std::optional<Reply> err = ParseExpire(ctx.argv, &a)) return *err;
  std::optional<int64_t> when = AbsoluteWhen(ctx.argv[0], a.when, ctx.now_ms);
  if (!when) return Reply::Error(errors::InvalidExpireTime(ctx.argv[0]));
  Keyspace& ks = ctx.state.keyspace;
  const Value* v = ks.Find(ctx.argv[1], ctx.now_ms);
  if (v == nullptr) return Reply::Int(0);
  int64_t current = v->deadline_ms == 0 ? -1 : static_cast<int64_t>(v->deadline_ms);
  if (!ConditionsAllow(a, *when, current)) return Reply::Int(0);
  // A deadline already reached deletes the key (Redis checkAlreadyExpired).
  if (*when <= static_cast<int64_t>(ctx.now_ms)) {
    ks.Erase(ctx.argv[1], ctx.now_ms);
  } else {
    ks.SetDeadline(ctx.argv[1], static_cast<uint64_t>(*when));
  }
  return Reply::Int(1);
}

Reply PersistCommand(CommandContext& ctx) {
  Keyspace& ks = ctx.state.keyspace;
  const Value* v = ks.Find(ctx.argv[1], ctx.now_ms);
  if (v == nullptr || v->deadline_ms == 0) return Reply::Int(0);
  ks.SetDeadline(ctx.argv[1], 0);
  return Reply::Int(1);
}

// Redis ttlGenericCommand(): -2 missing, -1 no TTL; seconds round to nearest.
Reply TtlGeneric(CommandContext& ctx, bool in_ms, bool absolute) {
  const Value* v = ctx.state.keyspace.Find(ctx.argv[1], ctx.now_ms);
  if (v == nullptr) return Reply::Int(-2);
  if (v->deadline_ms == 0) return Reply::Int(-1);
  // Live, so deadline_ms > now_ms; the deadline itself always fits int64.
  int64_t ttl = static_cast<int64_t>(absolute ? v->deadline_ms : v->deadline_ms - ctx.now_ms);
  return Reply::Int(in_ms ? ttl : (ttl + 500) / 1000);
}

Reply TtlCommand(CommandContext& ctx) { return TtlGeneric(ctx, false, false); }
Reply PTtlCommand(CommandContext& ctx) { return TtlGeneric(ctx, true, false); }
Reply ExpireTimeCommand(CommandContext& ctx) { return TtlGeneric(ctx, false, true); }
Reply PExpireTimeCommand(CommandContext& ctx) { return TtlGeneric(ctx, true, true); }

}  // namespace

void AddExpireFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  constexpr uint32_t kR = kCmdReadOnly | kCmdFast;
  t->insert(t->end(), {
      {{"EXPIRE", -3, kW, 1, 1, 1, kAclKeyspace, kKeyWrite}, ExpireCommand, ValidateExpire},
      {{"PEXPIRE", -3, kW, 1, 1, 1, kAclKeyspace, kKeyWrite}, ExpireCommand, ValidateExpire},
      {{"EXPIREAT", -3, kW, 1, 1, 1, kAclKeyspace, kKeyWrite}, ExpireCommand, ValidateExpire},
      {{"PEXPIREAT", -3, kW, 1, 1, 1, kAclKeyspace, kKeyWrite}, ExpireCommand, ValidateExpire},
      {{"PERSIST", 2, kW, 1, 1, 1, kAclKeyspace, kKeyWrite}, PersistCommand, nullptr},
      {{"TTL", 2, kR, 1, 1, 1, kAclKeyspace, kKeyRead}, TtlCommand, nullptr},
      {{"PTTL", 2, kR, 1, 1, 1, kAclKeyspace, kKeyRead}, PTtlCommand, nullptr},
      {{"EXPIRETIME", 2, kR, 1, 1, 1, kAclKeyspace, kKeyRead}, ExpireTimeCommand, nullptr},
      {{"PEXPIRETIME", 2, kR, 1, 1, 1, kAclKeyspace, kKeyRead}, PExpireTimeCommand, nullptr},
  });
}

}  // namespace lockq::sm
