#pragma once
// Glob matching with the semantics of Redis's stringmatchlen() (src/util.c),
// used by KEYS and SCAN MATCH (and later PSUBSCRIBE-style patterns):
//   *       any sequence, including empty
//   ?       any one byte
//   [abc]   one of the listed bytes; [^abc] none of them; [a-z] a range
//           (reversed ranges such as [z-a] are accepted); \x inside escapes
//   \x      the byte x literally
// Bytes compare as unsigned (Redis compares signed chars inside ranges, which
// only differs for ranges whose ends straddle 0x80). The search is bounded:
// like Redis 7, patterns nested deeper than 1000 stars fail to match and the
// "skip longer matches" rule keeps `*a*a*a...b` linear rather than
// exponential. Also like Redis, an empty string matches no non-empty
// pattern, not even "*": KEYS and SCAN treat the pattern "*" as "all keys"
// before calling this, which is how Redis returns the key "" for KEYS *.

#include <string_view>

namespace lockq::sm {

bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase = false);

}  // namespace lockq::sm
