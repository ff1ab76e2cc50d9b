#include "common/error_class.h"

namespace lockq {

namespace {

using O = Outcome;
using S = StatusCode;

// First match wins: specific TRYAGAIN lines before the catch-all TRYAGAIN
// (an unrecognized TRYAGAIN is treated as "may have been applied").
constexpr ErrorClass kClasses[] = {
    {"TRYAGAIN no leader elected", O::kNotExecuted, S::kUnavailable, 320, "CONNECTION_FORCED", true},
    {"TRYAGAIN this node is not the leader", O::kNotExecuted, S::kUnavailable, 320, "CONNECTION_FORCED", true},
    {"TRYAGAIN cannot reach the leader; not executed", O::kNotExecuted, S::kUnavailable, 320, "CONNECTION_FORCED",
     true},
    {"TRYAGAIN server shutting down; outcome unknown", O::kUnknown, S::kOutcomeUnknown, 320, "CONNECTION_FORCED",
     true},
    {"TRYAGAIN server shutting down", O::kNotExecuted, S::kUnavailable, 320, "CONNECTION_FORCED", true},
    {"TRYAGAIN", O::kUnknown, S::kOutcomeUnknown, 320, "CONNECTION_FORCED", true},
    {"NOTFOUND", O::kAnswered, S::kNotFound, 404, "NOT_FOUND", false},
    {"NOSCRIPT", O::kAnswered, S::kNotFound, 404, "NOT_FOUND", false},
    {"LOCKED", O::kAnswered, S::kFailedPrecondition, 405, "RESOURCE_LOCKED", false},
    {"PRECONDITION", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"NOTOWNER", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"STALETOKEN", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"NOSESSION", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"WRONGTYPE", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"BUSYKEY", O::kAnswered, S::kFailedPrecondition, 406, "PRECONDITION_FAILED", false},
    {"NOTALLOWED", O::kAnswered, S::kFailedPrecondition, 530, "NOT_ALLOWED", true},
    {"ACCESSREFUSED", O::kAnswered, S::kPermissionDenied, 403, "ACCESS_REFUSED", false},
    {"NOAUTH", O::kAnswered, S::kPermissionDenied, 403, "ACCESS_REFUSED", false},
    {"WRONGPASS", O::kAnswered, S::kPermissionDenied, 403, "ACCESS_REFUSED", false},
    {"NOPERM", O::kAnswered, S::kPermissionDenied, 403, "ACCESS_REFUSED", false},
    {"OOM", O::kAnswered, S::kResourceExhausted, 506, "RESOURCE_ERROR", false},
    {"ERR queue engine limit", O::kAnswered, S::kResourceExhausted, 506, "RESOURCE_ERROR", false},
};

constexpr ErrorClass kOther{"", O::kAnswered, S::kServerError, 541, "INTERNAL_ERROR", false};

// `line` starts with `prefix` as whole words: "LOCKED x" matches "LOCKED",
// "LOCKEDOUT" does not.
bool StartsWithWords(std::string_view line, std::string_view prefix) {
  if (line.substr(0, prefix.size()) != prefix) return false;
  if (line.size() == prefix.size()) return true;
  char next = line[prefix.size()];
  bool word_char = (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || (next >= '0' && next <= '9') ||
                   next == '_';
  return !word_char;
}

}  // namespace

const ErrorClass& ClassifyError(std::string_view line) {
  for (const ErrorClass& c : kClasses) {
    if (StartsWithWords(line, c.prefix)) return c;
  }
  return kOther;
}

}  // namespace lockq
