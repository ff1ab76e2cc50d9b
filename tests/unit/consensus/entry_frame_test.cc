#include "consensus/entry_frame.h"

#include <gtest/gtest.h>

#include <string>

namespace lockq::consensus {
namespace {

std::string Frame(std::string_view payload) {
  std::string out(FramedSize(payload.size()), '\x55');
  WriteFrame(payload, out.data());
  return out;
}

TEST(EntryFrameTest, EveryFrameIsEightByteAligned) {
  for (size_t n = 0; n < 40; n++) {
    std::string payload(n, 'x');
    std::string framed = Frame(payload);
    EXPECT_EQ(framed.size() % 8, 0u) << n;
    EXPECT_GE(framed.size(), n + kFrameHeaderBytes);
    auto back = ReadFrame(framed);
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, payload);
  }
}

TEST(EntryFrameTest, RejectsWhatWeDidNotWrite) {
  std::string framed = Frame("hello");
  EXPECT_FALSE(ReadFrame(framed.substr(0, framed.size() - 8)).has_value());  // truncated
  std::string bad_version = framed;
  bad_version[0] = 9;
  EXPECT_FALSE(ReadFrame(bad_version).has_value());
  std::string dirty_padding = framed;
  dirty_padding.back() = 1;
  EXPECT_FALSE(ReadFrame(dirty_padding).has_value());
  std::string long_length = framed;
  long_length[4] = 100;
  EXPECT_FALSE(ReadFrame(long_length).has_value());
  EXPECT_FALSE(ReadFrame("").has_value());
  EXPECT_FALSE(ReadFrame(std::string(7, '\0')).has_value());
}

}  // namespace
}  // namespace lockq::consensus
