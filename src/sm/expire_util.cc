#include "sm/expire_util.h"

#include <string>

#include "sm/errors.h"
#include "sm/parse.h"

namespace lockq::sm {

std::optional<ExpireKind> ExpireOptionKind(std::string_view option) {
  if (EqualsIgnoreCase(option, "EX")) return ExpireKind::kEx;
  if (EqualsIgnoreCase(option, "PX")) return ExpireKind::kPx;
  if (EqualsIgnoreCase(option, "EXAT")) return ExpireKind::kExAt;
  if (EqualsIgnoreCase(option, "PXAT")) return ExpireKind::kPxAt;
  return std::nullopt;
}

namespace {
bool InSeconds(ExpireKind k) { return k == ExpireKind::kEx || k == ExpireKind::kExAt; }
}  // namespace

std::optional<Reply> ParseExpireValue(std::string_view arg, std::string_view command,
                                      ExpireSpec* spec) {
  if (!ParseInt64(arg, &spec->value)) return Reply::Error(std::string(errors::kNotInteger));
  if (spec->value <= 0 || (InSeconds(spec->kind) && spec->value > INT64_MAX / 1000)) {
    return Reply::Error(errors::InvalidExpireTime(command));
  }
  return std::nullopt;
}

std::optional<uint64_t> ExpireDeadline(const ExpireSpec& spec, uint64_t now_ms) {
  if (spec.value <= 0 || (InSeconds(spec.kind) && spec.value > INT64_MAX / 1000)) {
    return std::nullopt;
  }
  int64_t ms = InSeconds(spec.kind) ? spec.value * 1000 : spec.value;
  bool relative = spec.kind == ExpireKind::kEx || spec.kind == ExpireKind::kPx;
  if (relative) {
    if (now_ms > static_cast<uint64_t>(INT64_MAX) ||
        ms > INT64_MAX - static_cast<int64_t>(now_ms)) {
      return std::nullopt;
    }
    ms += static_cast<int64_t>(now_ms);
  }
  return static_cast<uint64_t>(ms);
}

}  // namespace lockq::sm
