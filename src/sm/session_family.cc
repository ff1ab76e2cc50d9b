// Sessions (docs/locks.md "Sessions"), like etcd leases and ZooKeeper
// sessions: locks acquired with `SESSION id` are held while the session
// lives; when it expires (in leader time, through LOCKQ.EXPIRE) or closes,
// every lock it holds is released (holders told by a push) and its waiters
// are answered NOSESSION.
//
//   SESSION.OPEN ttl_ms        -> id
//   SESSION.KEEPALIVE id       -> ttl_ms (the session now lives that long)
//   SESSION.CLOSE id           -> 1 | NOSESSION
//   SESSION.INFO id            -> map {ttl_ms, remaining_ms, locks: [[name, token] ...]}

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }
Reply I(uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); }

std::optional<Reply> ParseTtl(std::string_view arg, uint64_t* ttl) {
  int64_t v;
  if (!ParseInt64(arg, &v)) return Err(errors::kNotInteger);
  if (v <= 0) return Reply::Error(errors::InvalidExpireTime("session.open"));
  *ttl = static_cast<uint64_t>(v);
  return std::nullopt;
}

std::optional<Reply> ValidateOpen(const Argv& argv) {
  uint64_t ttl;
  return ParseTtl(argv[1], &ttl);
}

Reply OpenCommand(CommandContext& ctx) {
  uint64_t ttl;
  if (auto err = ParseTtl(ctx.argv[1], &ttl)) return *err;
  if (ttl > static_cast<uint64_t>(INT64_MAX) - ctx.now_ms) {
    return Reply::Error(errors::InvalidExpireTime("session.open"));
  }
  uint64_t id = ctx.state.locks.OpenSession(ttl, ctx.now_ms);
  if (id == 0) return Err(errors::kTooManySessions);
  return I(id);
}

std::optional<Reply> ValidateId(const Argv& argv) {
  uint64_t id;
  if (!ParseUint64(argv[1], &id)) return Err(errors::kNotInteger);
  return std::nullopt;
}

// The live session named by argv[1], or the error to reply.
std::optional<Reply> LiveSession(CommandContext& ctx, uint64_t* id) {
  if (auto err = ValidateId(ctx.argv)) return err;
  ParseUint64(ctx.argv[1], id);
  if (!ctx.state.locks.SessionLive(*id, ctx.now_ms)) return Err(errors::kNoSession);
  return std::nullopt;
}

Reply KeepAliveCommand(CommandContext& ctx) {
  uint64_t id;
  if (auto err = LiveSession(ctx, &id)) return *err;
  ctx.state.locks.KeepAlive(id, ctx.now_ms);
  return I(ctx.state.locks.FindSession(id)->ttl_ms);
}

// Closing a session that already expired (not yet collected) is NOSESSION:
// its locks are gone already, as far as any command can tell.
Reply CloseCommand(CommandContext& ctx) {
  uint64_t id;
  if (auto err = LiveSession(ctx, &id)) return *err;
  ctx.state.locks.CloseSession(id, ctx.now_ms, &ctx.state.events);
  return I(1);
}

Reply InfoCommand(CommandContext& ctx) {
  uint64_t id;
  if (auto err = LiveSession(ctx, &id)) return *err;
  const LockTable& locks = ctx.state.locks;
  const Session* s = locks.FindSession(id);
  std::vector<Reply> held;
  if (const auto* holds = locks.SessionHolds(id)) {
    for (const auto& [name, token] : *holds) held.push_back(Reply::Array({Reply::Bulk(name), I(token)}));
  }
  return Reply::Map({Reply::Bulk("ttl_ms"), I(s->ttl_ms),
                     Reply::Bulk("remaining_ms"), I(s->deadline_ms - ctx.now_ms),
                     Reply::Bulk("locks"), Reply::Array(std::move(held))});
}

}  // namespace

void AddSessionFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  t->insert(t->end(), {
      {{"SESSION.OPEN", 2, kW, 0, 0, 0, kAclLock, kKeyAny}, OpenCommand, ValidateOpen},
      {{"SESSION.KEEPALIVE", 2, kW, 0, 0, 0, kAclLock, kKeyAny}, KeepAliveCommand, ValidateId},
      {{"SESSION.CLOSE", 2, kW, 0, 0, 0, kAclLock, kKeyAny}, CloseCommand, ValidateId},
      {{"SESSION.INFO", 2, kCmdReadOnly | kCmdFast, 0, 0, 0, kAclLock, kKeyAny}, InfoCommand, ValidateId},
  });
}

}  // namespace lockq::sm
