#pragma once
// Reply: one answer from lockq, in the shape of RESP3. The server's state
// machine produces them (src/sm/reply.h adds the codec it uses between
// nodes); liblockq returns them from Client::Call.
//
// Kinds follow RESP3 (https://github.com/redis/redis-specifications,
// protocol/RESP3.md); RESP2 writers degrade kMap to a flat array, kSet to an
// array, kDouble to a bulk string, kBool to an integer, kNull to a null bulk.
// kDeferred is internal to the server and never reaches a client.

#include <cstdint>
#include <string>
#include <vector>

namespace lockq {

struct Reply {
  enum class Kind : uint8_t {
    kNull = 0,       // RESP2 "$-1" (RESP3 "_")
    kNullArray = 1,  // RESP2 "*-1" (RESP3 "_")
    kStatus = 2,     // "+OK"
    kError = 3,      // "-ERR ..." (str holds the whole line without '-')
    kInt = 4,
    kBulk = 5,
    kArray = 6,
    kMap = 7,        // elems holds key, value, key, value, ...
    kSet = 8,
    kDouble = 9,     // str holds the textual form
    kBool = 10,      // integer is 0 or 1
    kVerbatim = 11,  // RESP3 "=" with "txt:" prefix; RESP2 bulk
    kPush = 12,      // RESP3 ">" out-of-band message (client side, pub/sub)
    kDeferred = 13,  // "answer comes later as an Event" (a queued LOCK.ACQUIRE);
                     // front ends hold the reply slot open, never write it
  };

  Kind kind = Kind::kNull;
  int64_t integer = 0;
  std::string str;
  std::vector<Reply> elems;

  static Reply Null() { return {}; }
  static Reply NullArray() { return Reply{Kind::kNullArray, 0, {}, {}}; }
  static Reply Ok() { return Status("OK"); }
  static Reply Status(std::string s) { return Reply{Kind::kStatus, 0, std::move(s), {}}; }
  // `line` is the full error line without the leading '-', e.g.
  // "ERR syntax error" or "WRONGTYPE Operation against a key ...".
  static Reply Error(std::string line) { return Reply{Kind::kError, 0, std::move(line), {}}; }
  static Reply Int(int64_t v) { return Reply{Kind::kInt, v, {}, {}}; }
  static Reply Bulk(std::string s) { return Reply{Kind::kBulk, 0, std::move(s), {}}; }
  static Reply Array(std::vector<Reply> e) { return Reply{Kind::kArray, 0, {}, std::move(e)}; }
  static Reply Map(std::vector<Reply> kv) { return Reply{Kind::kMap, 0, {}, std::move(kv)}; }
  static Reply Set(std::vector<Reply> e) { return Reply{Kind::kSet, 0, {}, std::move(e)}; }
  static Reply Bool(bool b) { return Reply{Kind::kBool, b ? 1 : 0, {}, {}}; }
  static Reply Double(std::string text) { return Reply{Kind::kDouble, 0, std::move(text), {}}; }
  static Reply Verbatim(std::string text) { return Reply{Kind::kVerbatim, 0, std::move(text), {}}; }
  static Reply Deferred() { return Reply{Kind::kDeferred, 0, {}, {}}; }

  bool is_error() const { return kind == Kind::kError; }
  bool is_deferred() const { return kind == Kind::kDeferred; }
  bool operator==(const Reply&) const = default;
};

}  // namespace lockq
