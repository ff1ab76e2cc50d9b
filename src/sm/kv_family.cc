// String commands (compare Redis src/t_string.c): SET and its variants share
// one path, SetGeneric(), as Redis's setGenericCommand() does. SET also takes
// lockq's `FENCE lockname token` option (docs/design/native-locks.md): the
// write is refused when token is older than the lock's newest grant.

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/expire_util.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

// ---- SET options ----------------------------------------------------------

struct SetOptions {
  bool nx = false, xx = false, get = false, keepttl = false;
  ExpireSpec expire;              // kind kNone when no EX/PX/EXAT/PXAT
  std::string_view expire_arg;    // the TTL argument as given
  bool fence = false;             // FENCE lockname token (lockq extension)
  std::string_view fence_lock;
  std::string_view fence_token_arg;
  uint64_t fence_token = 0;
};

// Redis 7 parseExtendedStringArgumentsOrReply(): an option conflicting with
// one seen earlier is a syntax error; repeating the same option is allowed
// (the last value wins).
bool ParseOneSetOption(const Argv& argv, size_t* j, SetOptions* o) {
  std::string_view opt = argv[*j];
  bool has_next = *j + 1 < argv.size();
  bool any_expire = o->expire.kind != ExpireKind::kNone;
  if (EqualsIgnoreCase(opt, "NX") && !o->xx) {
    o->nx = true;
  } else if (EqualsIgnoreCase(opt, "XX") && !o->nx) {
    o->xx = true;
  } else if (EqualsIgnoreCase(opt, "GET")) {
    o->get = true;
  } else if (EqualsIgnoreCase(opt, "KEEPTTL") && !any_expire) {
    o->keepttl = true;
  } else if (EqualsIgnoreCase(opt, "FENCE")) {
    if (*j + 2 >= argv.size()) return false;
    o->fence = true;
    o->fence_lock = argv[++*j];
    o->fence_token_arg = argv[++*j];
  } else {
    std::optional<ExpireKind> kind = ExpireOptionKind(opt);
    if (!kind || !has_next || o->keepttl || (any_expire && o->expire.kind != *kind)) return false;
    o->expire.kind = *kind;
    o->expire_arg = argv[++*j];
  }
  return true;
}

std::optional<Reply> ParseSet(const Argv& argv, SetOptions* o) {
  for (size_t j = 3; j < argv.size(); j++) {
    if (!ParseOneSetOption(argv, &j, o)) return Err(errors::kSyntax);
  }
  if (o->fence && !ParseUint64(o->fence_token_arg, &o->fence_token)) {
    return Err(errors::kNotInteger);
  }
  if (o->expire.kind == ExpireKind::kNone) return std::nullopt;
  return ParseExpireValue(o->expire_arg, "set", &o->expire);
}

// ---- the shared SET path --------------------------------------------------

struct SetCall {
  std::string_view command;  // for the expire error, e.g. "setex"
  const std::string& key;
  const std::string& value;
  SetOptions opts;
  Reply ok_reply = Reply::Ok();
  Reply abort_reply = Reply::Null();
};

Reply SetGeneric(CommandContext& ctx, const SetCall& call) {
  uint64_t deadline = 0;
  if (call.opts.expire.kind != ExpireKind::kNone) {
    std::optional<uint64_t> d = ExpireDeadline(call.opts.expire, ctx.now_ms);
    if (!d) return Reply::Error(errors::InvalidExpireTime(call.command));
    deadline = *d;
  }
  Keyspace& ks = ctx.state.keyspace;
  const Value* old = ks.Find(call.key, ctx.now_ms);
  if (call.opts.get && old != nullptr && old->type != ValueType::kString) {
    return Err(errors::kWrongType);
  }
  Reply get_reply = old != nullptr && call.opts.get ? Reply::Bulk(old->str) : Reply::Null();
  if ((call.opts.nx && old != nullptr) || (call.opts.xx && old == nullptr)) {
    return call.opts.get ? get_reply : call.abort_reply;
  }
  if (call.opts.keepttl && old != nullptr) deadline = old->deadline_ms;
  ks.Put(call.key, Value{ValueType::kString, call.value, deadline}, ctx.now_ms);
  return call.opts.get ? get_reply : call.ok_reply;
}

std::optional<Reply> ValidateSet(const Argv& argv) {
  SetOptions o;
  return ParseSet(argv, &o);
}

Reply SetCommand(CommandContext& ctx) {
  SetOptions o;
  if (std::optional<Reply> err = ParseSet(ctx.argv, &o)) return *err;
  // FENCE: a holder that lost its lock (expiry, a newer grant) must not
  // write; checked before anything changes, so the rejection is atomic.
  if (o.fence) {
    if (!ctx.state.locks.FenceAdmits(o.fence_lock, o.fence_token)) return Err(errors::kFenceStale);
  }
  return SetGeneric(ctx, SetCall{"set", ctx.argv[1], ctx.argv[2], o});
}

Reply SetNxCommand(CommandContext& ctx) {
  SetOptions o;
  o.nx = true;
  return SetGeneric(ctx, SetCall{"setnx", ctx.argv[1], ctx.argv[2], o, Reply::Int(1),
                                 Reply::Int(0)});
}

// SETEX key seconds value / PSETEX key ms value.
std::optional<Reply> ParseSetEx(const Argv& argv, SetOptions* o) {
  bool ms = EqualsIgnoreCase(argv[0], "PSETEX");
  o->expire.kind = ms ? ExpireKind::kPx : ExpireKind::kEx;
  return ParseExpireValue(argv[2], ms ? "psetex" : "setex", &o->expire);
}

std::optional<Reply> ValidateSetEx(const Argv& argv) {
  SetOptions o;
  return ParseSetEx(argv, &o);
}

Reply SetExCommand(CommandContext& ctx) {
  SetOptions o;
  if (std::optional<Reply> err = ParseSetEx(ctx.argv, &o)) return *err;
  std::string_view name = o.expire.kind == ExpireKind::kPx ? "psetex" : "setex";
  return SetGeneric(ctx, SetCall{name, ctx.argv[1], ctx.argv[3], o});
}

// ---- reads and simple writes -----------------------------------------------

Reply GetCommand(CommandContext& ctx) {
  const Value* v = ctx.state.keyspace.Find(ctx.argv[1], ctx.now_ms);
  if (v == nullptr) return Reply::Null();
  if (v->type != ValueType::kString) return Err(errors::kWrongType);
  return Reply::Bulk(v->str);
}

Reply GetDelCommand(CommandContext& ctx) {
  Reply r = GetCommand(ctx);
  if (r.kind == Reply::Kind::kBulk) ctx.state.keyspace.Erase(ctx.argv[1], ctx.now_ms);
  return r;
}

// GETSET key value: SET key value GET (drops any TTL).
Reply GetSetCommand(CommandContext& ctx) {
  SetOptions o;
  o.get = true;
  return SetGeneric(ctx, SetCall{"getset", ctx.argv[1], ctx.argv[2], o});
}

Reply AppendCommand(CommandContext& ctx) {
  Keyspace& ks = ctx.state.keyspace;
  Value* v = ks.FindMutable(ctx.argv[1], ctx.now_ms);
  if (v == nullptr) {
    ks.Put(ctx.argv[1], Value{ValueType::kString, ctx.argv[2], 0}, ctx.now_ms);
    return Reply::Int(static_cast<int64_t>(ctx.argv[2].size()));
  }
  if (v->type != ValueType::kString) return Err(errors::kWrongType);
  v->str += ctx.argv[2];  // keeps the TTL, as Redis does
  return Reply::Int(static_cast<int64_t>(v->str.size()));
}

Reply StrLenCommand(CommandContext& ctx) {
  const Value* v = ctx.state.keyspace.Find(ctx.argv[1], ctx.now_ms);
  if (v == nullptr) return Reply::Int(0);
  if (v->type != ValueType::kString) return Err(errors::kWrongType);
  return Reply::Int(static_cast<int64_t>(v->str.size()));
}

// ---- INCR family ------------------------------------------------------------

// The increment INCR/DECR/INCRBY/DECRBY apply, or the error reply.
std::optional<Reply> ParseIncrement(const Argv& argv, int64_t* incr) {
  std::string name = ToUpper(argv[0]);
  if (name == "INCR" || name == "DECR") {
    *incr = name == "INCR" ? 1 : -1;
    return std::nullopt;
  }
  if (!ParseInt64(argv[2], incr)) return Err(errors::kNotInteger);
  if (name == "DECRBY") {
    if (*incr == INT64_MIN) return Err(errors::kDecrementOverflow);
    *incr = -*incr;
  }
  return std::nullopt;
}

std::optional<Reply> ValidateIncr(const Argv& argv) {
  int64_t incr;
  return ParseIncrement(argv, &incr);
}

Reply IncrCommand(CommandContext& ctx) {
  int64_t incr;
  if (std::optional<Reply> err = ParseIncrement(ctx.argv, &incr)) return *err;
  Keyspace& ks = ctx.state.keyspace;
  Value* v = ks.FindMutable(ctx.argv[1], ctx.now_ms);
  int64_t old = 0;
  if (v != nullptr) {
    if (v->type != ValueType::kString) return Err(errors::kWrongType);
    if (!ParseInt64(v->str, &old)) return Err(errors::kNotInteger);
  }
  if ((incr < 0 && old < 0 && incr < INT64_MIN - old) ||
      (incr > 0 && old > 0 && incr > INT64_MAX - old)) {
    return Err(errors::kIncrOverflow);
  }
  int64_t result = old + incr;
  if (v != nullptr) {
    v->str = FormatInt64(result);  // keeps the TTL
  } else {
    ks.Put(ctx.argv[1], Value{ValueType::kString, FormatInt64(result), 0}, ctx.now_ms);
  }
  return Reply::Int(result);
}

// ---- multi-key ----------------------------------------------------------------

Reply MGetCommand(CommandContext& ctx) {
  std::vector<Reply> out;
  out.reserve(ctx.argv.size() - 1);
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    const Value* v = ctx.state.keyspace.Find(ctx.argv[i], ctx.now_ms);
    // Redis answers nil, not WRONGTYPE, for a key of another type.
    bool str = v != nullptr && v->type == ValueType::kString;
    out.push_back(str ? Reply::Bulk(v->str) : Reply::Null());
  }
  return Reply::Array(std::move(out));
}

std::optional<Reply> ValidateMSet(const Argv& argv) {
  if (argv.size() % 2 == 0) return Reply::Error(errors::WrongArity(argv[0]));
  return std::nullopt;
}

void PutPairs(CommandContext& ctx) {
  for (size_t i = 1; i + 1 < ctx.argv.size(); i += 2) {
    ctx.state.keyspace.Put(ctx.argv[i], Value{ValueType::kString, ctx.argv[i + 1], 0},
                           ctx.now_ms);
  }
}

Reply MSetCommand(CommandContext& ctx) {
  if (std::optional<Reply> err = ValidateMSet(ctx.argv)) return *err;
  PutPairs(ctx);
  return Reply::Ok();
}

Reply MSetNxCommand(CommandContext& ctx) {
  if (std::optional<Reply> err = ValidateMSet(ctx.argv)) return *err;
  for (size_t i = 1; i < ctx.argv.size(); i += 2) {
    if (ctx.state.keyspace.Find(ctx.argv[i], ctx.now_ms) != nullptr) return Reply::Int(0);
  }
  PutPairs(ctx);
  return Reply::Int(1);
}

}  // namespace

void AddKvFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite;
  constexpr uint32_t kR = kCmdReadOnly | kCmdFast;
  constexpr uint32_t kWf = kCmdWrite | kCmdFast;
  t->insert(t->end(), {
      {{"GET", 2, kR, 1, 1, 1, kAclString, kKeyRead}, GetCommand, nullptr},
      {{"SET", -3, kW, 1, 1, 1, kAclString, kKeyWrite}, SetCommand, ValidateSet, AclSetKeys},
      {{"SETNX", 3, kWf, 1, 1, 1, kAclString, kKeyWrite}, SetNxCommand, nullptr},
      {{"SETEX", 4, kW, 1, 1, 1, kAclString, kKeyWrite}, SetExCommand, ValidateSetEx},
      {{"PSETEX", 4, kW, 1, 1, 1, kAclString, kKeyWrite}, SetExCommand, ValidateSetEx},
      {{"GETDEL", 2, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, GetDelCommand, nullptr},
      {{"GETSET", 3, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, GetSetCommand, nullptr},
      {{"APPEND", 3, kWf, 1, 1, 1, kAclString, kKeyWrite}, AppendCommand, nullptr},
      {{"STRLEN", 2, kR, 1, 1, 1, kAclString, kKeyAny}, StrLenCommand, nullptr},
      {{"INCR", 2, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, IncrCommand, ValidateIncr},
      {{"DECR", 2, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, IncrCommand, ValidateIncr},
      {{"INCRBY", 3, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, IncrCommand, ValidateIncr},
      {{"DECRBY", 3, kWf, 1, 1, 1, kAclString, kKeyReadWrite}, IncrCommand, ValidateIncr},
      {{"MGET", -2, kR, 1, -1, 1, kAclString, kKeyRead}, MGetCommand, nullptr},
      {{"MSET", -3, kW, 1, -1, 2, kAclString, kKeyWrite}, MSetCommand, ValidateMSet},
      {{"MSETNX", -3, kW, 1, -1, 2, kAclString, kKeyWrite}, MSetNxCommand, ValidateMSet},
  });
}

}  // namespace lockq::sm
