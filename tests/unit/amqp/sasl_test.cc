// src/amqp/sasl.cc: PLAIN and AMQPLAIN responses of connection.start-ok.

#include "amqp/sasl.h"

#include <gtest/gtest.h>

#include <string>

namespace lockq::amqp {
namespace {

using namespace std::string_literals;

std::string LongStr(const std::string& s) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((s.size() >> shift) & 0xff));
  return out + s;
}

TEST(Sasl, Plain) {
  auto l = ParseSaslResponse("PLAIN", "\0guest\0pw"s);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user, "guest");
  EXPECT_EQ(l->password, "pw");
  l = ParseSaslResponse("PLAIN", "authz\0u\0"s);  // authzid ignored, empty password
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user, "u");
  EXPECT_EQ(l->password, "");
  EXPECT_FALSE(ParseSaslResponse("PLAIN", "guest"));
  EXPECT_FALSE(ParseSaslResponse("PLAIN", "\0guest"s));
  EXPECT_FALSE(ParseSaslResponse("PLAIN", "\0u\0p\0q"s));
  EXPECT_FALSE(ParseSaslResponse("EXTERNAL", "\0u\0p"s));
}

TEST(Sasl, Amqplain) {
  std::string r = "\x05LOGINS"s + LongStr("celery") + "\x08PASSWORDS"s + LongStr("s3cret");
  auto l = ParseSaslResponse("AMQPLAIN", r);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user, "celery");
  EXPECT_EQ(l->password, "s3cret");
  // Other longstr entries are skipped; order does not matter.
  std::string r2 = "\x08PASSWORDS"s + LongStr("p") + "\x01XS"s + LongStr("y") + "\x05LOGINS"s + LongStr("u");
  l = ParseAmqplain(r2);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->user, "u");
  EXPECT_EQ(l->password, "p");
  EXPECT_FALSE(ParseAmqplain("\x05LOGINS"s + LongStr("u")));           // no password
  EXPECT_FALSE(ParseAmqplain(r.substr(0, r.size() - 1)));              // truncated
  EXPECT_FALSE(ParseAmqplain("\x05LOGINt"s + std::string(8, '\0')));   // not a longstr
  EXPECT_FALSE(ParseAmqplain(""));
}

}  // namespace
}  // namespace lockq::amqp
