#pragma once
// Small string helpers shared by the protocol front ends.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lockq {

std::string ToUpper(std::string_view s);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Strict decimal int64 as Redis's string2ll: optional '-', no spaces, no
// leading '+', no leading zeros, no overflow.
std::optional<int64_t> ParseInt64(std::string_view s);

}  // namespace lockq
