#pragma once
// TTL arguments of SET/SETEX/PSETEX (Redis getExpireMillisecondsOrReply):
// relative TTLs become absolute deadlines in state machine time, so every
// replica computes the same deadline from the same log entry.

#include <cstdint>
#include <optional>
#include <string_view>

#include "sm/reply.h"

namespace lockq::sm {

enum class ExpireKind : uint8_t { kNone, kEx, kPx, kExAt, kPxAt };

struct ExpireSpec {
  ExpireKind kind = ExpireKind::kNone;
  int64_t value = 0;  // as given, in the kind's unit
};

// "EX", "PX", "EXAT", "PXAT" (any case), or nullopt.
std::optional<ExpireKind> ExpireOptionKind(std::string_view option);

// Parses the TTL argument into spec->value. Errors, as Redis words them: not
// an integer; <= 0 or (for seconds) too large to convert to ms ->
// "ERR invalid expire time in '<command>' command". Stateless.
std::optional<Reply> ParseExpireValue(std::string_view arg, std::string_view command,
                                      ExpireSpec* spec);

// The absolute deadline (ms) for a parsed spec at `now_ms`, or nullopt when
// it overflows int64 (Redis replies "invalid expire time" then too).
std::optional<uint64_t> ExpireDeadline(const ExpireSpec& spec, uint64_t now_ms);

}  // namespace lockq::sm
