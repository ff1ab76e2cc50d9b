#pragma once
// RabbitMQ's permission patterns (WAVE2.md A.3): PCRE regexes matched
// unanchored against a resource name or routing key; "" matches nothing.
//
// They run at apply time on every replica, so a match must be a pure and
// bounded function of (pattern, subject): PCRE2 with a match limit and a
// depth limit, and a pattern that hits a limit does not match (fails
// closed). Compiled patterns are cached process-wide (derived data; no
// reply depends on whether a pattern was cached).

#include <string>
#include <string_view>

namespace lockq::sm {

// At most kAclPatternMax bytes (acl_user.h) and valid PCRE2 syntax.
bool ValidPermissionRegex(std::string_view pattern);
bool PermissionMatches(std::string_view pattern, std::string_view subject);
// `{username}` and `{vhost}` replaced (RabbitMQ expands both).
std::string ExpandPermissionPattern(std::string_view pattern, std::string_view user, std::string_view vhost);

}  // namespace lockq::sm
