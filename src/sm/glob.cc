#include "sm/glob.h"

#include <utility>

namespace lockq::sm {

namespace {

constexpr int kMaxStarNesting = 1000;

unsigned char Fold(unsigned char c, bool nocase) {
  return (nocase && c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

// Matches one [...] class at the start of `p` (just past the '[') against
// byte `c`. Advances `p` to the closing ']' (or the last byte when the class
// is unterminated, as Redis does) and returns whether it matched.
bool MatchClass(std::string_view* p, unsigned char c, bool nocase) {
  std::string_view& pat = *p;
  bool negate = !pat.empty() && pat[0] == '^';
  if (negate) pat.remove_prefix(1);
  bool match = false;
  c = Fold(c, nocase);
  while (true) {
    if (pat.size() >= 2 && pat[0] == '\\') {
      pat.remove_prefix(1);
      if (Fold(static_cast<unsigned char>(pat[0]), nocase) == c) match = true;
    } else if (!pat.empty() && pat[0] == ']') {
      break;
    } else if (pat.empty()) {
      // Unterminated class: Redis steps back so the caller's advance lands
      // on the end of the pattern.
      return negate ? !match : match;
    } else if (pat.size() >= 3 && pat[1] == '-') {
      unsigned char lo = Fold(static_cast<unsigned char>(pat[0]), nocase);
      unsigned char hi = Fold(static_cast<unsigned char>(pat[2]), nocase);
      if (lo > hi) std::swap(lo, hi);
      pat.remove_prefix(2);
      if (c >= lo && c <= hi) match = true;
    } else if (Fold(static_cast<unsigned char>(pat[0]), nocase) == c) {
      match = true;
    }
    pat.remove_prefix(1);
  }
  pat.remove_prefix(1);  // the ']'
  return negate ? !match : match;
}

bool MatchImpl(std::string_view pat, std::string_view str, bool nocase, bool* skip_longer,
               int nesting) {
  if (nesting > kMaxStarNesting) return false;
  while (!pat.empty() && !str.empty()) {
    switch (pat[0]) {
      case '*': {
        while (pat.size() >= 2 && pat[1] == '*') pat.remove_prefix(1);
        if (pat.size() == 1) return true;
        while (!str.empty()) {
          if (MatchImpl(pat.substr(1), str, nocase, skip_longer, nesting + 1)) return true;
          if (*skip_longer) return false;
          str.remove_prefix(1);
        }
        // No suffix of the string matches the rest of the pattern, so no
        // earlier star can help by swallowing more (Redis 7 optimisation).
        *skip_longer = true;
        return false;
      }
      case '?':
        pat.remove_prefix(1);
        str.remove_prefix(1);
        break;
      case '[': {
        pat.remove_prefix(1);
        if (!MatchClass(&pat, static_cast<unsigned char>(str[0]), nocase)) return false;
        str.remove_prefix(1);
        break;
      }
      case '\\':
        if (pat.size() >= 2) pat.remove_prefix(1);
        [[fallthrough]];
      default:
        if (Fold(static_cast<unsigned char>(pat[0]), nocase) !=
            Fold(static_cast<unsigned char>(str[0]), nocase)) {
          return false;
        }
        pat.remove_prefix(1);
        str.remove_prefix(1);
        break;
    }
    if (str.empty()) {
      while (!pat.empty() && pat[0] == '*') pat.remove_prefix(1);
      break;
    }
  }
  return pat.empty() && str.empty();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase) {
  bool skip_longer = false;
  return MatchImpl(pattern, str, nocase, &skip_longer, 0);
}

}  // namespace lockq::sm
