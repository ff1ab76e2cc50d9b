#pragma once
// Small argument parsers shared by the command families. They follow the
// Redis rules clients depend on (src/util.c string2ll: no sign '+', no
// spaces, no leading zeros, "-0" rejected), so "007" is not an integer here
// either.

#include <cstdint>
#include <string>
#include <string_view>

namespace lockq::sm {

// Strict decimal int64, exactly Redis's string2ll.
bool ParseInt64(std::string_view s, int64_t* out);
// Strict decimal uint64: digits only, at least one, no overflow.
bool ParseUint64(std::string_view s, uint64_t* out);
// Decimal form of v, as Redis stores integers.
std::string FormatInt64(int64_t v);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string ToLower(std::string_view s);
std::string ToUpper(std::string_view s);

}  // namespace lockq::sm
