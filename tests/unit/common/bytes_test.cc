#include "common/bytes.h"

#include <gtest/gtest.h>

namespace lockq {
namespace {

TEST(BytesTest, RoundTripsEveryType) {
  std::string buf;
  ByteWriter w(&buf);
  w.PutU8(7);
  w.PutU32(0xdeadbeef);
  w.PutU64(UINT64_MAX);
  w.PutVarint(300);
  w.PutI64(-5);
  w.PutString("hello");
  ByteReader r(buf);
  uint8_t a; uint32_t b; uint64_t c, d; int64_t e; std::string f;
  ASSERT_TRUE(r.GetU8(&a) && r.GetU32(&b) && r.GetU64(&c) && r.GetVarint(&d) && r.GetI64(&e) &&
              r.GetString(&f));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 0xdeadbeef);
  EXPECT_EQ(c, UINT64_MAX);
  EXPECT_EQ(d, 300u);
  EXPECT_EQ(e, -5);
  EXPECT_EQ(f, "hello");
}

TEST(BytesTest, TruncationFailsAndStaysFailed) {
  std::string buf;
  ByteWriter(&buf).PutString("hello");
  ByteReader r(std::string_view(buf).substr(0, 3));
  std::string s;
  EXPECT_FALSE(r.GetString(&s));
  uint8_t b;
  EXPECT_FALSE(r.GetU8(&b));
  EXPECT_FALSE(r.ok());
}

TEST(BytesTest, DeclaredLengthBeyondLimitIsRejectedBeforeAllocating) {
  std::string buf;
  ByteWriter(&buf).PutVarint(1ull << 40);
  ByteReader r(buf);
  std::string s;
  EXPECT_FALSE(r.GetString(&s, 1024));
}

TEST(BytesTest, OverlongVarintIsRejected) {
  std::string buf(11, '\x80');
  ByteReader r(buf);
  uint64_t v;
  EXPECT_FALSE(r.GetVarint(&v));
}

}  // namespace
}  // namespace lockq
