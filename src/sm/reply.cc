// Reply codec (docs/state-machine.md "Reply list"):
//   u8 version (= kReplyCodecVersion), varint n, n x reply
//   reply := u8 kind, varint zigzag(integer), string str, varint n_elems,
//            n_elems x reply
// Every field is written for every kind so that decode(encode(r)) == r for
// any Reply, not only well-formed ones. Nesting is limited to
// kReplyMaxDepth; the encoder replaces anything deeper by an error reply so
// that whatever it writes can be decoded.

#include "sm/reply.h"

#include <cstdio>

#include "common/bytes.h"

namespace lockq::sm {

namespace {

constexpr uint8_t kReplyCodecVersion = 1;
constexpr int kReplyMaxDepth = 64;
constexpr uint8_t kMaxKind = static_cast<uint8_t>(Reply::Kind::kDeferred);
// The smallest encoded reply: kind, zigzag 0, empty string, 0 elements.
constexpr uint64_t kMinReplyBytes = 4;
constexpr std::string_view kTooDeep = "ERR reply nesting too deep";

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

void EncodeOne(const Reply& r, int depth, ByteWriter* w) {
  if (depth >= kReplyMaxDepth && !r.elems.empty()) {
    EncodeOne(Reply::Error(std::string(kTooDeep)), depth, w);
    return;
  }
  w->PutU8(static_cast<uint8_t>(r.kind));
  w->PutVarint(ZigZag(r.integer));
  w->PutString(r.str);
  w->PutVarint(r.elems.size());
  for (const Reply& e : r.elems) EncodeOne(e, depth + 1, w);
}

bool DecodeOne(ByteReader* r, int depth, Reply* out) {
  if (depth > kReplyMaxDepth) return false;
  uint8_t kind;
  uint64_t zz, n;
  if (!r->GetU8(&kind) || kind > kMaxKind || !r->GetVarint(&zz) || !r->GetString(&out->str) ||
      !r->GetVarint(&n)) {
    return false;
  }
  // Bound the declared count by the bytes left before allocating.
  if (n > r->remaining() / kMinReplyBytes) return false;
  out->kind = static_cast<Reply::Kind>(kind);
  out->integer = UnZigZag(zz);
  out->elems.resize(n);
  for (Reply& e : out->elems) {
    if (!DecodeOne(r, depth + 1, &e)) return false;
  }
  return true;
}

void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out->push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out->append(buf);
    }
  }
  out->push_back('"');
}

void AppendElems(const Reply& r, const char* open, const char* sep, const char* close,
                 std::string* out);

void AppendDebug(const Reply& r, std::string* out) {
  using K = Reply::Kind;
  switch (r.kind) {
    case K::kNull: out->append("nil"); return;
    case K::kNullArray: out->append("nil-array"); return;
    case K::kStatus: out->append(r.str); return;
    case K::kError: out->append("(error) " + r.str); return;
    case K::kInt: out->append(std::to_string(r.integer)); return;
    case K::kBulk: AppendQuoted(r.str, out); return;
    case K::kArray: AppendElems(r, "[", ", ", "]", out); return;
    case K::kMap: AppendElems(r, "{", ", ", "}", out); return;
    case K::kSet: AppendElems(r, "~[", ", ", "]", out); return;
    case K::kDouble: out->append("(double) " + r.str); return;
    case K::kBool: out->append(r.integer ? "true" : "false"); return;
    case K::kVerbatim: out->append("(verbatim) "); AppendQuoted(r.str, out); return;
    case K::kPush: AppendElems(r, ">[", ", ", "]", out); return;
    case K::kDeferred: out->append("(deferred)"); return;
  }
  out->append("(unknown kind)");
}

void AppendElems(const Reply& r, const char* open, const char* sep, const char* close,
                 std::string* out) {
  out->append(open);
  for (size_t i = 0; i < r.elems.size(); i++) {
    if (i > 0) out->append(r.kind == Reply::Kind::kMap && i % 2 == 1 ? ": " : sep);
    AppendDebug(r.elems[i], out);
  }
  out->append(close);
}

}  // namespace

std::string EncodeReplies(const std::vector<Reply>& replies) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8(kReplyCodecVersion);
  w.PutVarint(replies.size());
  for (const Reply& r : replies) EncodeOne(r, 1, &w);
  return out;
}

Result<std::vector<Reply>> DecodeReplies(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t version;
  uint64_t n;
  if (!r.GetU8(&version)) return Status::Corruption("reply list: empty");
  if (version != kReplyCodecVersion) {
    return Status::Corruption("reply list: unknown version " + std::to_string(version));
  }
  if (!r.GetVarint(&n) || n > r.remaining() / kMinReplyBytes) {
    return Status::Corruption("reply list: bad count");
  }
  std::vector<Reply> replies(n);
  for (Reply& reply : replies) {
    if (!DecodeOne(&r, 1, &reply)) return Status::Corruption("reply list: bad reply");
  }
  if (!r.done()) return Status::Corruption("reply list: trailing bytes");
  return replies;
}

std::string ToDebugString(const Reply& r) {
  std::string out;
  AppendDebug(r, &out);
  return out;
}

}  // namespace lockq::sm
