#include "sm/glob.h"

#include <gtest/gtest.h>

#include <string>

namespace lockq::sm {
namespace {

TEST(GlobTest, LiteralsAndWildcards) {
  EXPECT_TRUE(GlobMatch("abc", "abc"));
  EXPECT_FALSE(GlobMatch("abc", "abd"));
  EXPECT_FALSE(GlobMatch("abc", "ab"));
  EXPECT_FALSE(GlobMatch("ab", "abc"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("a*", "a"));
  EXPECT_TRUE(GlobMatch("a*c", "abbbbc"));
  EXPECT_TRUE(GlobMatch("a**c", "ac"));
  EXPECT_FALSE(GlobMatch("a*c", "abcd"));
  EXPECT_TRUE(GlobMatch("*b*", "abc"));
  EXPECT_TRUE(GlobMatch("h?llo*", "hallo world"));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
}

TEST(GlobTest, EmptyStringMatchesNoPatternLikeRedis) {
  // stringmatchlen("*", "") is 0 in Redis; KEYS/SCAN special-case "*".
  EXPECT_FALSE(GlobMatch("*", ""));
  EXPECT_FALSE(GlobMatch("?", ""));
}

TEST(GlobTest, Classes) {
  EXPECT_TRUE(GlobMatch("h[ae]llo", "hello"));
  EXPECT_TRUE(GlobMatch("h[ae]llo", "hallo"));
  EXPECT_FALSE(GlobMatch("h[ae]llo", "hillo"));
  EXPECT_TRUE(GlobMatch("h[^e]llo", "hallo"));
  EXPECT_FALSE(GlobMatch("h[^e]llo", "hello"));
  EXPECT_TRUE(GlobMatch("h[a-b]llo", "hbllo"));
  EXPECT_FALSE(GlobMatch("h[a-b]llo", "hcllo"));
  EXPECT_TRUE(GlobMatch("[z-a]", "m"));  // reversed range accepted
  EXPECT_TRUE(GlobMatch("[\\]]", "]"));  // escaped ']' inside a class
  EXPECT_TRUE(GlobMatch("[a\\-z]", "-"));
  EXPECT_FALSE(GlobMatch("[a\\-z]", "b"));
  EXPECT_TRUE(GlobMatch("x[^a-c]y", "xdy"));
  EXPECT_FALSE(GlobMatch("x[^a-c]y", "xby"));
}

TEST(GlobTest, UnterminatedClassEndsPattern) {
  // Redis treats "[abc" as a class running to the end of the pattern.
  EXPECT_TRUE(GlobMatch("[abc", "a"));
  EXPECT_FALSE(GlobMatch("[abc", "d"));
  EXPECT_FALSE(GlobMatch("[abc", "ab"));
  EXPECT_FALSE(GlobMatch("x[", "x["));  // an empty class matches nothing
  EXPECT_TRUE(GlobMatch("x\\[", "x["));
}

TEST(GlobTest, Escapes) {
  EXPECT_TRUE(GlobMatch("a\\*b", "a*b"));
  EXPECT_FALSE(GlobMatch("a\\*b", "axb"));
  EXPECT_TRUE(GlobMatch("a\\?", "a?"));
  EXPECT_FALSE(GlobMatch("a\\?", "ab"));
  EXPECT_TRUE(GlobMatch("\\[x]", "[x]"));
  EXPECT_TRUE(GlobMatch("a\\", "a\\"));  // trailing backslash is literal
}

TEST(GlobTest, CaseSensitivityAndNocase) {
  EXPECT_FALSE(GlobMatch("ABC", "abc"));
  EXPECT_TRUE(GlobMatch("ABC", "abc", /*nocase=*/true));
  EXPECT_TRUE(GlobMatch("[A-C]x", "bX", true));
  EXPECT_FALSE(GlobMatch("[A-C]x", "bX", false));
}

TEST(GlobTest, BinarySafe) {
  std::string key("a\0b", 3);
  EXPECT_TRUE(GlobMatch(std::string("a\0*", 3), key));
  EXPECT_TRUE(GlobMatch("a?b", key));
  EXPECT_TRUE(GlobMatch("[\x80-\xff]", "\xc3"));
}

TEST(GlobTest, PathologicalPatternIsFast) {
  std::string pattern;
  for (int i = 0; i < 30; i++) pattern += "a*";
  pattern += "b";
  std::string str(200, 'a');
  EXPECT_FALSE(GlobMatch(pattern, str));  // finishes quickly (skip longer matches)
  std::string deep(3000, '*');
  deep += "x";
  EXPECT_TRUE(GlobMatch(deep, "abcx"));  // consecutive stars collapse
}

}  // namespace
}  // namespace lockq::sm
