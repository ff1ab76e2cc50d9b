#pragma once
// How consensus frames an application payload inside a libraft entry.
//
// libraft's uv backend requires every entry's length to be a multiple of 8:
// its segment format stores batches 8-byte aligned, and an unpadded entry is
// read back wrong after a restart ("non-zero trail", truncated segment) and
// when several entries travel in one AppendEntries message (canonical/raft
// issues #189 and #304). So each payload is framed (docs/formats.md):
//
//   u8  frame version (= kFrameVersion)
//   u8  reserved[3] (zero)
//   u32 payload length, little endian
//   payload bytes
//   zero padding up to a multiple of 8
//
// The frame is consensus's business: Fsm::Apply receives the bare payload.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lockq::consensus {

inline constexpr unsigned char kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 8;

// Size of the framed entry for a payload of `payload_len` bytes.
size_t FramedSize(size_t payload_len);
// Writes the frame for `payload` into `out`, which must hold
// FramedSize(payload.size()) bytes.
void WriteFrame(std::string_view payload, char* out);
// The payload inside a framed entry, or nullopt when the bytes are not a
// frame we wrote (bad version, length beyond the entry, non-zero padding).
std::optional<std::string_view> ReadFrame(std::string_view entry);

}  // namespace lockq::consensus
