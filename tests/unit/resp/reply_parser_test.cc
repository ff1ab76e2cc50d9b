#include <gtest/gtest.h>

#include <string>

#include "resp/resp.h"
#include "resp_test_util.h"

namespace lockq::resp {
namespace {

using ::lockq::Reply;
using Kind = ParseResult::Kind;

Reply ParseDone(std::string_view in, ParserLimits limits = {}) {
  ReplyParser parser(limits);
  Reply out;
  ParseResult r = parser.Parse(in, &out);
  EXPECT_EQ(r.kind, Kind::kDone) << testing::PrintToString(std::string(in)) << " " << r.error;
  EXPECT_EQ(r.consumed, in.size()) << testing::PrintToString(std::string(in));
  // Every strict prefix is incomplete, never an error.
  for (size_t n = 0; n < in.size(); n++) {
    Reply partial;
    ParseResult p = parser.Parse(in.substr(0, n), &partial);
    EXPECT_EQ(p.kind, Kind::kNeedMore) << "prefix " << n << " of "
                                       << testing::PrintToString(std::string(in)) << p.error;
  }
  return out;
}

std::string ParseError(std::string_view in, ParserLimits limits = {}) {
  ReplyParser parser(limits);
  Reply out;
  ParseResult r = parser.Parse(in, &out);
  EXPECT_EQ(r.kind, Kind::kError) << testing::PrintToString(std::string(in));
  return r.error;
}

TEST(ReplyParserTest, Resp2Types) {
  EXPECT_EQ(ParseDone("+OK\r\n"), Reply::Ok());
  EXPECT_EQ(ParseDone("-ERR no\r\n"), Reply::Error("ERR no"));
  EXPECT_EQ(ParseDone(":-12\r\n"), Reply::Int(-12));
  EXPECT_EQ(ParseDone(":+12\r\n"), Reply::Int(12));
  EXPECT_EQ(ParseDone("$3\r\na\r\n\r\n"), Reply::Bulk("a\r\n"));
  EXPECT_EQ(ParseDone("$0\r\n\r\n"), Reply::Bulk(""));
  EXPECT_EQ(ParseDone("$-1\r\n"), Reply::Null());
  EXPECT_EQ(ParseDone("*-1\r\n"), Reply::NullArray());
  EXPECT_EQ(ParseDone("*0\r\n"), Reply::Array({}));
  EXPECT_EQ(ParseDone("*2\r\n:1\r\n*1\r\n+x\r\n"),
            Reply::Array({Reply::Int(1), Reply::Array({Reply::Status("x")})}));
}

TEST(ReplyParserTest, Resp3Types) {
  EXPECT_EQ(ParseDone("_\r\n"), Reply::Null());
  EXPECT_EQ(ParseDone(",1.5\r\n"), Reply::Double("1.5"));
  EXPECT_EQ(ParseDone(",-inf\r\n"), Reply::Double("-inf"));
  EXPECT_EQ(ParseDone(",nan\r\n"), Reply::Double("nan"));
  EXPECT_EQ(ParseDone(",1e999\r\n"), Reply::Double("1e999"));
  EXPECT_EQ(ParseDone("#t\r\n"), Reply::Bool(true));
  EXPECT_EQ(ParseDone("#f\r\n"), Reply::Bool(false));
  EXPECT_EQ(ParseDone("%1\r\n+k\r\n:1\r\n"), Reply::Map({Reply::Status("k"), Reply::Int(1)}));
  EXPECT_EQ(ParseDone("~2\r\n:1\r\n:2\r\n"), Reply::Set({Reply::Int(1), Reply::Int(2)}));
  EXPECT_EQ(ParseDone(">1\r\n+m\r\n"), (Reply{Reply::Kind::kPush, 0, {}, {Reply::Status("m")}}));
  EXPECT_EQ(ParseDone("=9\r\ntxt:hello\r\n"), Reply::Verbatim("hello"));
  EXPECT_EQ(ParseDone("=8\r\nmkd:# hi\r\n"), Reply::Verbatim("# hi"));
  EXPECT_EQ(ParseDone("!11\r\nERR a\r\nbcde\r\n"), Reply::Error("ERR a\r\nbcde"));
}

TEST(ReplyParserTest, BigNumbersAreIntsWhenTheyFit) {
  EXPECT_EQ(ParseDone("(123\r\n"), Reply::Int(123));
  EXPECT_EQ(ParseDone("(-9223372036854775808\r\n"), Reply::Int(INT64_MIN));
  EXPECT_EQ(ParseDone("(3492890328409238509324850943850943825024385\r\n"),
            Reply::Bulk("3492890328409238509324850943850943825024385"));
  EXPECT_EQ(ParseDone("(-9223372036854775809\r\n"), Reply::Bulk("-9223372036854775809"));
  EXPECT_EQ(ParseError("(12a\r\n"), "Protocol error: invalid big number");
  EXPECT_EQ(ParseError("(\r\n"), "Protocol error: invalid big number");
}

TEST(ReplyParserTest, AttributesAreSkipped) {
  EXPECT_EQ(ParseDone("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n"),
            Reply::Array({Reply::Int(2)}));
  EXPECT_EQ(ParseDone("|0\r\n|0\r\n:5\r\n"), Reply::Int(5));
  EXPECT_EQ(ParseDone("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"),
            Reply::Array({Reply::Int(1), Reply::Int(2)}));
}

TEST(ReplyParserTest, ConsumedIsOneReply) {
  ReplyParser parser;
  Reply out;
  ParseResult r = parser.Parse("+OK\r\n:1\r\n", &out);
  ASSERT_EQ(r.kind, Kind::kDone);
  EXPECT_EQ(r.consumed, 5u);
}

TEST(ReplyParserTest, Errors) {
  EXPECT_EQ(ParseError("?x\r\n"), "Protocol error: unknown reply type '?'");
  EXPECT_EQ(ParseError(":abc\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(ParseError(":\r\n"), "Protocol error: invalid integer");
  EXPECT_EQ(ParseError("+OK\rx"), "Protocol error: expected CRLF");
  EXPECT_EQ(ParseError("$3\r\nabcd\r\n"), "Protocol error: expected CRLF");
  EXPECT_EQ(ParseError("$-2\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("$x\r\n"), "Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("*-2\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("%-1\r\n"), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("_x\r\n"), "Protocol error: invalid null");
  EXPECT_EQ(ParseError(",abc\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(ParseError(",\r\n"), "Protocol error: invalid double");
  EXPECT_EQ(ParseError("#x\r\n"), "Protocol error: invalid boolean");
  EXPECT_EQ(ParseError("=3\r\ntxt\r\n"), "Protocol error: invalid verbatim string");
  EXPECT_EQ(ParseError("=4\r\ntxt-\r\n"), "Protocol error: invalid verbatim string");
}

TEST(ReplyParserTest, StreamedTypesAreUnsupported) {
  for (const char* in : {"$?\r\n;4\r\nabcd\r\n;0\r\n", "*?\r\n:1\r\n.\r\n", "%?\r\n", "~?\r\n",
                         ";4\r\n", ".\r\n"}) {
    EXPECT_EQ(ParseError(in), "Protocol error: streamed RESP3 types are not supported") << in;
  }
}

std::string Nested(const char* open, size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; i++) s += open;
  return s + ":1\r\n";
}

TEST(ReplyParserTest, DepthLimit) {
  // 32 nested aggregates are fine by default, the 33rd is refused.
  Reply r = ParseDone(Nested("*1\r\n", 32));
  for (int i = 0; i < 32; i++) r = r.elems.at(0);
  EXPECT_EQ(r, Reply::Int(1));
  EXPECT_EQ(ParseError(Nested("*1\r\n", 33)), "Protocol error: nesting too deep");
  EXPECT_EQ(ParseError(Nested("~1\r\n", 33)), "Protocol error: nesting too deep");
  ParserLimits limits;
  limits.max_depth = 2;
  ParseDone("%1\r\n*1\r\n:1\r\n*0\r\n", limits);
  EXPECT_EQ(ParseError("*1\r\n*1\r\n*1\r\n:1\r\n", limits), "Protocol error: nesting too deep");
  // Attributes nest too.
  EXPECT_EQ(ParseError("*1\r\n*1\r\n|0\r\n:1\r\n", limits), "Protocol error: nesting too deep");
  // A deep input is refused as soon as the limit is crossed, even unfinished.
  EXPECT_EQ(ParseError(Nested("*1\r\n", 10000).substr(0, 4 * 40)),
            "Protocol error: nesting too deep");
}

TEST(ReplyParserTest, Limits) {
  ParserLimits limits;
  limits.max_bulk_bytes = 4;
  limits.max_args = 2;
  limits.max_inline_bytes = 8;
  ParseDone("$4\r\nabcd\r\n", limits);
  EXPECT_EQ(ParseError("$5\r\nabcde\r\n", limits), "Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("=9\r\ntxt:hello\r\n", limits), "Protocol error: invalid bulk length");
  ParseDone("*2\r\n:1\r\n:2\r\n", limits);
  ParseDone("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits);
  EXPECT_EQ(ParseError("*3\r\n", limits), "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("~3\r\n", limits), "Protocol error: invalid multibulk length");
  // Lines: status/error text up to max_bulk_bytes, number lines up to max_inline_bytes.
  ParseDone("+abcd\r\n", limits);
  EXPECT_EQ(ParseError("+abcde", limits), "Protocol error: reply line too long");
  EXPECT_EQ(ParseError(":123456789", limits), "Protocol error: reply line too long");
}

TEST(ReplyParserTest, HugeDeclaredSizesNeedMore) {
  ReplyParser parser;
  Reply out;
  EXPECT_EQ(parser.Parse("*1048576\r\n:1\r\n", &out).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.Parse("$536870912\r\nab", &out).kind, Kind::kNeedMore);
  EXPECT_EQ(parser.Parse("%1048576\r\n", &out).kind, Kind::kNeedMore);
}

}  // namespace
}  // namespace lockq::resp
