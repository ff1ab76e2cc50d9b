#include <gtest/gtest.h>

#include <random>
#include <string>

#include "resp/errors.h"
#include "resp/resp.h"
#include "resp_test_util.h"

namespace lockq::resp {
namespace {

using testing_util::FeedAll;
using testing_util::FeedBytewise;
using testing_util::FeedInChunks;
using Kind = ParseResult::Kind;

std::string Multibulk(const Argv& argv) {
  std::string out;
  WriteCommand(argv, &out);
  return out;
}

TEST(RequestParserTest, ParsesMultibulk) {
  RequestParser parser;
  Argv argv;
  std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
  ParseResult r = parser.Parse(in, &argv);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(argv, (Argv{"SET", "k", "hello"}));
}

TEST(RequestParserTest, BulkStringsAreBinarySafe) {
  std::string value("a\r\nb\0c\n\r", 8);
  auto res = FeedAll(Multibulk({"SET", "", value}));
  ASSERT_EQ(res.requests.size(), 1u);
  EXPECT_EQ(res.requests[0], (Argv{"SET", "", value}));
}

TEST(RequestParserTest, ConsumedStopsAtTheEndOfTheRequest) {
  RequestParser parser;
  Argv argv;
  std::string in = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nP";
  ParseResult r = parser.Parse(in, &argv);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, 14u);
  r = parser.Parse(std::string_view(in).substr(14), &argv);
  EXPECT_EQ(r.kind, Kind::kNeedMore);
}

TEST(RequestParserTest, ParsesInline) {
  auto res = FeedAll("PING\r\nset k \"a b\"\nGET   k\t\r\n");
  ASSERT_EQ(res.requests.size(), 3u);
  EXPECT_EQ(res.requests[0], (Argv{"PING"}));
  EXPECT_EQ(res.requests[1], (Argv{"set", "k", "a b"}));
  EXPECT_EQ(res.requests[2], (Argv{"GET", "k"}));
  EXPECT_EQ(res.leftover, 0u);
}

TEST(RequestParserTest, InlineNeedsItsNewline) {
  RequestParser parser;
  Argv argv;
  EXPECT_EQ(parser.Parse("PING", &argv).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.Parse("PING\r", &argv).kind, Kind::kNeedMore);
  ParseResult r = parser.Parse("PING\r\n", &argv);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, 6u);
}

TEST(RequestParserTest, SkipsEmptyRequests) {
  // Redis ignores "*0", "*-1" and blank inline lines; they are consumed with
  // the next real request.
  std::string in = "*0\r\n*-1\r\n*-7\r\n\r\n\n   \r\n*1\r\n$4\r\nPING\r\n";
  RequestParser parser;
  Argv argv;
  ParseResult r = parser.Parse(in, &argv);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(argv, (Argv{"PING"}));
  // Only empty requests: nothing to return yet.
  RequestParser p2;
  EXPECT_EQ(p2.Parse("*0\r\n\r\n", &argv).kind, Kind::kNeedMore);
  r = p2.Parse("*0\r\n\r\nPING\n", &argv);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, 11u);
}

// A mixed pipeline used by the split tests below.
std::string Pipeline(std::vector<Argv>* expected, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string in;
  for (int i = 0; i < n; i++) {
    Argv argv;
    int argc = 1 + static_cast<int>(rng() % 5);
    for (int a = 0; a < argc; a++) {
      std::string arg;
      int len = static_cast<int>(rng() % 3 == 0 ? rng() % 300 : rng() % 8);
      for (int b = 0; b < len; b++) arg.push_back(static_cast<char>(rng()));
      argv.push_back(arg);
    }
    if (rng() % 4 == 0) {
      // An inline command, sometimes quoted.
      std::string key = "key" + std::to_string(i);
      if (rng() % 2) {
        argv = {"GET", key};
        in += "GET " + key + "\r\n";
      } else {
        argv = {"get", key};
        in += "get  '" + key + "'\n";
      }
    } else {
      in += Multibulk(argv);
    }
    if (rng() % 10 == 0) in += "*0\r\n";  // empty requests are skipped
    expected->push_back(argv);
  }
  return in;
}

TEST(RequestParserTest, PipelineInOneBuffer) {
  std::vector<Argv> expected;
  std::string in = Pipeline(&expected, 1000, 1);
  auto res = FeedAll(in);
  EXPECT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.requests, expected);
  EXPECT_EQ(res.leftover, 0u);
}

TEST(RequestParserTest, OneByteAtATimeGivesTheSameArgv) {
  std::vector<Argv> expected;
  std::string in = Pipeline(&expected, 200, 2);
  auto res = FeedBytewise(in);
  EXPECT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(res.requests, expected);
  EXPECT_EQ(res.leftover, 0u);
}

TEST(RequestParserTest, SplitAtEveryByteBoundary) {
  std::string value(40, 'v');
  std::string in = Multibulk({"SET", "key", value}) + "*0\r\nPING \"a\\x41\"\r\n" +
                   Multibulk({"GET", "key"});
  std::vector<Argv> expected = {{"SET", "key", value}, {"PING", "aA"}, {"GET", "key"}};
  for (size_t split = 1; split < in.size(); split++) {
    RequestParser parser;
    auto res = FeedInChunks(parser, in, {split, in.size()});
    EXPECT_EQ(res.requests, expected) << "split at " << split;
    EXPECT_EQ(res.leftover, 0u);
  }
}

TEST(RequestParserTest, RandomChunkSizes) {
  std::vector<Argv> expected;
  std::string in = Pipeline(&expected, 300, 3);
  std::mt19937 rng(4);
  for (int round = 0; round < 20; round++) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 50; i++) chunks.push_back(1 + rng() % 97);
    RequestParser parser;
    auto res = FeedInChunks(parser, in, chunks);
    EXPECT_EQ(res.requests, expected) << "round " << round;
  }
}

TEST(RequestParserTest, BytesWantedReportsTheRestOfTheBulk) {
  RequestParser parser;
  Argv argv;
  EXPECT_EQ(parser.BytesWanted(), 0u);
  std::string in = "*2\r\n$3\r\nSET\r\n$10\r\n0123";
  ASSERT_EQ(parser.Parse(in, &argv).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.BytesWanted(), 10u + 2 - 4);
  in += "456789\r";
  ASSERT_EQ(parser.Parse(in, &argv).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.BytesWanted(), 1u);
  in += "\n";
  ASSERT_EQ(parser.Parse(in, &argv).kind, Kind::kDone);
  EXPECT_EQ(parser.BytesWanted(), 0u);
  EXPECT_EQ(argv, (Argv{"SET", "0123456789"}));
}

TEST(RequestParserTest, ReusableAfterDoneAndError) {
  RequestParser parser;
  Argv argv;
  ASSERT_EQ(parser.Parse("*1\r\n$4\r\nPING\r\n", &argv).kind, Kind::kDone);
  ASSERT_EQ(parser.Parse("*x\r\n", &argv).kind, Kind::kError);
  ASSERT_EQ(parser.Parse("*1\r\n$4\r\nPONG\r\n", &argv).kind, Kind::kDone);
  EXPECT_EQ(argv, (Argv{"PONG"}));
}

ParseResult ParseOnce(std::string_view in, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Argv argv;
  return parser.Parse(in, &argv);
}

void ExpectError(std::string_view in, std::string_view error, ParserLimits limits = {}) {
  ParseResult r = ParseOnce(in, limits);
  EXPECT_EQ(r.kind, Kind::kError) << testing::PrintToString(std::string(in));
  EXPECT_EQ(r.error, error) << testing::PrintToString(std::string(in));
  // The same error when the bytes trickle in.
  auto res = FeedBytewise(in, limits);
  EXPECT_EQ(res.error, error) << "bytewise " << testing::PrintToString(std::string(in));
}

TEST(RequestParserTest, InvalidMultibulkLength) {
  for (const char* in : {"*x\r\n", "*\r\n", "*01\r\n", "*+1\r\n", "* 1\r\n", "*1 \r\n", "*-0\r\n",
                         "*1\rx", "*99999999999999999999\r\n", "*2147483648\r\n"}) {
    ExpectError(in, "Protocol error: invalid multibulk length");
  }
}

TEST(RequestParserTest, InvalidBulkLength) {
  for (const char* in : {"*1\r\n$x\r\n", "*1\r\n$\r\n", "*1\r\n$-1\r\n", "*1\r\n$01\r\n",
                         "*1\r\n$1\rx"}) {
    ExpectError(in, "Protocol error: invalid bulk length");
  }
}

TEST(RequestParserTest, ExpectedDollar) {
  ExpectError("*1\r\n*1\r\n$4\r\nPING\r\n", "Protocol error: expected '$', got '*'");
  ExpectError("*2\r\n$3\r\nGET\r\n:1\r\n", "Protocol error: expected '$', got ':'");
  ExpectError("*1\r\nPING\r\n", "Protocol error: expected '$', got 'P'");
}

TEST(RequestParserTest, BulkMustEndWithCrlf) {
  ExpectError("*1\r\n$3\r\nPINGPONG\r\n", "Protocol error: bulk string not terminated by CRLF");
}

TEST(RequestParserTest, UnbalancedQuotes) {
  ExpectError("SET k \"abc\r\n", "Protocol error: unbalanced quotes in request");
  ExpectError("SET k 'abc\n", "Protocol error: unbalanced quotes in request");
  ExpectError("SET k \"a\"b\n", "Protocol error: unbalanced quotes in request");
}

TEST(RequestParserTest, MaxArgs) {
  ParserLimits limits;
  limits.max_args = 3;
  auto res = FeedAll(Multibulk({"a", "b", "c"}), limits);
  EXPECT_EQ(res.requests.size(), 1u);
  ExpectError(Multibulk({"a", "b", "c", "d"}), "Protocol error: invalid multibulk length", limits);
  // The default: Redis's 1024*1024.
  EXPECT_EQ(ParseOnce("*1048576\r\n").kind, Kind::kNeedMore);
  EXPECT_EQ(ParseOnce("*1048577\r\n").error, "Protocol error: invalid multibulk length");
}

TEST(RequestParserTest, MaxBulkBytes) {
  ParserLimits limits;
  limits.max_bulk_bytes = 5;
  EXPECT_EQ(FeedAll(Multibulk({"12345"}), limits).requests.size(), 1u);
  ExpectError(Multibulk({"123456"}), "Protocol error: invalid bulk length", limits);
  EXPECT_EQ(ParseOnce("*1\r\n$536870912\r\n").kind, Kind::kNeedMore);
  EXPECT_EQ(ParseOnce("*1\r\n$536870913\r\n").error, "Protocol error: invalid bulk length");
}

TEST(RequestParserTest, HugeDeclaredSizesAllocateNothingUpFront) {
  // Declared but never sent: the parser must wait, not reserve (ASan and the
  // fuzzer would notice a 512 MiB or 1M-element allocation).
  RequestParser parser;
  Argv argv;
  std::string in = "*1048576\r\n$536870912\r\nabc";
  EXPECT_EQ(parser.Parse(in, &argv).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.BytesWanted(), 536870912u + 2 - 3);
}

TEST(RequestParserTest, MaxInlineBytes) {
  ParserLimits limits;
  limits.max_inline_bytes = 10;
  // The limit counts the bytes before the '\n' (a CR included): up to it is fine.
  EXPECT_EQ(FeedAll("PING 1234\r\n", limits).requests.size(), 1u);
  EXPECT_EQ(FeedAll("PING 12345\n", limits).requests.size(), 1u);
  ExpectError("PING 12345\r\n", "Protocol error: too big inline request", limits);
  ExpectError("PING 123456\n", "Protocol error: too big inline request", limits);
  ExpectError("PING 1234567", "Protocol error: too big inline request", limits);
  // Unterminated header lines are bounded by the same limit.
  ExpectError("*1111111111", "Protocol error: too big mbulk count string", limits);
  ExpectError("*1\r\n$1111111111", "Protocol error: too big bulk count string", limits);
  EXPECT_EQ(ParseOnce("*111111111", limits).kind, Kind::kNeedMore);
  // The default is Redis's 64 KiB.
  EXPECT_EQ(ParseOnce(std::string(64 * 1024, 'a')).kind, Kind::kNeedMore);
  EXPECT_EQ(ParseOnce(std::string(64 * 1024 + 1, 'a')).error,
            "Protocol error: too big inline request");
}

TEST(RequestParserTest, NulEndsAnInlineLine) {
  auto res = FeedAll(std::string("GET a\0b c\r\n", 11));
  ASSERT_EQ(res.requests.size(), 1u);
  EXPECT_EQ(res.requests[0], (Argv{"GET", "a"}));
}

TEST(RequestParserTest, ErrorConstantsMatchRedisWording) {
  EXPECT_EQ(kErrInvalidMultibulkLength, "Protocol error: invalid multibulk length");
  EXPECT_EQ(kErrInvalidBulkLength, "Protocol error: invalid bulk length");
  EXPECT_EQ(kErrTooBigMbulkCount, "Protocol error: too big mbulk count string");
  EXPECT_EQ(kErrTooBigBulkCount, "Protocol error: too big bulk count string");
  EXPECT_EQ(kErrTooBigInline, "Protocol error: too big inline request");
  EXPECT_EQ(kErrUnbalancedQuotes, "Protocol error: unbalanced quotes in request");
}

}  // namespace
}  // namespace lockq::resp
