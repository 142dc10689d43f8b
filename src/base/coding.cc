#include "base/coding.h"

namespace iothub {

void PutFixed64BE(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  dst->append(buf, 8);
}

uint64_t DecodeFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s);
}

bool Decoder::GetFixed64BE(uint64_t* v) {
  if (in_.size() < 8) return false;
  *v = DecodeFixed64BE(in_.data());
  in_.remove_prefix(8);
  return true;
}

bool Decoder::GetVarint64(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in_.empty(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  in_ = {};
  return false;
}

bool Decoder::GetLengthPrefixed(std::string_view* s) {
  uint64_t len;
  if (!GetVarint64(&len) || len > in_.size()) {
    in_ = {};
    return false;
  }
  *s = in_.substr(0, len);
  in_.remove_prefix(len);
  return true;
}

bool Decoder::GetLengthPrefixed(std::string* s) {
  std::string_view v;
  if (!GetLengthPrefixed(&v)) return false;
  s->assign(v);
  return true;
}

bool Decoder::GetByte(uint8_t* b) {
  if (in_.empty()) return false;
  *b = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return true;
}

}  // namespace iothub
