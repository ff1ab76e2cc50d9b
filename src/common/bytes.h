#pragma once
// Little-endian binary encoding used by every lockq format (log entries,
// snapshots, forwarded batches). Formats are described in docs/formats.md.
//
// ByteWriter appends to a std::string. ByteReader never reads past its input:
// every Get* returns false on truncation and the reader then stays failed, so
// a decoder can check ok() once at the end.

#include <cstdint>
#include <string>
#include <string_view>

namespace lockq {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void PutU32(uint32_t v);
  void PutU64(uint64_t v);
  void PutVarint(uint64_t v);  // LEB128, 1..10 bytes
  void PutI64(int64_t v) { PutU64(static_cast<uint64_t>(v)); }
  // Varint length, then the bytes.
  void PutString(std::string_view s);

 private:
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool GetU8(uint8_t* v);
  bool GetU32(uint32_t* v);
  bool GetU64(uint64_t* v);
  bool GetVarint(uint64_t* v);
  bool GetI64(int64_t* v);
  // `max_len` bounds the declared length before anything is allocated.
  bool GetString(std::string* s, uint64_t max_len = UINT32_MAX);
  bool GetStringView(std::string_view* s, uint64_t max_len = UINT32_MAX);
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool Fail() { ok_ = false; return false; }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace lockq
