// libFuzzer target for src/amqp (STYLE.md habit 10: every decoder is fuzzed).
//
// Input layout: byte 0 picks frame_max (4096 or 131072); the rest is a byte
// stream from a client. Frames are split off as a connection does; every
// method frame goes through librabbitmq's decoder (and its tables through
// TableToPairs), every content header through ParseContentHeader,
// amqp_decode_properties and WithDeliveryHeaders, whose output must decode
// again. A parsed frame written back must be byte-identical. Any
// disagreement aborts, which libFuzzer reports as a crash.
#include <amqp.h>
#include <amqp_framing.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "amqp/delivery_headers.h"
#include "amqp/frame.h"

namespace lockq::amqp {
namespace {

#define FUZZ_ASSERT(cond)                                              \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "amqp_fuzz: assertion failed: %s\n", #cond); \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

void Method(std::string_view payload, amqp_pool_t* pool) {
  amqp_method_number_t id = 0;
  void* decoded = nullptr;
  if (DecodeMethod(payload, pool, &id, &decoded) != AMQP_STATUS_OK) return;
  if (id == AMQP_QUEUE_DECLARE_METHOD) TableToPairs(static_cast<amqp_queue_declare_t*>(decoded)->arguments);
  if (id == AMQP_QUEUE_BIND_METHOD) TableToPairs(static_cast<amqp_queue_bind_t*>(decoded)->arguments);
  if (id == AMQP_CONNECTION_START_OK_METHOD) {
    TableToPairs(static_cast<amqp_connection_start_ok_t*>(decoded)->client_properties);
  }
}

void Header(std::string_view payload, amqp_pool_t* pool) {
  ContentHeader h;
  if (!ParseContentHeader(payload, &h)) return;
  void* decoded = nullptr;
  if (amqp_decode_properties(AMQP_BASIC_CLASS, pool, Bytes(h.raw_props), &decoded) != AMQP_STATUS_OK) return;
  auto* props = static_cast<amqp_basic_properties_t*>(decoded);
  if (props->_flags & AMQP_BASIC_HEADERS_FLAG) TableToPairs(props->headers);
  std::string out = WithDeliveryHeaders(h.raw_props, 3, {{"q", "expired", "x", "k", 1000}});
  void* again = nullptr;
  FUZZ_ASSERT(amqp_decode_properties(AMQP_BASIC_CLASS, pool, Bytes(out), &again) == AMQP_STATUS_OK);
}

}  // namespace
}  // namespace lockq::amqp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockq::amqp;
  if (size == 0) return 0;
  size_t frame_max = (data[0] & 1) ? 4096 : 131072;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  while (!in.empty()) {
    Frame f;
    size_t used = 0;
    if (ParseFrame(in, frame_max, &f, &used) != ParseStatus::kOk) break;
    FUZZ_ASSERT(used >= kFrameOverheadBytes && used <= in.size() && used <= frame_max);
    std::string again;
    AppendFrame(f.type, f.channel, f.payload, &again);
    FUZZ_ASSERT(again == in.substr(0, used));
    if (f.type == kFrameMethod) Method(f.payload, &pool);
    if (f.type == kFrameHeader) Header(f.payload, &pool);
    recycle_amqp_pool(&pool);
    in.remove_prefix(used);
  }
  empty_amqp_pool(&pool);
  return 0;
}
