// Leader election (docs/locks.md "Elections"): a campaign is an exclusive
// lock named "elect:<name>" whose OWNER is the candidate's value, so an
// election gets the lock's guarantees (FIFO candidates, fencing tokens,
// leases or sessions, lost-lock pushes) and LOCK.INFO elect:<name> shows
// the leader and the candidates in line.
//
//   ELECT.CAMPAIGN name value [TTL ms | SESSION id] [WAIT ms]
//                                   -> [token, guaranteed_ms] | nil
//   ELECT.RESIGN   name token       -> 1 | NOTOWNER | STALETOKEN
//   ELECT.LEADER   name             -> map {value, token, since_ms, remaining_ms} | nil
//
// ELECT.OBSERVE (pushes on every change) is a connection command of the
// front end (src/server/watch.cc); it reads ELECT.LEADER.

#include <optional>
#include <string>

#include "sm/errors.h"
#include "sm/lock_ops.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply I(uint64_t v) { return Reply::Int(static_cast<int64_t>(v)); }

std::string LockName(std::string_view election) { return "elect:" + std::string(election); }

std::optional<Reply> ParseCampaign(const Argv& argv, AcquireArgs* a) {
  a->owner = argv[2];
  if (a->owner.size() > kLockOwnerMax) return Reply::Error(std::string(errors::kLockOwnerTooLong));
  for (size_t j = 3; j < argv.size(); j++) {
    bool matched;
    std::string_view opt = argv[j];
    if (EqualsIgnoreCase(opt, "OWNER")) return Reply::Error(std::string(errors::kSyntax));
    if (auto err = ParseHoldOption(argv, &j, "elect.campaign", a, &matched)) return err;
    if (!matched) return Reply::Error(std::string(errors::kSyntax));
  }
  return std::nullopt;
}

std::optional<Reply> ValidateCampaign(const Argv& argv) {
  AcquireArgs a;
  return ParseCampaign(argv, &a);
}

Reply CampaignCommand(CommandContext& ctx) {
  AcquireArgs a;
  if (auto err = ParseCampaign(ctx.argv, &a)) return *err;
  return RunAcquire(ctx, LockName(ctx.argv[1]), "elect.campaign", a);
}

std::optional<Reply> ValidateResign(const Argv& argv) {
  uint64_t token;
  if (!ParseUint64(argv[2], &token)) return Reply::Error(std::string(errors::kNotInteger));
  return std::nullopt;
}

Reply ResignCommand(CommandContext& ctx) {
  return RunRelease(ctx, LockName(ctx.argv[1]), ctx.argv[2]);
}

Reply LeaderCommand(CommandContext& ctx) {
  const LockTable& locks = ctx.state.locks;
  const LockRecord* rec = locks.Find(LockName(ctx.argv[1]));
  if (rec == nullptr) return Reply::Null();
  for (const auto& [token, h] : rec->holders) {
    if (!locks.Live(h, ctx.now_ms)) continue;
    return Reply::Map({Reply::Bulk("value"), Reply::Bulk(h.owner),
                       Reply::Bulk("token"), I(token),
                       Reply::Bulk("since_ms"), I(h.since_ms),
                       Reply::Bulk("remaining_ms"), I(locks.Remaining(h, ctx.now_ms))});
  }
  return Reply::Null();
}

}  // namespace

void AddElectFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite | kCmdFast;
  t->insert(t->end(), {
      {{"ELECT.CAMPAIGN", -3, kW | kCmdClientRef, 1, 1, 1, kAclLock | kAclBlocking, kKeyWrite}, CampaignCommand, ValidateCampaign},
      {{"ELECT.RESIGN", 3, kW, 1, 1, 1, kAclLock, kKeyWrite}, ResignCommand, ValidateResign},
      {{"ELECT.LEADER", 2, kCmdReadOnly | kCmdFast, 1, 1, 1, kAclLock, kKeyRead}, LeaderCommand, nullptr},
  });
}

}  // namespace lockq::sm
