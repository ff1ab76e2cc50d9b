// Writer -> parser round trips over random nested replies and commands
// (seeded std::mt19937; the seed is in the test name, so a failure replays).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "resp/resp.h"
#include "resp_test_util.h"

namespace lockq::resp {
namespace {

using ::lockq::Reply;
using RKind = Reply::Kind;

std::string RandomBytes(std::mt19937& rng, size_t max_len) {
  std::string s(rng() % (max_len + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string RandomLine(std::mt19937& rng) {
  std::string s = RandomBytes(rng, 12);
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

Reply RandomReply(std::mt19937& rng, int depth) {
  int kinds = depth >= 5 ? 12 : 13;  // the last kinds are aggregates
  static const RKind kScalars[] = {RKind::kNull, RKind::kNullArray, RKind::kStatus,
                                   RKind::kError, RKind::kInt, RKind::kBulk,
                                   RKind::kDouble, RKind::kBool, RKind::kVerbatim};
  static const RKind kAggregates[] = {RKind::kArray, RKind::kMap, RKind::kSet, RKind::kPush};
  int pick = static_cast<int>(rng() % kinds);
  RKind kind = pick < 9 ? kScalars[pick] : kAggregates[rng() % 4];
  static const char* const kDoubles[] = {"0", "1.5", "-2.25", "1e+300", "inf", "-inf", "nan",
                                         "3.141592653589793"};
  switch (kind) {
    case RKind::kNull: return Reply::Null();
    case RKind::kNullArray: return Reply::NullArray();
    case RKind::kStatus: return Reply::Status(RandomLine(rng));
    case RKind::kError: return Reply::Error(RandomLine(rng));
    case RKind::kInt: return Reply::Int(static_cast<int64_t>((uint64_t{rng()} << 32) | rng()));
    case RKind::kBulk: return Reply::Bulk(RandomBytes(rng, 40));
    case RKind::kDouble: return Reply::Double(kDoubles[rng() % 8]);
    case RKind::kBool: return Reply::Bool(rng() % 2);
    case RKind::kVerbatim: return Reply::Verbatim(RandomBytes(rng, 20));
    default: break;
  }
  Reply r{kind};
  size_t n = rng() % 5;
  if (kind == RKind::kMap) n *= 2;
  for (size_t i = 0; i < n; i++) r.elems.push_back(RandomReply(rng, depth + 1));
  return r;
}

// What a RESP3 writer -> parser trip gives back: "_" cannot tell the nulls apart.
Reply AfterResp3(Reply r) {
  if (r.kind == RKind::kNullArray) return Reply::Null();
  for (Reply& e : r.elems) e = AfterResp3(e);
  return r;
}

// And a RESP2 trip: the degradations of sm/reply.h.
Reply AfterResp2(Reply r) {
  switch (r.kind) {
    case RKind::kDouble: return Reply::Bulk(r.str);
    case RKind::kVerbatim: return Reply::Bulk(r.str);
    case RKind::kBool: return Reply::Int(r.integer);
    case RKind::kMap: case RKind::kSet: case RKind::kPush: r.kind = RKind::kArray; break;
    default: break;
  }
  for (Reply& e : r.elems) e = AfterResp2(e);
  return r;
}

class RoundTripTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(RoundTripTest, WriterThenReplyParser) {
  std::mt19937 rng(GetParam());
  ReplyParser parser;
  for (int i = 0; i < 200; i++) {
    Reply original = RandomReply(rng, 0);
    for (int protocol : {2, 3}) {
      std::string wire;
      WriteReply(original, protocol, &wire);
      wire += "+next\r\n";  // a following reply must not be consumed
      Reply parsed;
      ParseResult r = parser.Parse(wire, &parsed);
      ASSERT_EQ(r.kind, ParseResult::Kind::kDone) << r.error;
      EXPECT_EQ(r.consumed, wire.size() - 7);
      EXPECT_EQ(parsed, protocol == 3 ? AfterResp3(original) : AfterResp2(original))
          << "seed " << GetParam() << " reply " << i << " protocol " << protocol;
      // Any cut short of the end is incomplete.
      size_t cut = rng() % r.consumed;
      EXPECT_EQ(parser.Parse(std::string_view(wire).substr(0, cut), &parsed).kind,
                ParseResult::Kind::kNeedMore);
    }
  }
}

TEST_P(RoundTripTest, WriteCommandThenRequestParser) {
  std::mt19937 rng(GetParam());
  std::vector<Argv> sent;
  std::string wire;
  for (int i = 0; i < 100; i++) {
    Argv argv(1 + rng() % 6);
    for (std::string& a : argv) a = RandomBytes(rng, 30);
    WriteCommand(argv, &wire);
    sent.push_back(std::move(argv));
  }
  RequestParser parser;
  std::vector<size_t> chunks;
  for (int i = 0; i < 16; i++) chunks.push_back(1 + rng() % 64);
  auto res = testing_util::FeedInChunks(parser, wire, chunks);
  EXPECT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.requests, sent) << "seed " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Seeds, RoundTripTest, ::testing::Values(1u, 2u, 3u, 42u, 1234u));

}  // namespace
}  // namespace lockq::resp
