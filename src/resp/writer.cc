// WriteReply / WriteCommand: RESP2 and RESP3 encoders (protocol/RESP2.md,
// protocol/RESP3.md). RESP2 has no null, map, set, double, boolean, verbatim
// or push types: they degrade as lockq/reply.h describes, as Redis does for a
// client that did not send HELLO 3.
#include <charconv>
#include <string>

#include "common/check.h"
#include "resp/resp.h"

namespace lockq::resp {
namespace {

using Kind = Reply::Kind;

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// "<type><n>\r\n", the header of bulks and aggregates.
void AppendHeader(char type, int64_t n, std::string* out) {
  out->push_back(type);
  AppendInt(n, out);
  out->append("\r\n");
}

// Simple strings, errors and doubles are lines: a CR or LF inside would end
// the line early and desynchronise the client, so they become spaces (Redis
// does the same in addReplyErrorLength / addReplyStatusLength callers).
void AppendLine(char type, std::string_view text, std::string* out) {
  out->push_back(type);
  size_t start = out->size();
  out->append(text);
  for (size_t i = start; i < out->size(); i++) {
    if ((*out)[i] == '\r' || (*out)[i] == '\n') (*out)[i] = ' ';
  }
  out->append("\r\n");
}

void AppendBulk(std::string_view s, std::string* out) {
  AppendHeader('$', static_cast<int64_t>(s.size()), out);
  out->append(s);
  out->append("\r\n");
}

void AppendAggregate(char type, int64_t n, const std::vector<Reply>& elems, bool resp3,
                     std::string* out);

void Append(const Reply& r, bool resp3, std::string* out) {
  switch (r.kind) {
    case Kind::kNull:
      out->append(resp3 ? "_\r\n" : "$-1\r\n");
      return;
    case Kind::kNullArray:
      out->append(resp3 ? "_\r\n" : "*-1\r\n");
      return;
    case Kind::kStatus:
      return AppendLine('+', r.str, out);
    case Kind::kError:
      return AppendLine('-', r.str, out);
    case Kind::kInt:
      return AppendHeader(':', r.integer, out);
    case Kind::kBulk:
      return AppendBulk(r.str, out);
    case Kind::kArray:
      return AppendAggregate('*', static_cast<int64_t>(r.elems.size()), r.elems, resp3, out);
    case Kind::kMap:
      // elems is key, value, key, value...: an odd count is a bug in lockq.
      LOCKQ_CHECK(r.elems.size() % 2 == 0);
      if (resp3) {
        return AppendAggregate('%', static_cast<int64_t>(r.elems.size() / 2), r.elems, true, out);
      }
      return AppendAggregate('*', static_cast<int64_t>(r.elems.size()), r.elems, false, out);
    case Kind::kSet:
      return AppendAggregate(resp3 ? '~' : '*', static_cast<int64_t>(r.elems.size()), r.elems,
                             resp3, out);
    case Kind::kDouble:
      return resp3 ? AppendLine(',', r.str, out) : AppendBulk(r.str, out);
    case Kind::kBool:
      if (resp3) {
        out->append(r.integer != 0 ? "#t\r\n" : "#f\r\n");
        return;
      }
      return AppendHeader(':', r.integer != 0 ? 1 : 0, out);
    case Kind::kVerbatim:
      if (!resp3) return AppendBulk(r.str, out);
      AppendHeader('=', static_cast<int64_t>(r.str.size() + 4), out);
      out->append("txt:");
      out->append(r.str);
      out->append("\r\n");
      return;
    case Kind::kPush:
      return AppendAggregate(resp3 ? '>' : '*', static_cast<int64_t>(r.elems.size()), r.elems,
                             resp3, out);
    case Kind::kDeferred:
      // Front ends hold a deferred slot open; reaching the writer is a bug,
      // answered rather than crashed on.
      return AppendLine('-', "ERR internal: deferred reply written", out);
  }
  LOCKQ_CHECK(false && "unknown Reply::Kind");
}

void AppendAggregate(char type, int64_t n, const std::vector<Reply>& elems, bool resp3,
                     std::string* out) {
  AppendHeader(type, n, out);
  for (const Reply& e : elems) Append(e, resp3, out);
}

}  // namespace

void WriteReply(const Reply& reply, int protocol, std::string* out) {
  Append(reply, protocol >= 3, out);
}

void WriteCommand(const Argv& argv, std::string* out) {
  AppendHeader('*', static_cast<int64_t>(argv.size()), out);
  for (const std::string& arg : argv) AppendBulk(arg, out);
}

}  // namespace lockq::resp
