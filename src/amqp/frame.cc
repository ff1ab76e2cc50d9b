// Frame codec (frame.h). Integers on the wire are big-endian (AMQP 0-9-1
// section 4.2.2).

#include "amqp/frame.h"

#include <cstring>

namespace lockq::amqp {

namespace {

constexpr size_t kMethodScratchBytes = 64 << 10;  // a server method with its tables

uint16_t Get16(const char* p) {
  auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] << 8 | u[1]);
}

uint32_t Get32(const char* p) { return static_cast<uint32_t>(Get16(p)) << 16 | Get16(p + 2); }

uint64_t Get64(const char* p) { return static_cast<uint64_t>(Get32(p)) << 32 | Get32(p + 4); }

void Put16(uint16_t v, std::string* out) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void Put32(uint32_t v, std::string* out) {
  Put16(static_cast<uint16_t>(v >> 16), out);
  Put16(static_cast<uint16_t>(v), out);
}

void Put64(uint64_t v, std::string* out) {
  Put32(static_cast<uint32_t>(v >> 32), out);
  Put32(static_cast<uint32_t>(v), out);
}

}  // namespace

ParseStatus ParseFrame(std::string_view in, size_t max_frame_bytes, Frame* frame, size_t* consumed) {
  if (in.size() < 7) return ParseStatus::kNeedMore;
  uint32_t size = Get32(in.data() + 3);
  if (static_cast<uint64_t>(size) + kFrameOverheadBytes > max_frame_bytes) return ParseStatus::kTooLarge;
  size_t total = size + kFrameOverheadBytes;
  if (in.size() < total) return ParseStatus::kNeedMore;
  if (static_cast<uint8_t>(in[total - 1]) != kFrameEnd) return ParseStatus::kBadEnd;
  frame->type = static_cast<uint8_t>(in[0]);
  frame->channel = Get16(in.data() + 1);
  frame->payload = in.substr(7, size);
  *consumed = total;
  return ParseStatus::kOk;
}

void AppendFrame(uint8_t type, uint16_t channel, std::string_view payload, std::string* out) {
  out->push_back(static_cast<char>(type));
  Put16(channel, out);
  Put32(static_cast<uint32_t>(payload.size()), out);
  out->append(payload);
  out->push_back(static_cast<char>(kFrameEnd));
}

void AppendHeartbeat(std::string* out) { AppendFrame(kFrameHeartbeat, 0, {}, out); }

bool AppendMethod(uint16_t channel, amqp_method_number_t id, void* decoded, std::string* out) {
  static char scratch[kMethodScratchBytes];  // the loop is single-threaded
  scratch[0] = static_cast<char>(id >> 24);
  scratch[1] = static_cast<char>(id >> 16);
  scratch[2] = static_cast<char>(id >> 8);
  scratch[3] = static_cast<char>(id);
  amqp_bytes_t args{sizeof(scratch) - 4, scratch + 4};
  int n = amqp_encode_method(id, decoded, args);
  if (n < 0) return false;
  AppendFrame(kFrameMethod, channel, std::string_view(scratch, 4 + static_cast<size_t>(n)), out);
  return true;
}

void AppendContent(uint16_t channel, std::string_view raw_props, std::string_view body, size_t max_frame_bytes,
                   std::string* out) {
  std::string header;
  header.reserve(14 + raw_props.size());
  Put16(AMQP_BASIC_CLASS, &header);
  Put16(0, &header);  // weight
  Put64(body.size(), &header);
  if (raw_props.empty()) Put16(0, &header);  // no property flags
  header.append(raw_props);
  AppendFrame(kFrameHeader, channel, header, out);
  size_t chunk = max_frame_bytes - kFrameOverheadBytes;
  for (size_t pos = 0; pos < body.size(); pos += chunk) {
    AppendFrame(kFrameBody, channel, body.substr(pos, chunk), out);
  }
}

int DecodeMethod(std::string_view payload, amqp_pool_t* pool, amqp_method_number_t* id, void** decoded) {
  if (payload.size() < 4) return AMQP_STATUS_BAD_AMQP_DATA;
  *id = Get32(payload.data());
  amqp_bytes_t args = Bytes(payload.substr(4));
  return amqp_decode_method(*id, pool, args, decoded);
}

bool ParseContentHeader(std::string_view payload, ContentHeader* h) {
  if (payload.size() < 14) return false;  // class, weight, size, flags
  h->class_id = Get16(payload.data());
  h->body_size = Get64(payload.data() + 4);
  h->raw_props = payload.substr(12);
  return true;
}

std::string ToString(amqp_bytes_t b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

std::vector<std::pair<std::string, std::string>> TableToPairs(const amqp_table_t& table) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < table.num_entries; i++) {
    const amqp_table_entry_t& e = table.entries[i];
    const amqp_field_value_t& v = e.value;
    std::string value;
    switch (v.kind) {
      case AMQP_FIELD_KIND_BOOLEAN: value = v.value.boolean ? "true" : "false"; break;
      case AMQP_FIELD_KIND_I8: value = std::to_string(v.value.i8); break;
      case AMQP_FIELD_KIND_U8: value = std::to_string(v.value.u8); break;
      case AMQP_FIELD_KIND_I16: value = std::to_string(v.value.i16); break;
      case AMQP_FIELD_KIND_U16: value = std::to_string(v.value.u16); break;
      case AMQP_FIELD_KIND_I32: value = std::to_string(v.value.i32); break;
      case AMQP_FIELD_KIND_U32: value = std::to_string(v.value.u32); break;
      case AMQP_FIELD_KIND_I64: value = std::to_string(v.value.i64); break;
      case AMQP_FIELD_KIND_U64: value = std::to_string(v.value.u64); break;
      case AMQP_FIELD_KIND_TIMESTAMP: value = std::to_string(v.value.u64); break;
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES: value = ToString(v.value.bytes); break;
      default: continue;
    }
    out.emplace_back(ToString(e.key), std::move(value));
  }
  return out;
}

}  // namespace lockq::amqp
