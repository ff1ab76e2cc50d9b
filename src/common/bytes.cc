#include "common/bytes.h"

namespace lockq {

void ByteWriter::PutU32(uint32_t v) {
  for (int i = 0; i < 4; i++) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void ByteWriter::PutU64(uint64_t v) {
  for (int i = 0; i < 8; i++) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void ByteWriter::PutVarint(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<char>(v));
}

void ByteWriter::PutString(std::string_view s) {
  PutVarint(s.size());
  out_->append(s.data(), s.size());
}

bool ByteReader::GetU8(uint8_t* v) {
  if (!ok_ || remaining() < 1) return Fail();
  *v = static_cast<uint8_t>(in_[pos_++]);
  return true;
}

bool ByteReader::GetU32(uint32_t* v) {
  if (!ok_ || remaining() < 4) return Fail();
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) r |= static_cast<uint32_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
  pos_ += 4;
  *v = r;
  return true;
}

bool ByteReader::GetU64(uint64_t* v) {
  if (!ok_ || remaining() < 8) return Fail();
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
  pos_ += 8;
  *v = r;
  return true;
}

bool ByteReader::GetI64(int64_t* v) {
  uint64_t u;
  if (!GetU64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool ByteReader::GetVarint(uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!GetU8(&b)) return false;
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return Fail();  // more than 10 bytes: not a varint we wrote
}

bool ByteReader::GetStringView(std::string_view* s, uint64_t max_len) {
  uint64_t n;
  if (!GetVarint(&n)) return false;
  if (n > max_len || n > remaining()) return Fail();
  *s = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool ByteReader::GetString(std::string* s, uint64_t max_len) {
  std::string_view v;
  if (!GetStringView(&v, max_len)) return false;
  s->assign(v.data(), v.size());
  return true;
}

}  // namespace lockq
