// Native lock commands, the non-blocking part (docs/design/native-locks.md):
//
//   LOCK.ACQUIRE name [SHARED] [TTL ms] [OWNER tag]  -> [token, lease_ms] | nil
//   LOCK.RELEASE name token                          -> 1 | NOTOWNER | STALETOKEN
//   LOCK.RENEW   name token [TTL ms]                 -> lease_ms | NOTOWNER | STALETOKEN
//   LOCK.INFO    name                                -> map
//   LOCK.LIST    [MATCH pattern]                     -> names of held locks
//
// Handlers parse, check, then change the LockTable (locks.h): a failing
// command changes nothing. Times are the batch's clock, never a local one.
// WAIT (blocking acquire) and SESSION are not built yet.

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/glob.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

// A lease in ms: a positive integer (Redis's rule for SET PX).
std::optional<Reply> ParseLeaseMs(std::string_view arg, std::string_view command,
                                  uint64_t* lease_ms) {
  int64_t v;
  if (!ParseInt64(arg, &v)) return Err(errors::kNotInteger);
  if (v <= 0) return Reply::Error(errors::InvalidExpireTime(command));
  *lease_ms = static_cast<uint64_t>(v);
  return std::nullopt;
}

// now + lease, or nullopt beyond INT64_MAX (deadlines must fit int64).
std::optional<uint64_t> LeaseDeadline(uint64_t now_ms, uint64_t lease_ms) {
  if (lease_ms > static_cast<uint64_t>(INT64_MAX) - now_ms) return std::nullopt;
  return now_ms + lease_ms;
}

// ---- LOCK.ACQUIRE -------------------------------------------------------------

struct AcquireArgs {
  bool shared = false;
  uint64_t lease_ms = kLockTtlDefaultMs;
  std::string_view owner;
};

std::optional<Reply> ParseAcquire(const Argv& argv, AcquireArgs* a) {
  for (size_t j = 2; j < argv.size(); j++) {
    std::string_view opt = argv[j];
    bool has_next = j + 1 < argv.size();
    if (EqualsIgnoreCase(opt, "SHARED")) {
      a->shared = true;
    } else if (EqualsIgnoreCase(opt, "WAIT")) {
      return Err(errors::kLockWaitUnsupported);
    } else if (EqualsIgnoreCase(opt, "TTL") && has_next) {
      if (auto err = ParseLeaseMs(argv[++j], "lock.acquire", &a->lease_ms)) return err;
    } else if (EqualsIgnoreCase(opt, "OWNER") && has_next) {
      a->owner = argv[++j];
      if (a->owner.size() > kLockOwnerMax) return Err(errors::kLockOwnerTooLong);
    } else {
      return Err(errors::kSyntax);
    }
  }
  return std::nullopt;
}

std::optional<Reply> ValidateAcquire(const Argv& argv) {
  AcquireArgs a;
  return ParseAcquire(argv, &a);
}

Reply AcquireCommand(CommandContext& ctx) {
  AcquireArgs a;
  if (std::optional<Reply> err = ParseAcquire(ctx.argv, &a)) return *err;
  std::optional<uint64_t> deadline = LeaseDeadline(ctx.now_ms, a.lease_ms);
  if (!deadline) return Reply::Error(errors::InvalidExpireTime("lock.acquire"));
  AcquireResult r = ctx.state.locks.TryAcquire(ctx.argv[1], a.shared, a.owner, a.lease_ms,
                                               *deadline, ctx.now_ms);
  switch (r.outcome) {
    case AcquireOutcome::kConflict:
      return Reply::Null();
    case AcquireOutcome::kTableFull:
      return Err(errors::kTooManyLocks);
    case AcquireOutcome::kGranted:
      break;
  }
  return Reply::Array({Reply::Int(static_cast<int64_t>(r.token)),
                       Reply::Int(static_cast<int64_t>(a.lease_ms))});
}

// ---- LOCK.RELEASE / LOCK.RENEW ------------------------------------------------

// The token argument; tokens are granted from 1 up, so they fit int64.
std::optional<Reply> ParseToken(std::string_view arg, uint64_t* token) {
  if (!ParseUint64(arg, token)) return Err(errors::kNotInteger);
  return std::nullopt;
}

std::optional<Reply> CheckHolder(CommandContext& ctx, uint64_t token) {
  switch (ctx.state.locks.Check(ctx.argv[1], token, ctx.now_ms)) {
    case LockCheck::kHolder:
      return std::nullopt;
    case LockCheck::kStale:
      return Err(errors::kStaleToken);
    case LockCheck::kNotOwner:
      break;
  }
  return Err(errors::kNotOwner);
}

std::optional<Reply> ValidateRelease(const Argv& argv) {
  uint64_t token;
  return ParseToken(argv[2], &token);
}

Reply ReleaseCommand(CommandContext& ctx) {
  uint64_t token;
  if (auto err = ParseToken(ctx.argv[2], &token)) return *err;
  if (auto err = CheckHolder(ctx, token)) return *err;
  ctx.state.locks.Release(ctx.argv[1], token);
  return Reply::Int(1);
}

// LOCK.RENEW name token [TTL ms]; lease_ms stays 0 without TTL (the
// holder's last lease is reused).
std::optional<Reply> ParseRenew(const Argv& argv, uint64_t* token, uint64_t* lease_ms) {
  if (auto err = ParseToken(argv[2], token)) return err;
  if (argv.size() == 3) return std::nullopt;
  if (argv.size() != 5 || !EqualsIgnoreCase(argv[3], "TTL")) return Err(errors::kSyntax);
  return ParseLeaseMs(argv[4], "lock.renew", lease_ms);
}

std::optional<Reply> ValidateRenew(const Argv& argv) {
  uint64_t token, lease_ms = 0;
  return ParseRenew(argv, &token, &lease_ms);
}

Reply RenewCommand(CommandContext& ctx) {
  uint64_t token, lease_ms = 0;
  if (auto err = ParseRenew(ctx.argv, &token, &lease_ms)) return *err;
  if (auto err = CheckHolder(ctx, token)) return *err;
  if (lease_ms == 0) lease_ms = ctx.state.locks.Find(ctx.argv[1])->holders.at(token).lease_ms;
  std::optional<uint64_t> deadline = LeaseDeadline(ctx.now_ms, lease_ms);
  if (!deadline) return Reply::Error(errors::InvalidExpireTime("lock.renew"));
  ctx.state.locks.Renew(ctx.argv[1], token, lease_ms, *deadline);
  return Reply::Int(static_cast<int64_t>(lease_ms));
}

// ---- LOCK.INFO / LOCK.LIST ----------------------------------------------------

Reply HolderInfo(uint64_t token, const LockHolder& h, uint64_t now_ms) {
  auto i = [](uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); };
  return Reply::Map({Reply::Bulk("token"), i(token),
                     Reply::Bulk("owner"), Reply::Bulk(h.owner),
                     Reply::Bulk("since_ms"), i(h.since_ms),
                     Reply::Bulk("expires_ms"), i(h.deadline_ms),
                     Reply::Bulk("remaining_ms"), i(h.deadline_ms - now_ms)});
}

// mode: "exclusive" | "shared" | "free"; holders: live ones, token order;
// last_token: the newest grant on this lock (what FENCE compares with), 0
// when never granted.
Reply InfoCommand(CommandContext& ctx) {
  const LockRecord* rec = ctx.state.locks.Find(ctx.argv[1]);
  std::vector<Reply> holders;
  if (rec != nullptr) {
    for (const auto& [token, h] : rec->holders) {
      if (LockTable::Live(h, ctx.now_ms)) holders.push_back(HolderInfo(token, h, ctx.now_ms));
    }
  }
  std::string mode = holders.empty() ? "free" : rec->shared ? "shared" : "exclusive";
  uint64_t last = rec == nullptr ? 0 : rec->last_grant;
  return Reply::Map({Reply::Bulk("mode"), Reply::Bulk(std::move(mode)),
                     Reply::Bulk("holders"), Reply::Array(std::move(holders)),
                     Reply::Bulk("last_token"), Reply::Int(static_cast<int64_t>(last))});
}

std::optional<Reply> ParseList(const Argv& argv, std::string_view* pattern) {
  if (argv.size() == 1) return std::nullopt;
  if (argv.size() != 3 || !EqualsIgnoreCase(argv[1], "MATCH")) return Err(errors::kSyntax);
  *pattern = argv[2];
  return std::nullopt;
}

std::optional<Reply> ValidateList(const Argv& argv) {
  std::string_view pattern = "*";
  return ParseList(argv, &pattern);
}

// Names of held locks in name order. Bounded like KEYS: the whole table is
// walked, so a table beyond kKeysScanMax records is refused.
Reply ListCommand(CommandContext& ctx) {
  std::string_view pattern = "*";
  if (auto err = ParseList(ctx.argv, &pattern)) return *err;
  const LockTable& locks = ctx.state.locks;
  if (locks.size() > kKeysScanMax) return Err(errors::kLockListTooMany);
  bool all = pattern == "*";
  std::vector<Reply> out;
  for (const auto& [name, rec] : locks.map()) {
    if (!LockTable::Held(rec, ctx.now_ms)) continue;
    if (all || GlobMatch(pattern, name)) out.push_back(Reply::Bulk(name));
  }
  return Reply::Array(std::move(out));
}

}  // namespace

void AddLockFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  constexpr uint32_t kR = kCmdReadOnly | kCmdFast;
  t->insert(t->end(), {
      {{"LOCK.ACQUIRE", -2, kW, 1, 1, 1}, AcquireCommand, ValidateAcquire},
      {{"LOCK.RELEASE", 3, kW, 1, 1, 1}, ReleaseCommand, ValidateRelease},
      {{"LOCK.RENEW", -3, kW, 1, 1, 1}, RenewCommand, ValidateRenew},
      {{"LOCK.INFO", 2, kR, 1, 1, 1}, InfoCommand, nullptr},
      {{"LOCK.LIST", -1, kCmdReadOnly, 0, 0, 0}, ListCommand, ValidateList},
  });
}

}  // namespace lockq::sm
