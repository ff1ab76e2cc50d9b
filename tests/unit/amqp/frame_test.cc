// src/amqp: framing (AMQP 0-9-1 section 4.2.3), content framing, tables as
// string pairs, and the delivery headers merged into basic properties.

#include "amqp/frame.h"

#include <gtest/gtest.h>

#include "amqp/delivery_headers.h"

namespace lockq::amqp {
namespace {

TEST(AmqpFrame, RoundTripsAndNeedsTheWholeFrame) {
  std::string out;
  AppendFrame(kFrameBody, 7, "hello", &out);
  ASSERT_EQ(out.size(), 5 + kFrameOverheadBytes);
  Frame f;
  size_t used = 0;
  for (size_t n = 0; n < out.size(); n++) {
    EXPECT_EQ(ParseFrame(std::string_view(out).substr(0, n), 4096, &f, &used), ParseStatus::kNeedMore) << n;
  }
  ASSERT_EQ(ParseFrame(out, 4096, &f, &used), ParseStatus::kOk);
  EXPECT_EQ(f.type, kFrameBody);
  EXPECT_EQ(f.channel, 7);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_EQ(used, out.size());
}

TEST(AmqpFrame, RejectsBadEndAndOversizedFrames) {
  std::string out;
  AppendFrame(kFrameMethod, 1, "abcd", &out);
  out.back() = 0;
  Frame f;
  size_t used = 0;
  EXPECT_EQ(ParseFrame(out, 4096, &f, &used), ParseStatus::kBadEnd);
  // The size alone decides: nothing of a too-large frame is buffered.
  std::string header("\x01\x00\x01\x7f\xff\xff\xff", 7);
  EXPECT_EQ(ParseFrame(header, 131072, &f, &used), ParseStatus::kTooLarge);
  out.clear();
  AppendFrame(kFrameBody, 1, std::string(4096 - kFrameOverheadBytes + 1, 'x'), &out);
  EXPECT_EQ(ParseFrame(out, 4096, &f, &used), ParseStatus::kTooLarge);
}

TEST(AmqpFrame, MethodRoundTrip) {
  std::string name = "orders";
  amqp_queue_declare_ok_t ok{Bytes(name), 3, 1};
  std::string out;
  ASSERT_TRUE(AppendMethod(2, AMQP_QUEUE_DECLARE_OK_METHOD, &ok, &out));
  Frame f;
  size_t used = 0;
  ASSERT_EQ(ParseFrame(out, 4096, &f, &used), ParseStatus::kOk);
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_method_number_t id = 0;
  void* decoded = nullptr;
  ASSERT_EQ(DecodeMethod(f.payload, &pool, &id, &decoded), AMQP_STATUS_OK);
  EXPECT_EQ(id, AMQP_QUEUE_DECLARE_OK_METHOD);
  auto* d = static_cast<amqp_queue_declare_ok_t*>(decoded);
  EXPECT_EQ(ToString(d->queue), "orders");
  EXPECT_EQ(d->message_count, 3u);
  EXPECT_EQ(DecodeMethod(std::string_view("\x00\x4d\x00\x0a", 4), &pool, &id, &decoded), AMQP_STATUS_UNKNOWN_METHOD);
  EXPECT_NE(DecodeMethod(std::string_view("\x00\x0a", 2), &pool, &id, &decoded), AMQP_STATUS_OK);
  empty_amqp_pool(&pool);
}

TEST(AmqpFrame, ContentIsSplitByFrameMax) {
  std::string body(10000, 'b');
  std::string out;
  AppendContent(1, {}, body, 4096, &out);
  Frame f;
  size_t used = 0, pos = 0;
  ASSERT_EQ(ParseFrame(out, 4096, &f, &used), ParseStatus::kOk);
  ContentHeader h;
  ASSERT_TRUE(ParseContentHeader(f.payload, &h));
  EXPECT_EQ(h.class_id, AMQP_BASIC_CLASS);
  EXPECT_EQ(h.body_size, body.size());
  EXPECT_EQ(h.raw_props, std::string_view("\0\0", 2));
  pos += used;
  std::string got;
  while (pos < out.size()) {
    ASSERT_EQ(ParseFrame(std::string_view(out).substr(pos), 4096, &f, &used), ParseStatus::kOk);
    EXPECT_EQ(f.type, kFrameBody);
    got += f.payload;
    pos += used;
  }
  EXPECT_EQ(got, body);
}

TEST(AmqpFrame, TableToPairsStringifies) {
  amqp_table_entry_t entries[4] = {};
  entries[0].key = amqp_cstring_bytes("x-max-length");
  entries[0].value.kind = AMQP_FIELD_KIND_I32;
  entries[0].value.value.i32 = 10;
  entries[1].key = amqp_cstring_bytes("x-single-active-consumer");
  entries[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  entries[1].value.value.boolean = 1;
  entries[2].key = amqp_cstring_bytes("x-dead-letter-exchange");
  entries[2].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[2].value.value.bytes = amqp_cstring_bytes("dlx");
  entries[3].key = amqp_cstring_bytes("ratio");
  entries[3].value.kind = AMQP_FIELD_KIND_F64;  // left out
  amqp_table_t t{4, entries};
  auto pairs = TableToPairs(t);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0], (std::pair<std::string, std::string>{"x-max-length", "10"}));
  EXPECT_EQ(pairs[1].second, "true");
  EXPECT_EQ(pairs[2].second, "dlx");
}

TEST(AmqpDeliveryHeaders, AddsCountAndDeathsKeepingOtherProperties) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.content_type = amqp_cstring_bytes("text/plain");
  std::string raw(256, '\0');
  int n = amqp_encode_properties(AMQP_BASIC_CLASS, &props, Bytes(raw));
  ASSERT_GT(n, 0);
  raw.resize(static_cast<size_t>(n));
  EXPECT_EQ(WithDeliveryHeaders(raw, 0, {}), raw);
  std::string out = WithDeliveryHeaders(raw, 2, {{"q", "rejected", "x", "k", 5000}, {"q", "rejected", "x", "k", 1000}});
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  void* decoded = nullptr;
  ASSERT_EQ(amqp_decode_properties(AMQP_BASIC_CLASS, &pool, Bytes(out), &decoded), AMQP_STATUS_OK);
  auto* p = static_cast<amqp_basic_properties_t*>(decoded);
  EXPECT_EQ(ToString(p->content_type), "text/plain");
  ASSERT_TRUE(p->_flags & AMQP_BASIC_HEADERS_FLAG);
  ASSERT_EQ(p->headers.num_entries, 2);
  EXPECT_EQ(ToString(p->headers.entries[0].key), "x-delivery-count");
  EXPECT_EQ(p->headers.entries[0].value.value.i64, 2);
  const amqp_field_value_t& deaths = p->headers.entries[1].value;
  ASSERT_EQ(deaths.kind, AMQP_FIELD_KIND_ARRAY);
  ASSERT_EQ(deaths.value.array.num_entries, 1);  // one per (queue, reason), with a count
  const amqp_table_t& death = deaths.value.array.entries[0].value.table;
  EXPECT_EQ(ToString(death.entries[0].key), "count");
  EXPECT_EQ(death.entries[0].value.value.i64, 2);
  empty_amqp_pool(&pool);
  // Undecodable properties are passed through unchanged.
  EXPECT_EQ(WithDeliveryHeaders(std::string_view("\xff\xff", 2), 1, {}), std::string("\xff\xff", 2));
}

}  // namespace
}  // namespace lockq::amqp
