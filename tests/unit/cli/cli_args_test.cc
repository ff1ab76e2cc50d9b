// The lockq CLI's argument parsing and output helpers (src/cli/output.h).

#include <gtest/gtest.h>

#include <cstdio>

#include "cli/output.h"

namespace lockq::cli {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, UnitsAndBareSeconds) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120'000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("3"), milliseconds(3000));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
}

TEST(ParseDurationTest, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "s", "5x", "-1s", "1.2.3s", "ms10", "10 s", "1e400s"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("500ms, 10s"), std::string::npos) << "says what works";
  }
}

TEST(SplitEndpointsTest, CommasAndSpaces) {
  EXPECT_EQ(SplitEndpoints("a:1"), (std::vector<std::string>{"a:1"}));
  EXPECT_EQ(SplitEndpoints("a:1, b:2,,c:3 "), (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_TRUE(SplitEndpoints("").empty());
}

TEST(ParseKeyValueTest, SplitsAtTheFirstEquals) {
  auto kv = ParseKeyValue("x-max-length=1000");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "x-max-length");
  EXPECT_EQ(kv->second, "1000");
  EXPECT_EQ(ParseKeyValue("k=a=b")->second, "a=b");
  EXPECT_EQ(ParseKeyValue("k=")->second, "");
  EXPECT_FALSE(ParseKeyValue("novalue").ok());
  EXPECT_FALSE(ParseKeyValue("=v").ok());
}

TEST(ParseFenceTest, TokenAfterTheLastColon) {
  auto f = ParseFence("orders:41");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->first, "orders");
  EXPECT_EQ(f->second, 41u);
  auto nested = ParseFence("elect:jobs:7");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->first, "elect:jobs");
  EXPECT_EQ(nested->second, 7u);
  for (const char* bad : {"orders", "orders:", ":5", "orders:x1"}) EXPECT_FALSE(ParseFence(bad).ok()) << bad;
}

TEST(ToJsonTest, MapsBecomeObjects) {
  Reply info = Reply::Map({Reply::Bulk("mode"), Reply::Bulk("exclusive"), Reply::Bulk("holders"),
                           Reply::Array({Reply::Map({Reply::Bulk("token"), Reply::Int(41)})}),
                           Reply::Bulk("gone"), Reply::Null(), Reply::Bulk("ok"), Reply::Bool(true)});
  nlohmann::json j = ToJson(info);
  EXPECT_EQ(j["mode"], "exclusive");
  EXPECT_EQ(j["holders"][0]["token"], 41);
  EXPECT_TRUE(j["gone"].is_null());
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(ToJson(Reply::Error("ERR x"))["error"], "ERR x");
}

TEST(ToTextTest, LooksLikeRedisCli) {
  EXPECT_EQ(ToText(Reply::Ok()), "OK");
  EXPECT_EQ(ToText(Reply::Null()), "(nil)");
  EXPECT_EQ(ToText(Reply::Int(3)), "(integer) 3");
  EXPECT_EQ(ToText(Reply::Array({})), "(empty array)");
  EXPECT_EQ(ToText(Reply::Array({Reply::Bulk("a"), Reply::Array({Reply::Int(1), Reply::Int(2)})})),
            "1) \"a\"\n2) 1) (integer) 1\n   2) (integer) 2");
  EXPECT_EQ(ToText(Reply::Map({Reply::Bulk("k"), Reply::Bulk("v")})), "1# \"k\" => \"v\"");
}

TEST(HumanMsTest, PicksAUnit) {
  EXPECT_EQ(HumanMs(850), "850ms");
  EXPECT_EQ(HumanMs(12'300), "12.3s");
  EXPECT_EQ(HumanMs(245'000), "4m05s");
  EXPECT_EQ(HumanMs(-1), "-");
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Table t({"NAME", "N", ""});
  t.Add({"long-name", "1", ""});
  t.Add({"x", "22", "(leader)"});
  t.Print(f);
  std::rewind(f);
  char buf[256] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  EXPECT_EQ(std::string(buf, n),
            "NAME       N\n"
            "long-name  1\n"
            "x          22  (leader)\n");
}

}  // namespace
}  // namespace lockq::cli
