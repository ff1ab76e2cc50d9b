// RequestParser: the server side of RESP (protocol/RESP2.md "Sending commands
// to a Redis server", "Inline commands"), following the state machine of
// Redis's processMultibulkBuffer() / processInlineBuffer() in networking.c.
#include <algorithm>
#include <cstring>
#include <string>

#include "common/check.h"
#include "resp/errors.h"
#include "resp/inline_args.h"
#include "resp/resp.h"

namespace lockq::resp {
namespace {

constexpr int64_t kRedisMaxMultibulk = INT32_MAX;  // Redis: ll > INT_MAX is invalid
// The smallest encoding of one argument, "$0\r\n\r\n": the argv is reserved
// for as many arguments as the bytes already received could hold, never for
// the declared count alone.
constexpr size_t kMinArgBytes = 6;

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

void RequestParser::Reset() {
  pos_ = scan_ = 0;
  args_left_ = bulk_len_ = -1;
  partial_ = {};
}

size_t RequestParser::BytesWanted() const {
  if (args_left_ <= 0 || bulk_len_ < 0) return 0;
  size_t need = static_cast<size_t>(bulk_len_) + 2;
  size_t have = seen_ - pos_;
  return need > have ? need - have : 0;
}

ParseResult RequestParser::Parse(std::string_view buf, Argv* argv) {
  // The caller passes the same front, possibly grown (see resp.h).
  LOCKQ_CHECK(buf.size() >= pos_ && buf.size() >= scan_);
  seen_ = buf.size();
  ParseResult result;
  while (true) {
    Step step;
    if (args_left_ < 0) {
      step = StartRequest(buf, argv, &result);
    } else if (bulk_len_ < 0) {
      step = ParseBulkLength(buf, &result);
    } else {
      step = ParseBulkData(buf, argv, &result);
    }
    switch (step) {
      case Step::kContinue:
        continue;
      case Step::kNeedMore:
        result.kind = ParseResult::Kind::kNeedMore;
        return result;
      case Step::kError:
        Reset();
        result.kind = ParseResult::Kind::kError;
        return result;
      case Step::kDone:
        result.kind = ParseResult::Kind::kDone;
        result.consumed = pos_;
        Reset();
        return result;
    }
  }
}

RequestParser::Step RequestParser::StartRequest(std::string_view buf, Argv* argv,
                                                ParseResult* result) {
  if (pos_ == buf.size()) return Step::kNeedMore;
  // Like Redis, the first byte decides: '*' is a multibulk, anything else an
  // inline command.
  if (buf[pos_] == '*') return ParseMultibulkCount(buf, result);
  return ParseInline(buf, argv, result);
}

size_t RequestParser::FindLineEnd(std::string_view buf, char terminator) {
  size_t from = std::max(scan_, pos_);
  const void* hit = from < buf.size() ? std::memchr(buf.data() + from, terminator, buf.size() - from)
                                      : nullptr;
  if (hit == nullptr) {
    scan_ = buf.size();
    return std::string_view::npos;
  }
  scan_ = static_cast<size_t>(static_cast<const char*>(hit) - buf.data());
  return scan_;
}

RequestParser::Step RequestParser::ParseInline(std::string_view buf, Argv* argv,
                                               ParseResult* result) {
  size_t nl = FindLineEnd(buf, '\n');
  // A line longer than the limit is refused whether or not its end has
  // arrived, so the outcome does not depend on how reads split it.
  size_t line_len = (nl == std::string_view::npos ? buf.size() : nl) - pos_;
  if (line_len > limits_.max_inline_bytes) {
    result->error = kErrTooBigInline;
    return Step::kError;
  }
  if (nl == std::string_view::npos) return Step::kNeedMore;
  std::string_view line = buf.substr(pos_, nl - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  Argv args;
  if (!SplitInlineArgs(line, &args)) {
    result->error = kErrUnbalancedQuotes;
    return Step::kError;
  }
  Advance(nl + 1);
  if (args.empty()) return Step::kContinue;  // Redis skips empty lines
  *argv = std::move(args);
  return Step::kDone;
}

RequestParser::Step RequestParser::ParseMultibulkCount(std::string_view buf,
                                                       ParseResult* result) {
  size_t cr = FindLineEnd(buf, '\r');
  size_t line_len = (cr == std::string_view::npos ? buf.size() : cr) - pos_;
  if (line_len > limits_.max_inline_bytes) {
    result->error = kErrTooBigMbulkCount;
    return Step::kError;
  }
  if (cr == std::string_view::npos || cr + 1 == buf.size()) return Step::kNeedMore;
  int64_t count = 0;
  if (buf[cr + 1] != '\n' || !ParseStrictInt64(buf.substr(pos_ + 1, cr - pos_ - 1), &count) ||
      count > kRedisMaxMultibulk || (count > 0 && static_cast<uint64_t>(count) > limits_.max_args)) {
    result->error = kErrInvalidMultibulkLength;
    return Step::kError;
  }
  Advance(cr + 2);
  if (count <= 0) return Step::kContinue;  // "*0" and "*-1": empty request, skipped
  args_left_ = count;
  bulk_len_ = -1;
  partial_.clear();
  size_t affordable = (buf.size() - pos_) / kMinArgBytes + 1;
  partial_.reserve(std::min(static_cast<size_t>(count), affordable));
  return Step::kContinue;
}

RequestParser::Step RequestParser::ParseBulkLength(std::string_view buf, ParseResult* result) {
  if (pos_ == buf.size()) return Step::kNeedMore;
  if (buf[pos_] != '$') {
    // Requests are arrays of bulk strings only: a nested array ends here.
    result->error = std::string(kErrExpectedDollarPrefix) + buf[pos_] + "'";
    return Step::kError;
  }
  size_t cr = FindLineEnd(buf, '\r');
  size_t line_len = (cr == std::string_view::npos ? buf.size() : cr) - pos_;
  if (line_len > limits_.max_inline_bytes) {
    result->error = kErrTooBigBulkCount;
    return Step::kError;
  }
  if (cr == std::string_view::npos || cr + 1 == buf.size()) return Step::kNeedMore;
  int64_t len = 0;
  if (buf[cr + 1] != '\n' || !ParseStrictInt64(buf.substr(pos_ + 1, cr - pos_ - 1), &len) ||
      len < 0 || static_cast<uint64_t>(len) > limits_.max_bulk_bytes) {
    result->error = kErrInvalidBulkLength;
    return Step::kError;
  }
  Advance(cr + 2);
  bulk_len_ = len;
  return Step::kContinue;
}

RequestParser::Step RequestParser::ParseBulkData(std::string_view buf, Argv* argv,
                                                 ParseResult* result) {
  // The bytes are copied once, when the whole bulk is there: nothing is
  // allocated for a declared length that has not arrived.
  size_t len = static_cast<size_t>(bulk_len_);
  if (buf.size() - pos_ < len + 2) return Step::kNeedMore;
  if (buf[pos_ + len] != '\r' || buf[pos_ + len + 1] != '\n') {
    result->error = kErrBulkNotTerminated;
    return Step::kError;
  }
  partial_.emplace_back(buf.substr(pos_, len));
  Advance(pos_ + len + 2);
  bulk_len_ = -1;
  if (--args_left_ > 0) return Step::kContinue;
  *argv = std::move(partial_);
  partial_ = {};
  return Step::kDone;
}

}  // namespace lockq::resp
