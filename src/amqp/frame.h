#pragma once
// AMQP 0-9-1 frames (spec section 4.2.3, "General Frame Format"):
//
//   type:octet  channel:short  size:long  payload:size octets  0xCE
//
// FrameParser splits an input buffer into frames without copying; the
// Append* writers build frames. The method layer (arguments of every
// method, basic properties, field tables) is librabbitmq's codec
// (amqp_framing.h); this file only frames it. Pure functions, no I/O.

#include <amqp.h>
#include <amqp_framing.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lockq::amqp {

inline constexpr uint8_t kFrameMethod = 1;
inline constexpr uint8_t kFrameHeader = 2;
inline constexpr uint8_t kFrameBody = 3;
inline constexpr uint8_t kFrameHeartbeat = 8;
inline constexpr uint8_t kFrameEnd = 0xCE;
inline constexpr size_t kFrameOverheadBytes = 8;  // 7-byte header + frame-end octet
inline constexpr std::string_view kProtocolHeader{"AMQP\0\0\x09\x01", 8};

struct Frame {
  uint8_t type = 0;
  uint16_t channel = 0;
  std::string_view payload;  // points into the parsed buffer
};

enum class ParseStatus {
  kOk,        // *frame filled, *consumed bytes used
  kNeedMore,  // incomplete frame
  kBadEnd,    // frame-end octet is not 0xCE (501 FRAME_ERROR)
  kTooLarge,  // bigger than frame_max (501 FRAME_ERROR)
};

// Parses one frame from the front of `in`. `max_frame_bytes` bounds the
// whole frame (the negotiated frame-max), so a peer cannot make us buffer
// more than that per frame.
ParseStatus ParseFrame(std::string_view in, size_t max_frame_bytes, Frame* frame, size_t* consumed);

void AppendFrame(uint8_t type, uint16_t channel, std::string_view payload, std::string* out);
void AppendHeartbeat(std::string* out);

// Encodes `decoded` (the librabbitmq struct of method `id`) as one method
// frame. Returns false if librabbitmq cannot encode it (nothing appended).
bool AppendMethod(uint16_t channel, amqp_method_number_t id, void* decoded, std::string* out);

// A content header (class basic, `raw_props` = property flags and values
// as they came from the publisher) and the body split into body frames of
// at most max_frame_bytes (section 4.2.6).
void AppendContent(uint16_t channel, std::string_view raw_props, std::string_view body, size_t max_frame_bytes,
                   std::string* out);

// The method id and arguments of a method frame's payload, decoded into
// `pool`. Returns a librabbitmq status: AMQP_STATUS_OK,
// AMQP_STATUS_UNKNOWN_METHOD / _CLASS, AMQP_STATUS_BAD_AMQP_DATA.
int DecodeMethod(std::string_view payload, amqp_pool_t* pool, amqp_method_number_t* id, void** decoded);

// A content header payload: class, body size and the raw properties that
// follow them (flags + values).
struct ContentHeader {
  uint16_t class_id = 0;
  uint64_t body_size = 0;
  std::string_view raw_props;
};
bool ParseContentHeader(std::string_view payload, ContentHeader* h);

// Field tables as the state machine takes them: `k v` string pairs.
// Integers become decimal strings, booleans true/false, strings stay;
// other value kinds (floats, arrays, nested tables, decimals) are skipped.
std::vector<std::pair<std::string, std::string>> TableToPairs(const amqp_table_t& table);

std::string ToString(amqp_bytes_t b);
inline amqp_bytes_t Bytes(std::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

}  // namespace lockq::amqp
