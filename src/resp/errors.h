#pragma once
// Protocol error strings of the RESP codec, in one place (STYLE.md habit 3).
// RequestParser's errors are worded exactly as Redis's networking.c
// (processMultibulkBuffer, processInlineBuffer) words them, so clients and
// tests written against Redis see the same text. Redis's addReplyError()
// sends them as "-ERR Protocol error: ..."; ParseResult::error holds the text
// without "ERR ", so the server builds Reply::Error("ERR " + error).

#include <string_view>

namespace lockq::resp {

// RequestParser (Redis wording).
inline constexpr std::string_view kErrInvalidMultibulkLength =
    "Protocol error: invalid multibulk length";
inline constexpr std::string_view kErrInvalidBulkLength = "Protocol error: invalid bulk length";
// Followed by the offending byte and a closing quote: "... got '*'".
inline constexpr std::string_view kErrExpectedDollarPrefix = "Protocol error: expected '$', got '";
inline constexpr std::string_view kErrTooBigMbulkCount =
    "Protocol error: too big mbulk count string";
inline constexpr std::string_view kErrTooBigBulkCount = "Protocol error: too big bulk count string";
inline constexpr std::string_view kErrTooBigInline = "Protocol error: too big inline request";
inline constexpr std::string_view kErrUnbalancedQuotes =
    "Protocol error: unbalanced quotes in request";
// Not in Redis (which skips the two bytes after a bulk without looking):
// lockq insists on CRLF so a wrong length cannot desynchronise the stream.
inline constexpr std::string_view kErrBulkNotTerminated =
    "Protocol error: bulk string not terminated by CRLF";

// ReplyParser (no Redis equivalent; hiredis words them differently).
inline constexpr std::string_view kErrNestingTooDeep = "Protocol error: nesting too deep";
inline constexpr std::string_view kErrLineTooLong = "Protocol error: reply line too long";
inline constexpr std::string_view kErrExpectedCrlf = "Protocol error: expected CRLF";
inline constexpr std::string_view kErrInvalidInteger = "Protocol error: invalid integer";
inline constexpr std::string_view kErrInvalidDouble = "Protocol error: invalid double";
inline constexpr std::string_view kErrInvalidBoolean = "Protocol error: invalid boolean";
inline constexpr std::string_view kErrInvalidBigNumber = "Protocol error: invalid big number";
inline constexpr std::string_view kErrInvalidNull = "Protocol error: invalid null";
inline constexpr std::string_view kErrInvalidVerbatim = "Protocol error: invalid verbatim string";
inline constexpr std::string_view kErrStreamedUnsupported =
    "Protocol error: streamed RESP3 types are not supported";
// Followed by the offending byte and a closing quote.
inline constexpr std::string_view kErrUnknownReplyType = "Protocol error: unknown reply type '";

}  // namespace lockq::resp
