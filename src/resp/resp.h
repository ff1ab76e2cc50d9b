#pragma once
// RESP2/RESP3 codec (https://github.com/redis/redis-specifications,
// protocol/RESP2.md and RESP3.md), shared by lockqd and liblockq.
//
// Server side: RequestParser turns client bytes into argv (multibulk arrays
// of bulk strings, or inline commands as redis-cli and redis-benchmark's
// ping_inline send), within explicit limits. WriteReply() formats a
// lockq::Reply (include/lockq/reply.h) for a connection that negotiated
// protocol 2 or 3.
// Client side: WriteCommand() and ReplyParser.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/argv.h"
#include "lockq/reply.h"

namespace lockq::resp {

struct ParserLimits {
  size_t max_inline_bytes = 64 * 1024;         // Redis PROTO_INLINE_MAX_SIZE
  size_t max_bulk_bytes = 512 * 1024 * 1024;   // Redis proto-max-bulk-len
  size_t max_args = 1024 * 1024;               // Redis multibulk limit
  size_t max_depth = 32;                       // ReplyParser nesting
};

struct ParseResult {
  enum class Kind { kNeedMore, kDone, kError };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;  // kDone: bytes of the input that made this message
  std::string error;    // kError: "Protocol error: ..." as Redis words it
};

// Incremental request parser. Call Parse() with the unconsumed front of the
// connection's input buffer (the same front, possibly grown, until it
// returns kDone or kError). It keeps its progress between calls so a large
// request arriving in many reads is not re-scanned. After kDone the caller
// drops `consumed` bytes and calls Parse() again for the next request. After
// kError the caller replies with the error and closes the connection.
// Error texts are Redis's, without "ERR " (src/resp/errors.h). Empty requests
// ("*0", "*-1", blank inline lines) are skipped as Redis does: they stay in
// the front and are counted in the `consumed` of the next request. One
// parser per connection; not thread-safe. Limits and rules: docs/resp.md.
class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});
  ParseResult Parse(std::string_view buf, Argv* argv);
  // Bytes the current partial request still needs, when known (for buffer
  // reservation); 0 when unknown.
  size_t BytesWanted() const;

 private:
  enum class Step { kContinue, kNeedMore, kDone, kError };
  Step StartRequest(std::string_view buf, Argv* argv, ParseResult* result);
  Step ParseInline(std::string_view buf, Argv* argv, ParseResult* result);
  Step ParseMultibulkCount(std::string_view buf, ParseResult* result);
  Step ParseBulkLength(std::string_view buf, ParseResult* result);
  Step ParseBulkData(std::string_view buf, Argv* argv, ParseResult* result);
  // Looks for `terminator` in the line starting at pos_, resuming where the
  // previous call stopped. Returns its index, or npos (line incomplete).
  size_t FindLineEnd(std::string_view buf, char terminator);
  void Advance(size_t to) { pos_ = scan_ = to; }
  void Reset();

  ParserLimits limits_;
  // Progress within the current request; all offsets are from buf's front.
  size_t pos_ = 0;          // bytes of buf already parsed (incl. skipped empty requests)
  size_t scan_ = 0;         // the current line was searched up to here
  size_t seen_ = 0;         // size of the last buf (for BytesWanted)
  int64_t args_left_ = -1;  // -1: no multibulk header parsed yet
  int64_t bulk_len_ = -1;   // -1: next is a "$len" line
  Argv partial_;        // the bulk strings received so far
};

// Appends `reply` encoded for `protocol` (2 or 3) to `out`.
void WriteReply(const Reply& reply, int protocol, std::string* out);
// Appends argv as a RESP multibulk request.
void WriteCommand(const Argv& argv, std::string* out);

// Parses one reply (any RESP2/RESP3 type, nesting bounded by max_depth).
// Stateless: on kNeedMore call again with more bytes from the same start.
// RESP3 attributes are skipped; big numbers become kInt when they fit in
// int64, else kBulk with their text; streamed types are a kError. See
// docs/resp.md for the mapping of every type.
class ReplyParser {
 public:
  explicit ReplyParser(ParserLimits limits = {}) : limits_(limits) {}
  ParseResult Parse(std::string_view buf, Reply* out) const;

 private:
  ParserLimits limits_;
};

}  // namespace lockq::resp
