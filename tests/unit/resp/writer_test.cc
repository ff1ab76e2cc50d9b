#include <gtest/gtest.h>

#include <string>

#include "resp/resp.h"
#include "resp_test_util.h"

namespace lockq::resp {
namespace {

using ::lockq::Reply;

std::string Write(const Reply& r, int protocol) {
  std::string out;
  WriteReply(r, protocol, &out);
  return out;
}

struct Case {
  Reply reply;
  std::string resp2;
  std::string resp3;
};

TEST(WriterTest, EveryKindInBothProtocols) {
  const Case cases[] = {
      {Reply::Null(), "$-1\r\n", "_\r\n"},
      {Reply::NullArray(), "*-1\r\n", "_\r\n"},
      {Reply::Ok(), "+OK\r\n", "+OK\r\n"},
      {Reply::Error("ERR syntax error"), "-ERR syntax error\r\n", "-ERR syntax error\r\n"},
      {Reply::Int(0), ":0\r\n", ":0\r\n"},
      {Reply::Int(-42), ":-42\r\n", ":-42\r\n"},
      {Reply::Int(INT64_MIN), ":-9223372036854775808\r\n", ":-9223372036854775808\r\n"},
      {Reply::Bulk(""), "$0\r\n\r\n", "$0\r\n\r\n"},
      {Reply::Bulk(std::string("a\r\n\0", 4)), std::string("$4\r\na\r\n\0\r\n", 10),
       std::string("$4\r\na\r\n\0\r\n", 10)},
      {Reply::Array({}), "*0\r\n", "*0\r\n"},
      {Reply::Array({Reply::Int(1), Reply::Bulk("x"), Reply::Null()}),
       "*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n", "*3\r\n:1\r\n$1\r\nx\r\n_\r\n"},
      {Reply::Map({Reply::Bulk("a"), Reply::Int(1), Reply::Bulk("b"), Reply::Bool(true)}),
       "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:1\r\n", "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n#t\r\n"},
      {Reply::Map({}), "*0\r\n", "%0\r\n"},
      {Reply::Set({Reply::Bulk("m")}), "*1\r\n$1\r\nm\r\n", "~1\r\n$1\r\nm\r\n"},
      {Reply::Double("3.25"), "$4\r\n3.25\r\n", ",3.25\r\n"},
      {Reply::Double("-inf"), "$4\r\n-inf\r\n", ",-inf\r\n"},
      {Reply::Bool(true), ":1\r\n", "#t\r\n"},
      {Reply::Bool(false), ":0\r\n", "#f\r\n"},
      {Reply::Verbatim("hello"), "$5\r\nhello\r\n", "=9\r\ntxt:hello\r\n"},
      {Reply::Verbatim(""), "$0\r\n\r\n", "=4\r\ntxt:\r\n"},
      {Reply{Reply::Kind::kPush, 0, {}, {Reply::Bulk("message"), Reply::Bulk("ch")}},
       "*2\r\n$7\r\nmessage\r\n$2\r\nch\r\n", ">2\r\n$7\r\nmessage\r\n$2\r\nch\r\n"},
      {Reply::Array({Reply::Array({Reply::NullArray()}), Reply::Set({})}),
       "*2\r\n*1\r\n*-1\r\n*0\r\n", "*2\r\n*1\r\n_\r\n~0\r\n"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Write(c.reply, 2), c.resp2) << testing::PrintToString(c.reply);
    EXPECT_EQ(Write(c.reply, 3), c.resp3) << testing::PrintToString(c.reply);
  }
}

TEST(WriterTest, LinesNeverContainCrOrLf) {
  EXPECT_EQ(Write(Reply::Error("ERR bad\r\nthing\n"), 2), "-ERR bad  thing \r\n");
  EXPECT_EQ(Write(Reply::Status("a\rb"), 3), "+a b\r\n");
  EXPECT_EQ(Write(Reply::Double("1\n"), 3), ",1 \r\n");
}

TEST(WriterTest, Appends) {
  std::string out = "prefix";
  WriteReply(Reply::Ok(), 2, &out);
  WriteReply(Reply::Int(7), 3, &out);
  EXPECT_EQ(out, "prefix+OK\r\n:7\r\n");
}

TEST(WriterTest, WriteCommandIsAMultibulk) {
  std::string out;
  WriteCommand({"SET", "k", ""}, &out);
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
  out.clear();
  WriteCommand({}, &out);
  EXPECT_EQ(out, "*0\r\n");
}

}  // namespace
}  // namespace lockq::resp
