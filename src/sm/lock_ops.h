#pragma once
// The acquire/release path shared by the lock, semaphore and election
// commands (lock_family.cc, elect_family.cc). Handlers parse into
// AcquireArgs, then RunAcquire() applies it to the LockTable and words the
// reply, so every family answers the same way.

#include <cstdint>
#include <optional>
#include <string_view>

#include "sm/command_table.h"
#include "sm/locks.h"

namespace lockq::sm {

struct AcquireArgs {
  LockMode mode = LockMode::kExclusive;
  uint64_t permits = 0;
  uint64_t lease_ms = kLockTtlDefaultMs;  // unless SESSION
  bool ttl_set = false;
  uint64_t session = 0;
  bool wait = false;
  uint64_t wait_ms = 0;  // with wait: 0 waits without limit
  std::string_view owner;
  bool sign = false;  // SIGNED: the grant reply carries a signed grant (LOCK.ACQUIRE only)
};

// Parses one of `TTL ms`, `SESSION id`, `WAIT ms`, `OWNER tag` at argv[*j]
// (advancing *j past its value). nullopt: parsed; a Reply: the error; and
// false in *matched when argv[*j] is none of them.
std::optional<Reply> ParseHoldOption(const Argv& argv, size_t* j, std::string_view command,
                                     AcquireArgs* a, bool* matched);

// Grants, queues (Reply::Deferred(); the answer comes as an Event) or
// refuses; a grant replies [token, guaranteed_ms], or with a.sign
// [token, guaranteed_ms, grant] (refused when no key signs).
Reply RunAcquire(CommandContext& ctx, std::string_view name, std::string_view command,
                 const AcquireArgs& a);

// Releases `token` of `name` if it is a live holder; else NOTOWNER /
// STALETOKEN and nothing changes.
Reply RunRelease(CommandContext& ctx, std::string_view name, std::string_view token_arg);

// A holder as LOCK.INFO shows it.
Reply HolderInfo(const LockTable& locks, uint64_t token, const LockHolder& h, uint64_t now_ms);

}  // namespace lockq::sm
