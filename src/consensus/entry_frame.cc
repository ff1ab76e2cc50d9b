#include "consensus/entry_frame.h"

#include <cstdint>
#include <cstring>

namespace lockq::consensus {

size_t FramedSize(size_t payload_len) { return (kFrameHeaderBytes + payload_len + 7) / 8 * 8; }

void WriteFrame(std::string_view payload, char* out) {
  size_t total = FramedSize(payload.size());
  std::memset(out, 0, total);
  out[0] = static_cast<char>(kFrameVersion);
  uint32_t len = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; i++) out[4 + i] = static_cast<char>((len >> (8 * i)) & 0xff);
  if (!payload.empty()) std::memcpy(out + kFrameHeaderBytes, payload.data(), payload.size());
}

std::optional<std::string_view> ReadFrame(std::string_view entry) {
  if (entry.size() < kFrameHeaderBytes || entry.size() % 8 != 0) return std::nullopt;
  if (static_cast<unsigned char>(entry[0]) != kFrameVersion || entry[1] != 0 || entry[2] != 0 || entry[3] != 0) {
    return std::nullopt;
  }
  uint32_t len = 0;
  for (int i = 0; i < 4; i++) len |= static_cast<uint32_t>(static_cast<unsigned char>(entry[4 + i])) << (8 * i);
  if (FramedSize(len) != entry.size()) return std::nullopt;
  for (size_t i = kFrameHeaderBytes + len; i < entry.size(); i++) {
    if (entry[i] != 0) return std::nullopt;
  }
  return entry.substr(kFrameHeaderBytes, len);
}

}  // namespace lockq::consensus
