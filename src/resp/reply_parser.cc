// ReplyParser: the client side of RESP2 and RESP3 (protocol/RESP3.md "RESP3
// types"). A recursive descent over one reply; nesting is bounded by
// ParserLimits::max_depth, so the recursion is too.
#include <algorithm>
#include <charconv>
#include <string>

#include "resp/errors.h"
#include "resp/resp.h"

namespace lockq::resp {
namespace {

using Kind = Reply::Kind;

// The smallest encoding of one element ("_\r\n"): aggregates reserve for as
// many elements as the bytes received could hold, never for the count alone.
constexpr size_t kMinElemBytes = 3;

// Optional sign, then std::from_chars over the whole text.
bool ParseInt(std::string_view s, int64_t* v) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

bool IsDouble(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  // Out of range ("1e999") is a valid RESP3 double: the text is kept anyway.
  return (ec == std::errc() || ec == std::errc::result_out_of_range) &&
         end == s.data() + s.size();
}

bool IsBigNumber(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class Parser {
 public:
  enum class St { kOk, kNeedMore, kError };

  Parser(std::string_view buf, const ParserLimits& limits) : buf_(buf), limits_(limits) {}
  // Parses the value at pos_, inside `depth` aggregates.
  St Value(size_t depth, Reply* out);
  size_t pos() const { return pos_; }
  std::string& error() { return error_; }

 private:
  St Fail(std::string_view error) {
    error_ = error;
    return St::kError;
  }
  // Reads the rest of the line after the type byte at pos_.
  St Line(size_t max_len, std::string_view* line);
  St Scalar(char type, std::string_view line, Reply* out);
  St Bulk(char type, Reply* out);
  St Aggregate(char type, size_t depth, Reply* out);

  std::string_view buf_;
  const ParserLimits& limits_;
  size_t pos_ = 0;
  std::string error_;
};

Parser::St Parser::Line(size_t max_len, std::string_view* line) {
  size_t start = pos_ + 1;
  size_t cr = buf_.find('\r', start);
  size_t len = (cr == std::string_view::npos ? buf_.size() : cr) - start;
  if (len > max_len) return Fail(kErrLineTooLong);
  if (cr == std::string_view::npos || cr + 1 == buf_.size()) return St::kNeedMore;
  if (buf_[cr + 1] != '\n') return Fail(kErrExpectedCrlf);
  *line = buf_.substr(start, len);
  pos_ = cr + 2;
  return St::kOk;
}

Parser::St Parser::Value(size_t depth, Reply* out) {
  // Attributes (RESP3 "|") describe the reply that follows: they are read
  // and dropped. A loop, not recursion, so a run of them cannot overflow.
  while (pos_ < buf_.size() && buf_[pos_] == '|') {
    Reply attributes;
    St st = Aggregate('|', depth, &attributes);
    if (st != St::kOk) return st;
  }
  if (pos_ == buf_.size()) return St::kNeedMore;
  char type = buf_[pos_];
  switch (type) {
    case '$': case '=': case '!':
      return Bulk(type, out);
    case '*': case '%': case '~': case '>':
      return Aggregate(type, depth, out);
    case ';': case '.':
      return Fail(kErrStreamedUnsupported);
    case '+': case '-': case ':': case '_': case ',': case '#': case '(': {
      // Status and error lines are strings (bounded like bulks); the others
      // are short by nature.
      bool text = type == '+' || type == '-';
      std::string_view line;
      St st = Line(text ? limits_.max_bulk_bytes : limits_.max_inline_bytes, &line);
      if (st != St::kOk) return st;
      return Scalar(type, line, out);
    }
    default:
      return Fail(std::string(kErrUnknownReplyType) + type + "'");
  }
}

Parser::St Parser::Scalar(char type, std::string_view line, Reply* out) {
  switch (type) {
    case '+':
      *out = Reply::Status(std::string(line));
      return St::kOk;
    case '-':
      *out = Reply::Error(std::string(line));
      return St::kOk;
    case ':': {
      int64_t v = 0;
      if (!ParseInt(line, &v)) return Fail(kErrInvalidInteger);
      *out = Reply::Int(v);
      return St::kOk;
    }
    case '_':
      if (!line.empty()) return Fail(kErrInvalidNull);
      *out = Reply::Null();
      return St::kOk;
    case ',':
      if (!IsDouble(line)) return Fail(kErrInvalidDouble);
      *out = Reply::Double(std::string(line));
      return St::kOk;
    case '#':
      if (line != "t" && line != "f") return Fail(kErrInvalidBoolean);
      *out = Reply::Bool(line == "t");
      return St::kOk;
    default: {  // '(' big number: an integer when it fits, else its text.
      if (!IsBigNumber(line)) return Fail(kErrInvalidBigNumber);
      int64_t v = 0;
      *out = ParseInt(line, &v) ? Reply::Int(v) : Reply::Bulk(std::string(line));
      return St::kOk;
    }
  }
}

// "$len\r\ndata\r\n" (bulk), "=len\r\nfmt:data\r\n" (verbatim), "!len..." (blob error).
Parser::St Parser::Bulk(char type, Reply* out) {
  std::string_view line;
  St st = Line(limits_.max_inline_bytes, &line);
  if (st != St::kOk) return st;
  if (line == "?") return Fail(kErrStreamedUnsupported);
  int64_t len = 0;
  if (!ParseInt(line, &len)) return Fail(kErrInvalidBulkLength);
  if (type == '$' && len == -1) {
    *out = Reply::Null();
    return St::kOk;
  }
  if (len < 0 || static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
    return Fail(kErrInvalidBulkLength);
  }
  size_t n = static_cast<size_t>(len);
  if (buf_.size() - pos_ < n + 2) return St::kNeedMore;
  if (buf_[pos_ + n] != '\r' || buf_[pos_ + n + 1] != '\n') return Fail(kErrExpectedCrlf);
  std::string_view data = buf_.substr(pos_, n);
  pos_ += n + 2;
  if (type == '$') {
    *out = Reply::Bulk(std::string(data));
  } else if (type == '!') {
    *out = Reply::Error(std::string(data));
  } else {
    // The three-letter format ("txt", "mkd") is dropped: Reply has none.
    if (n < 4 || data[3] != ':') return Fail(kErrInvalidVerbatim);
    *out = Reply::Verbatim(std::string(data.substr(4)));
  }
  return St::kOk;
}

// "*n" array, "%n" map, "~n" set, ">n" push, "|n" attribute.
Parser::St Parser::Aggregate(char type, size_t depth, Reply* out) {
  if (depth + 1 > limits_.max_depth) return Fail(kErrNestingTooDeep);
  std::string_view line;
  St st = Line(limits_.max_inline_bytes, &line);
  if (st != St::kOk) return st;
  if (line == "?") return Fail(kErrStreamedUnsupported);
  int64_t count = 0;
  if (!ParseInt(line, &count)) return Fail(kErrInvalidMultibulkLength);
  if (type == '*' && count == -1) {
    *out = Reply::NullArray();
    return St::kOk;
  }
  if (count < 0 || static_cast<uint64_t>(count) > limits_.max_args) {
    return Fail(kErrInvalidMultibulkLength);
  }
  bool pairs = type == '%' || type == '|';
  size_t n = static_cast<size_t>(count) * (pairs ? 2 : 1);
  out->kind = type == '*'   ? Kind::kArray
              : type == '>' ? Kind::kPush
              : type == '~' ? Kind::kSet
                            : Kind::kMap;
  out->elems.clear();
  out->elems.reserve(std::min(n, (buf_.size() - pos_) / kMinElemBytes + 1));
  for (size_t i = 0; i < n; i++) {
    out->elems.emplace_back();
    st = Value(depth + 1, &out->elems.back());
    if (st != St::kOk) return st;
  }
  return St::kOk;
}

}  // namespace

ParseResult ReplyParser::Parse(std::string_view buf, Reply* out) const {
  Parser parser(buf, limits_);
  Reply reply;
  ParseResult result;
  switch (parser.Value(0, &reply)) {
    case Parser::St::kOk:
      result.kind = ParseResult::Kind::kDone;
      result.consumed = parser.pos();
      *out = std::move(reply);
      break;
    case Parser::St::kNeedMore:
      result.kind = ParseResult::Kind::kNeedMore;
      break;
    case Parser::St::kError:
      result.kind = ParseResult::Kind::kError;
      result.error = std::move(parser.error());
      break;
  }
  return result;
}

}  // namespace lockq::resp
