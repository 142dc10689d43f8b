#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iothub {

// Byte encodings for stored records and keys. Big-endian fixed integers sort in numeric order
// under bytewise comparison, which ordered keys rely on.
void PutFixed64BE(std::string* dst, uint64_t v);
uint64_t DecodeFixed64BE(const char* p);
void PutVarint64(std::string* dst, uint64_t v);
// A varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view s);

// Reads what the Put* functions wrote. Every Get returns false (and leaves the reader failed) on
// truncated or malformed input instead of reading past the end: stored bytes are never trusted.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool GetFixed64BE(uint64_t* v);
  bool GetVarint64(uint64_t* v);
  bool GetLengthPrefixed(std::string_view* s);
  bool GetLengthPrefixed(std::string* s);
  bool GetByte(uint8_t* b);
  bool done() const { return in_.empty(); }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

}  // namespace iothub
