#include "resp/inline_args.h"

#include <cstdint>
#include <string>

namespace lockq::resp {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char UnescapeDoubleQuoted(char c) {
  switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;  // \\ and \" too
  }
}

// Reads one double-quoted argument; `*i` points just past the opening quote
// and ends just past the closing one. False when the quote is not closed or
// is followed by something other than whitespace.
bool ReadDoubleQuoted(std::string_view s, size_t* i, std::string* arg) {
  size_t p = *i;
  while (p < s.size()) {
    char c = s[p];
    if (c == '\\' && p + 3 < s.size() && s[p + 1] == 'x' && HexValue(s[p + 2]) >= 0 &&
        HexValue(s[p + 3]) >= 0) {
      arg->push_back(static_cast<char>(HexValue(s[p + 2]) * 16 + HexValue(s[p + 3])));
      p += 4;
    } else if (c == '\\' && p + 1 < s.size()) {
      arg->push_back(UnescapeDoubleQuoted(s[p + 1]));
      p += 2;
    } else if (c == '"') {
      if (p + 1 < s.size() && !IsSpace(s[p + 1])) return false;
      *i = p + 1;
      return true;
    } else {
      arg->push_back(c);
      p++;
    }
  }
  return false;  // unterminated
}

// Same for single quotes, where only \' is an escape.
bool ReadSingleQuoted(std::string_view s, size_t* i, std::string* arg) {
  size_t p = *i;
  while (p < s.size()) {
    char c = s[p];
    if (c == '\\' && p + 1 < s.size() && s[p + 1] == '\'') {
      arg->push_back('\'');
      p += 2;
    } else if (c == '\'') {
      if (p + 1 < s.size() && !IsSpace(s[p + 1])) return false;
      *i = p + 1;
      return true;
    } else {
      arg->push_back(c);
      p++;
    }
  }
  return false;
}

}  // namespace

bool SplitInlineArgs(std::string_view line, Argv* out) {
  line = line.substr(0, line.find('\0'));
  size_t i = 0;
  while (true) {
    while (i < line.size() && IsSpace(line[i])) i++;
    if (i == line.size()) return true;
    std::string arg;
    bool done = false;
    while (!done) {
      if (i == line.size() || IsSpace(line[i])) {
        done = true;
      } else if (line[i] == '"' || line[i] == '\'') {
        bool dq = line[i] == '"';
        i++;
        if (!(dq ? ReadDoubleQuoted(line, &i, &arg) : ReadSingleQuoted(line, &i, &arg))) {
          return false;
        }
        done = true;  // a closing quote ends the argument
      } else {
        arg.push_back(line[i++]);
      }
    }
    out->push_back(std::move(arg));
  }
}

bool ParseStrictInt64(std::string_view s, int64_t* value) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] == '0') {
    // Only "0" itself may start with a zero ("-0" and "01" are rejected).
    if (s.size() != 1) return false;
    *value = 0;
    return true;
  }
  uint64_t v = 0;
  for (; i < s.size(); i++) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *value = static_cast<int64_t>(0 - v);  // well defined for INT64_MIN too
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *value = static_cast<int64_t>(v);
  }
  return true;
}

}  // namespace lockq::resp
