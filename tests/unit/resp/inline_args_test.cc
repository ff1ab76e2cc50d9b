#include "resp/inline_args.h"

#include <gtest/gtest.h>

#include <climits>

namespace lockq::resp {
namespace {

Argv Split(std::string_view line) {
  Argv out;
  EXPECT_TRUE(SplitInlineArgs(line, &out)) << line;
  return out;
}

bool Unbalanced(std::string_view line) {
  Argv out;
  return !SplitInlineArgs(line, &out);
}

TEST(InlineArgsTest, SplitsOnWhitespace) {
  EXPECT_EQ(Split("SET k v"), (Argv{"SET", "k", "v"}));
  EXPECT_EQ(Split("  a\t\tb \v c\f d\r"), (Argv{"a", "b", "c", "d"}));
  EXPECT_EQ(Split(""), Argv{});
  EXPECT_EQ(Split("   "), Argv{});
}

TEST(InlineArgsTest, DoubleQuotesAndEscapes) {
  EXPECT_EQ(Split("SET \"a b\" c"), (Argv{"SET", "a b", "c"}));
  EXPECT_EQ(Split(R"("\n\r\t\b\a\\\"")"), (Argv{"\n\r\t\b\a\\\""}));
  EXPECT_EQ(Split(R"("\x41\x6a\xFF")"), (Argv{"Aj\xff"}));
  EXPECT_EQ(Split(R"("\x00")"), (Argv{std::string(1, '\0')}));
  // \x without two hex digits, and unknown escapes, stand for the byte.
  EXPECT_EQ(Split(R"("\xZZ" "\x4" "\q")"), (Argv{"xZZ", "x4", "q"}));
  EXPECT_EQ(Split("\"\""), (Argv{""}));
}

TEST(InlineArgsTest, SingleQuotesAreLiteral) {
  EXPECT_EQ(Split(R"('it\'s' 'a\nb' '')"), (Argv{"it's", "a\\nb", ""}));
  EXPECT_EQ(Split("'a \"b\"'"), (Argv{"a \"b\""}));
}

TEST(InlineArgsTest, QuoteInsideAWordOpensQuoting) {
  EXPECT_EQ(Split("foo\"bar baz\" x"), (Argv{"foobar baz", "x"}));
  EXPECT_EQ(Split("foo'bar'"), (Argv{"foobar"}));
}

TEST(InlineArgsTest, UnbalancedQuotes) {
  EXPECT_TRUE(Unbalanced("\"abc"));
  EXPECT_TRUE(Unbalanced("'abc"));
  EXPECT_TRUE(Unbalanced("\"abc\"def"));  // closing quote must be followed by a space
  EXPECT_TRUE(Unbalanced("'abc'def"));
  EXPECT_TRUE(Unbalanced("\"abc\\\""));   // the escaped quote does not close
  EXPECT_TRUE(Unbalanced("\"abc\\"));
  EXPECT_FALSE(Unbalanced("\"abc\"\t"));
}

TEST(InlineArgsTest, NulEndsTheLine) {
  EXPECT_EQ(Split(std::string_view("a b\0c d", 7)), (Argv{"a", "b"}));
}

TEST(InlineArgsTest, StrictInt64IsRedisString2ll) {
  int64_t v = 0;
  EXPECT_TRUE(ParseStrictInt64("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(ParseStrictInt64("-1", &v));
  EXPECT_EQ(v, -1);
  EXPECT_TRUE(ParseStrictInt64("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(ParseStrictInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  for (const char* bad : {"", "-", "+1", "01", "-0", " 1", "1 ", "1a", "9223372036854775808",
                          "-9223372036854775809", "99999999999999999999"}) {
    EXPECT_FALSE(ParseStrictInt64(bad, &v)) << bad;
  }
}

}  // namespace
}  // namespace lockq::resp
