// Native lock commands (docs/locks.md):
//
//   LOCK.ACQUIRE name [SHARED | SEMAPHORE permits] [TTL ms | SESSION id]
//                [WAIT ms] [OWNER tag] [SIGNED]
//                                            -> [token, guaranteed_ms(, grant)] | nil
//   LOCK.RELEASE name token                  -> 1 | NOTOWNER | STALETOKEN
//   LOCK.RENEW   name token [TTL ms]         -> guaranteed_ms | NOTOWNER | STALETOKEN
//   LOCK.SIGN    name token                  -> grant (a fresh signed grant)
//   LOCK.INFO    name                        -> map
//   LOCK.LIST    [MATCH pattern]             -> names of held locks
//
// Handlers parse, check, then change the LockTable (locks.h): a failing
// command changes nothing. Times are the batch's clock, never a local one.
// A WAITing acquire that cannot be granted at once replies
// Reply::Deferred(); its grant, timeout or NOSESSION arrives later as an
// Event for the client connection named by ctx.client (LOCKQ.AS).

#include <optional>
#include <string>

#include "sm/errors.h"
#include "sm/glob.h"
#include "sm/lock_ops.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }
Reply I(uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); }

// A lease in ms: a positive integer (Redis's rule for SET PX).
std::optional<Reply> ParseLeaseMs(std::string_view arg, std::string_view command,
                                  uint64_t* lease_ms) {
  int64_t v;
  if (!ParseInt64(arg, &v)) return Err(errors::kNotInteger);
  if (v <= 0) return Reply::Error(errors::InvalidExpireTime(command));
  *lease_ms = static_cast<uint64_t>(v);
  return std::nullopt;
}

// now + ms, or nullopt beyond INT64_MAX (deadlines must fit int64).
std::optional<uint64_t> Deadline(uint64_t now_ms, uint64_t ms) {
  if (ms > static_cast<uint64_t>(INT64_MAX) - now_ms) return std::nullopt;
  return now_ms + ms;
}

std::optional<Reply> ParseToken(std::string_view arg, uint64_t* token) {
  if (!ParseUint64(arg, token)) return Err(errors::kNotInteger);
  return std::nullopt;
}

// nullopt when `token` is a live holder of `name`; else the error, NOTOWNER
// or STALETOKEN (docs/locks.md "LOCK.RELEASE / LOCK.RENEW").
std::optional<Reply> RequireHolder(const LockTable& locks, std::string_view name, uint64_t token,
                                   uint64_t now_ms) {
  switch (locks.Check(name, token, now_ms)) {
    case LockCheck::kHolder:
      return std::nullopt;
    case LockCheck::kStale:
      return Err(errors::kStaleToken);
    case LockCheck::kNotOwner:
      break;
  }
  return Err(errors::kNotOwner);
}

}  // namespace

// ---- shared with elect_family.cc ------------------------------------------------

std::optional<Reply> ParseHoldOption(const Argv& argv, size_t* j, std::string_view command,
                                     AcquireArgs* a, bool* matched) {
  *matched = true;
  std::string_view opt = argv[*j];
  if (*j + 1 >= argv.size()) {
    *matched = false;
    return std::nullopt;
  }
  std::string_view value = argv[*j + 1];
  if (EqualsIgnoreCase(opt, "TTL")) {
    if (a->session != 0) return Err(errors::kSyntax);
    if (auto err = ParseLeaseMs(value, command, &a->lease_ms)) return err;
    a->ttl_set = true;
  } else if (EqualsIgnoreCase(opt, "SESSION")) {
    if (a->ttl_set) return Err(errors::kSyntax);
    if (!ParseUint64(value, &a->session)) return Err(errors::kNotInteger);
    if (a->session == 0) return Err(errors::kNoSession);
    a->lease_ms = 0;
  } else if (EqualsIgnoreCase(opt, "WAIT")) {
    int64_t v;
    if (!ParseInt64(value, &v)) return Err(errors::kNotInteger);
    if (v < 0) return Reply::Error(errors::InvalidExpireTime(command));
    a->wait = true;
    a->wait_ms = static_cast<uint64_t>(v);
  } else if (EqualsIgnoreCase(opt, "OWNER")) {
    a->owner = value;
    if (a->owner.size() > kLockOwnerMax) return Err(errors::kLockOwnerTooLong);
  } else {
    *matched = false;
    return std::nullopt;
  }
  ++*j;
  return std::nullopt;
}

Reply RunAcquire(CommandContext& ctx, std::string_view name, std::string_view command,
                 const AcquireArgs& a) {
  if (a.session == 0 && !Deadline(ctx.now_ms, a.lease_ms)) {
    return Reply::Error(errors::InvalidExpireTime(command));
  }
  uint64_t wait_deadline = 0;
  if (a.wait) {
    if (ctx.client.empty()) return Err(errors::kLockWaitNoClient);
    if (a.wait_ms != 0) {
      std::optional<uint64_t> d = Deadline(ctx.now_ms, a.wait_ms);
      if (!d) return Reply::Error(errors::InvalidExpireTime(command));
      wait_deadline = *d;
    }
  }
  if (a.sign && ctx.state.locks.sign_keys().signing_id() == 0) return Err(errors::kNoSigningKey);
  LockRequest req{a.mode, a.permits, std::string(a.owner), a.session != 0 ? 0 : a.lease_ms,
                  a.session, ctx.client, a.sign};
  AcquireResult r = ctx.state.locks.Acquire(name, req, a.wait, wait_deadline, ctx.now_ms,
                                            &ctx.state.events);
  switch (r.outcome) {
    case AcquireOutcome::kGranted:
      if (a.sign) {
        return SignedGrantReply(r.token, r.guaranteed_ms, *ctx.state.locks.SignedGrant(name, r.token));
      }
      return GrantReply(r.token, r.guaranteed_ms);
    case AcquireOutcome::kQueued:
      return Reply::Deferred();
    case AcquireOutcome::kConflict:
      return Reply::Null();
    case AcquireOutcome::kTableFull:
      return Err(ctx.state.locks.size() >= kLocksMax ? errors::kTooManyLocks
                                                     : errors::kTooManyWaiters);
    case AcquireOutcome::kNoSession:
      return Err(errors::kNoSession);
    case AcquireOutcome::kPermitsMismatch:
      return Err(errors::kPermitsMismatch);
    case AcquireOutcome::kAlreadyWaiting:
      return Err(errors::kLockAlreadyWaiting);
  }
  return Err(errors::kSyntax);
}

Reply RunRelease(CommandContext& ctx, std::string_view name, std::string_view token_arg) {
  uint64_t token;
  if (auto err = ParseToken(token_arg, &token)) return *err;
  if (auto err = RequireHolder(ctx.state.locks, name, token, ctx.now_ms)) return *err;
  ctx.state.locks.Release(name, token, ctx.now_ms, &ctx.state.events);
  return Reply::Int(1);
}

Reply HolderInfo(const LockTable& locks, uint64_t token, const LockHolder& h, uint64_t now_ms) {
  return Reply::Map({Reply::Bulk("token"), I(token),
                     Reply::Bulk("owner"), Reply::Bulk(h.owner),
                     Reply::Bulk("since_ms"), I(h.since_ms),
                     Reply::Bulk("expires_ms"), I(locks.Expiry(h)),
                     Reply::Bulk("remaining_ms"), I(locks.Remaining(h, now_ms)),
                     Reply::Bulk("session"), I(h.session)});
}

namespace {

// ---- LOCK.ACQUIRE -------------------------------------------------------------

std::optional<Reply> ParseAcquire(const Argv& argv, AcquireArgs* a) {
  bool mode_set = false;
  for (size_t j = 2; j < argv.size(); j++) {
    std::string_view opt = argv[j];
    bool matched;
    if (auto err = ParseHoldOption(argv, &j, "lock.acquire", a, &matched)) return err;
    if (matched) continue;
    if (EqualsIgnoreCase(opt, "SIGNED")) {
      a->sign = true;
    } else if (EqualsIgnoreCase(opt, "SHARED") && !mode_set) {
      a->mode = LockMode::kShared;
      mode_set = true;
    } else if (EqualsIgnoreCase(opt, "SEMAPHORE") && !mode_set && j + 1 < argv.size()) {
      if (!ParseUint64(argv[++j], &a->permits)) return Err(errors::kNotInteger);
      if (a->permits == 0 || a->permits > kPermitsMax) return Err(errors::kPermitsRange);
      a->mode = LockMode::kSemaphore;
      mode_set = true;
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
  return RunAcquire(ctx, ctx.argv[1], "lock.acquire", a);
}

// ---- LOCK.RELEASE / LOCK.RENEW ------------------------------------------------

std::optional<Reply> ValidateRelease(const Argv& argv) {
  uint64_t token;
  return ParseToken(argv[2], &token);
}

Reply ReleaseCommand(CommandContext& ctx) { return RunRelease(ctx, ctx.argv[1], ctx.argv[2]); }

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
  LockTable& locks = ctx.state.locks;
  if (auto err = RequireHolder(locks, ctx.argv[1], token, ctx.now_ms)) return *err;
  const LockHolder& h = locks.Find(ctx.argv[1])->holders.at(token);
  if (h.session != 0) return Err(errors::kLockHeldBySession);
  if (lease_ms == 0) lease_ms = h.lease_ms;
  std::optional<uint64_t> deadline = Deadline(ctx.now_ms, lease_ms);
  if (!deadline) return Reply::Error(errors::InvalidExpireTime("lock.renew"));
  locks.Renew(ctx.argv[1], token, lease_ms, *deadline);
  return I(lease_ms);
}

// ---- LOCK.SIGN ----------------------------------------------------------------

// A fresh signed grant for a live holder: after LOCK.RENEW or
// SESSION.KEEPALIVE moved the hold's end, or for a grant acquired unsigned.
// Signing changes nothing, so it is a read (still through the log: the
// holder check is linearizable).
Reply SignCommand(CommandContext& ctx) {
  uint64_t token;
  if (auto err = ParseToken(ctx.argv[2], &token)) return *err;
  const LockTable& locks = ctx.state.locks;
  if (auto err = RequireHolder(locks, ctx.argv[1], token, ctx.now_ms)) return *err;
  std::optional<std::string> grant = locks.SignedGrant(ctx.argv[1], token);
  if (!grant) return Err(errors::kNoSigningKey);
  return Reply::Bulk(std::move(*grant));
}

// ---- LOCK.INFO / LOCK.LIST ----------------------------------------------------

const char* ModeName(LockMode m) {
  switch (m) {
    case LockMode::kExclusive: return "exclusive";
    case LockMode::kShared: return "shared";
    case LockMode::kSemaphore: return "semaphore";
  }
  return "?";
}

Reply WaiterInfo(const LockWaiter& w) {
  return Reply::Map({Reply::Bulk("owner"), Reply::Bulk(w.req.owner),
                     Reply::Bulk("mode"), Reply::Bulk(ModeName(w.req.mode)),
                     Reply::Bulk("since_ms"), I(w.since_ms),
                     Reply::Bulk("wait_deadline_ms"), I(w.wait_deadline_ms),
                     Reply::Bulk("session"), I(w.req.session)});
}

// mode: exclusive | shared | semaphore | free; permits (semaphores, else
// 0); holders: live ones, token order; waiters: FIFO order; last_token: the
// newest grant on this lock (what FENCE compares with), 0 when never.
Reply InfoCommand(CommandContext& ctx) {
  const LockTable& locks = ctx.state.locks;
  const LockRecord* rec = locks.Find(ctx.argv[1]);
  std::vector<Reply> holders, waiters;
  if (rec != nullptr) {
    for (const auto& [token, h] : rec->holders) {
      if (locks.Live(h, ctx.now_ms)) holders.push_back(HolderInfo(locks, token, h, ctx.now_ms));
    }
    for (const LockWaiter& w : rec->waiters) waiters.push_back(WaiterInfo(w));
  }
  std::string mode = holders.empty() ? "free" : ModeName(rec->mode);
  uint64_t permits = holders.empty() ? 0 : rec->permits;
  return Reply::Map({Reply::Bulk("mode"), Reply::Bulk(std::move(mode)),
                     Reply::Bulk("permits"), I(permits),
                     Reply::Bulk("holders"), Reply::Array(std::move(holders)),
                     Reply::Bulk("waiters"), Reply::Array(std::move(waiters)),
                     Reply::Bulk("last_token"), I(rec == nullptr ? 0 : rec->last_grant)});
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
    if (!locks.Held(rec, ctx.now_ms)) continue;
    if (all || GlobMatch(pattern, name)) out.push_back(Reply::Bulk(name));
  }
  return Reply::Array(std::move(out));
}

}  // namespace

void AddLockFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  constexpr uint32_t kR = kCmdReadOnly | kCmdFast;
  t->insert(t->end(), {
      {{"LOCK.ACQUIRE", -2, kW | kCmdClientRef, 1, 1, 1, kAclLock | kAclBlocking, kKeyWrite}, AcquireCommand, ValidateAcquire},
      {{"LOCK.RELEASE", 3, kW, 1, 1, 1, kAclLock, kKeyWrite}, ReleaseCommand, ValidateRelease},
      {{"LOCK.RENEW", -3, kW, 1, 1, 1, kAclLock, kKeyWrite}, RenewCommand, ValidateRenew},
      {{"LOCK.SIGN", 3, kR, 1, 1, 1, kAclLock, kKeyRead}, SignCommand, ValidateRelease},
      {{"LOCK.INFO", 2, kR, 1, 1, 1, kAclLock, kKeyRead}, InfoCommand, nullptr},
      {{"LOCK.LIST", -1, kCmdReadOnly, 0, 0, 0, kAclLock, kKeyAny}, ListCommand, ValidateList},
  });
}

}  // namespace lockq::sm
