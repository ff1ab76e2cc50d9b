#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/bytes.h"
#include "sm/command.h"
#include "sm/reply.h"

namespace lockq::sm {
namespace {

Batch SampleBatch() {
  Batch b;
  b.origin = {3, 0xdeadbeefcafeull, 42};
  b.leader_time_ms = 1'700'000'000'123ull;
  b.commands = {{"SET", "k", "v", "PX", "100"}, {}, {"GET", std::string("bin\0ary", 7)}, {""}};
  return b;
}

TEST(BatchCodecTest, RoundTrip) {
  Batch b = SampleBatch();
  std::string bytes = EncodeBatch(b);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kBatchVersion);
  auto d = DecodeBatch(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->origin, b.origin);
  EXPECT_EQ(d->leader_time_ms, b.leader_time_ms);
  EXPECT_EQ(d->commands, b.commands);
}

TEST(BatchCodecTest, EmptyBatchRoundTrips) {
  Batch b;
  auto d = DecodeBatch(EncodeBatch(b));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->commands.empty());
}

TEST(BatchCodecTest, EveryTruncationIsCorruption) {
  std::string bytes = EncodeBatch(SampleBatch());
  for (size_t n = 0; n < bytes.size(); n++) {
    auto d = DecodeBatch(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.status().code(), StatusCode::kCorruption);
  }
}

TEST(BatchCodecTest, TrailingBytesAndBadVersion) {
  std::string bytes = EncodeBatch(SampleBatch());
  EXPECT_EQ(DecodeBatch(bytes + "x").status().code(), StatusCode::kCorruption);
  std::string v2 = bytes;
  v2[0] = 2;
  EXPECT_EQ(DecodeBatch(v2).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeBatch("").status().code(), StatusCode::kCorruption);
}

std::string Header() {
  std::string s;
  ByteWriter w(&s);
  w.PutU8(kBatchVersion);
  for (int i = 0; i < 4; i++) w.PutU64(0);
  return s;
}

TEST(BatchCodecTest, HugeDeclaredCountsRejectedWithoutAllocating) {
  {
    std::string s = Header();
    ByteWriter(&s).PutVarint(UINT64_MAX);  // n_commands
    EXPECT_EQ(DecodeBatch(s).status().code(), StatusCode::kCorruption);
  }
  {
    std::string s = Header();
    ByteWriter w(&s);
    w.PutVarint(1);
    w.PutVarint(kMaxArgsPerCommand + 1);  // argc over the limit
    EXPECT_EQ(DecodeBatch(s).status().code(), StatusCode::kCorruption);
  }
  {
    std::string s = Header();
    ByteWriter w(&s);
    w.PutVarint(1);
    w.PutVarint(1);
    w.PutVarint(uint64_t{1} << 40);  // argument length beyond the input
    EXPECT_EQ(DecodeBatch(s).status().code(), StatusCode::kCorruption);
  }
  {
    std::string s = Header();
    ByteWriter w(&s);
    w.PutVarint(kMaxCommandsPerBatch + 1);
    s.append(kMaxCommandsPerBatch + 1, '\0');  // bytes present, count over limit
    EXPECT_EQ(DecodeBatch(s).status().code(), StatusCode::kCorruption);
  }
}

TEST(ArgvListCodecTest, RoundTripAndCorruption) {
  std::vector<Argv> cmds = {{"PING"}, {"SET", "a", ""}, {}};
  std::string bytes = EncodeArgvList(cmds);
  auto d = DecodeArgvList(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, cmds);
  EXPECT_FALSE(DecodeArgvList(bytes + "z").ok());
  for (size_t n = 0; n < bytes.size(); n++) {
    EXPECT_FALSE(DecodeArgvList(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  auto empty = DecodeArgvList(EncodeArgvList({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

std::vector<Reply> SampleReplies() {
  Reply nested = Reply::Array({Reply::Int(-1), Reply::Array({Reply::Bulk("deep")})});
  return {Reply::Ok(),
          Reply::Null(),
          Reply::NullArray(),
          Reply::Error("ERR syntax error"),
          Reply::Int(INT64_MIN),
          Reply::Int(INT64_MAX),
          Reply::Bulk(std::string("a\0b\r\n", 5)),
          nested,
          Reply::Map({Reply::Bulk("k"), Reply::Int(1)}),
          Reply::Set({Reply::Bulk("x")}),
          Reply::Double("3.14"),
          Reply::Bool(true),
          Reply::Verbatim("txt:hello"),
          Reply{Reply::Kind::kPush, 0, {}, {Reply::Bulk("message")}}};
}

TEST(ReplyCodecTest, RoundTrip) {
  std::vector<Reply> replies = SampleReplies();
  auto d = DecodeReplies(EncodeReplies(replies));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, replies);
  auto empty = DecodeReplies(EncodeReplies({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ReplyCodecTest, Corruption) {
  std::string bytes = EncodeReplies(SampleReplies());
  for (size_t n = 0; n < bytes.size(); n++) {
    EXPECT_FALSE(DecodeReplies(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeReplies(bytes + std::string(1, '\0')).ok());
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_FALSE(DecodeReplies(bad_version).ok());
  // Unknown kind.
  std::string bad_kind = EncodeReplies({Reply::Int(1)});
  bad_kind[2] = 14;
  EXPECT_FALSE(DecodeReplies(bad_kind).ok());
  // Huge declared count.
  std::string huge;
  ByteWriter w(&huge);
  w.PutU8(bytes[0]);
  w.PutVarint(UINT64_MAX / 2);
  EXPECT_FALSE(DecodeReplies(huge).ok());
}

Reply Nest(int depth) {
  Reply r = Reply::Int(7);
  for (int i = 1; i < depth; i++) r = Reply::Array({r});
  return r;
}

TEST(ReplyCodecTest, DepthLimit) {
  auto ok = DecodeReplies(EncodeReplies({Nest(64)}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0], Nest(64));
  // Deeper replies are cut by the encoder into an error, so the output still
  // decodes.
  auto cut = DecodeReplies(EncodeReplies({Nest(200)}));
  ASSERT_TRUE(cut.ok());
  EXPECT_NE((*cut)[0], Nest(200));
  // A hand-made stream nested beyond the limit is rejected.
  std::string deep;
  ByteWriter w(&deep);
  w.PutU8(1);
  w.PutVarint(1);
  for (int i = 0; i < 100; i++) {
    w.PutU8(static_cast<uint8_t>(Reply::Kind::kArray));
    w.PutVarint(0);
    w.PutString("");
    w.PutVarint(1);
  }
  w.PutU8(static_cast<uint8_t>(Reply::Kind::kNull));
  w.PutVarint(0);
  w.PutString("");
  w.PutVarint(0);
  EXPECT_FALSE(DecodeReplies(deep).ok());
}

TEST(ReplyDebugStringTest, Forms) {
  EXPECT_EQ(ToDebugString(Reply::Array({Reply::Ok(), Reply::Int(3), Reply::Null()})),
            "[OK, 3, nil]");
  EXPECT_EQ(ToDebugString(Reply::Bulk("a\"b\n")), "\"a\\\"b\\x0a\"");
  EXPECT_EQ(ToDebugString(Reply::Error("ERR x")), "(error) ERR x");
  EXPECT_EQ(ToDebugString(Reply::Map({Reply::Bulk("k"), Reply::Int(1)})), "{\"k\": 1}");
  EXPECT_EQ(ToDebugString(Reply::Bool(false)), "false");
}

}  // namespace
}  // namespace lockq::sm
