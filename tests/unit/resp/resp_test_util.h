#pragma once
// Helpers shared by the RESP unit tests. sm::ToDebugString lives in lockq_sm,
// which resp_unit_tests does not link, so replies are printed here.

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "resp/resp.h"

namespace lockq::sm {

inline void PrintTo(const Reply& r, std::ostream* os) {
  static const char* const kNames[] = {"null", "nullarray", "status", "error", "int",
                                       "bulk", "array", "map", "set", "double",
                                       "bool", "verbatim", "push"};
  *os << kNames[static_cast<int>(r.kind)];
  switch (r.kind) {
    case Reply::Kind::kInt:
    case Reply::Kind::kBool:
      *os << "(" << r.integer << ")";
      break;
    case Reply::Kind::kArray:
    case Reply::Kind::kMap:
    case Reply::Kind::kSet:
    case Reply::Kind::kPush:
      *os << "[";
      for (size_t i = 0; i < r.elems.size(); i++) {
        if (i > 0) *os << ", ";
        PrintTo(r.elems[i], os);
      }
      *os << "]";
      break;
    case Reply::Kind::kNull:
    case Reply::Kind::kNullArray:
      break;
    default:
      *os << "(" << testing::PrintToString(r.str) << ")";
  }
}

}  // namespace lockq::sm

namespace lockq::resp::testing_util {

// What a connection does: append each chunk to its input buffer, parse
// until kNeedMore, drop the consumed bytes of each request.
struct FeedResult {
  std::vector<Argv> requests;
  std::string error;  // set when the parser returned kError
  size_t leftover = 0;  // bytes still in the buffer at the end
};

inline FeedResult FeedInChunks(RequestParser& parser, std::string_view input,
                               const std::vector<size_t>& chunk_sizes) {
  FeedResult result;
  std::string buf;
  size_t at = 0, chunk = 0;
  while (at < input.size()) {
    size_t n = chunk_sizes.empty() ? input.size() : chunk_sizes[chunk++ % chunk_sizes.size()];
    n = std::min(std::max<size_t>(n, 1), input.size() - at);
    buf.append(input.substr(at, n));
    at += n;
    while (true) {
      Argv argv;
      ParseResult r = parser.Parse(buf, &argv);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
      if (r.kind == ParseResult::Kind::kError) {
        result.error = r.error;
        result.leftover = buf.size();
        return result;
      }
      EXPECT_GT(r.consumed, 0u);
      EXPECT_LE(r.consumed, buf.size());
      buf.erase(0, r.consumed);
      result.requests.push_back(std::move(argv));
    }
  }
  result.leftover = buf.size();
  return result;
}

inline FeedResult FeedAll(std::string_view input, ParserLimits limits = {}) {
  RequestParser parser(limits);
  return FeedInChunks(parser, input, {});
}

inline FeedResult FeedBytewise(std::string_view input, ParserLimits limits = {}) {
  RequestParser parser(limits);
  return FeedInChunks(parser, input, {1});
}

}  // namespace lockq::resp::testing_util
