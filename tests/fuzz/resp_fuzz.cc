// libFuzzer target for src/resp (STYLE.md habit 10: every decoder is fuzzed).
//
// Input layout: byte 0 picks the limits (bit 0: tiny limits, to reach every
// limit error) and seeds the chunk sizes; the rest is fed
//   1. to RequestParser in chunks, as a connection would, and compared with
//      one parse of the whole input: chunking must not change the outcome;
//   2. to ReplyParser; a parsed reply is written back as RESP3 and parsed
//      again, and must come back the same (up to what RESP3 cannot express).
// Any disagreement aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "resp/resp.h"

namespace lockq::resp {
namespace {

#define FUZZ_ASSERT(cond)                                              \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "resp_fuzz: assertion failed: %s\n", #cond); \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

struct Outcome {
  std::vector<Argv> requests;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// Feeds `in` in chunks of 1..max_chunk bytes drawn from a small LCG, or all
// at once when max_chunk is 0.
Outcome FeedRequests(std::string_view in, const ParserLimits& limits, uint32_t seed,
                     size_t max_chunk) {
  RequestParser parser(limits);
  Outcome out;
  std::string buf;
  size_t at = 0;
  uint32_t rng = seed;
  while (at < in.size()) {
    rng = rng * 1664525u + 1013904223u;
    size_t n = in.size() - at;
    if (max_chunk > 0) n = std::min<size_t>(1 + (rng >> 8) % max_chunk, n);
    buf.append(in.substr(at, n));
    at += n;
    while (true) {
      Argv argv;
      ParseResult r = parser.Parse(buf, &argv);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
      if (r.kind == ParseResult::Kind::kError) {
        FUZZ_ASSERT(!r.error.empty());
        out.error = r.error;
        return out;
      }
      FUZZ_ASSERT(r.consumed > 0 && r.consumed <= buf.size());
      FUZZ_ASSERT(!argv.empty());
      buf.erase(0, r.consumed);
      out.requests.push_back(std::move(argv));
    }
    // A pending request never needs more than the limits allow.
    FUZZ_ASSERT(parser.BytesWanted() <= limits.max_bulk_bytes + 2);
  }
  return out;
}

// What a reply looks like after WriteReply(.., 3) and ReplyParser.
Reply AfterResp3(Reply r) {
  using Kind = Reply::Kind;
  if (r.kind == Kind::kNullArray) return Reply::Null();
  if (r.kind == Kind::kStatus || r.kind == Kind::kError || r.kind == Kind::kDouble) {
    for (char& c : r.str) {
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  for (Reply& e : r.elems) e = AfterResp3(std::move(e));
  return r;
}

void FuzzReplies(std::string_view in, const ParserLimits& limits) {
  ReplyParser parser(limits);
  Reply reply;
  ParseResult r = parser.Parse(in, &reply);
  if (r.kind == ParseResult::Kind::kError) FUZZ_ASSERT(!r.error.empty());
  if (r.kind != ParseResult::Kind::kDone) return;
  FUZZ_ASSERT(r.consumed > 0 && r.consumed <= in.size());
  // Cut short, the same bytes are only incomplete.
  Reply partial;
  FUZZ_ASSERT(parser.Parse(in.substr(0, r.consumed - 1), &partial).kind ==
              ParseResult::Kind::kNeedMore);
  // Written back and parsed again, it is the same reply. The limits are the
  // defaults here: the writer may lengthen a line (a double's text stays, a
  // blob error becomes a line), so tiny limits would refuse it.
  for (int protocol : {2, 3}) {
    std::string wire;
    WriteReply(reply, protocol, &wire);
    Reply again;
    ParseResult r2 = ReplyParser().Parse(wire, &again);
    FUZZ_ASSERT(r2.kind == ParseResult::Kind::kDone && r2.consumed == wire.size());
    if (protocol == 3) FUZZ_ASSERT(again == AfterResp3(reply));
  }
}

}  // namespace
}  // namespace lockq::resp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockq::resp;
  if (size == 0) return 0;
  uint8_t control = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  ParserLimits limits;
  if (control & 1) {
    limits.max_inline_bytes = 16;
    limits.max_bulk_bytes = 32;
    limits.max_args = 8;
    limits.max_depth = 4;
  }
  Outcome whole = FeedRequests(in, limits, 0, 0);
  Outcome chunked = FeedRequests(in, limits, control, 1 + (control >> 1) % 64);
  FUZZ_ASSERT(whole == chunked);
  FuzzReplies(in, limits);
  return 0;
}
