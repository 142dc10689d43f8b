#include "amqp/value_scanner.h"

#include <cstdint>

namespace iothub::amqp {
namespace {

// A pn_data_t holds at most 65535 nodes, so a value with more cannot decode anyway. Counting them
// here also ends the scan of an array of 2^32 zero-width elements early.
constexpr size_t kMaxValues = 65535;

// Walks one encoded value (AMQP 1.0 types, 1.2) and finds its end (value_scanner.h says what it
// checks). Recursive, but never deeper than kMaxAmqpDepth.
class Scanner {
 public:
  explicit Scanner(std::string_view in) : in_(in) {}

  bool Value(int depth) {
    uint8_t code;
    return Constructor(depth, &code) && Payload(code, depth);
  }
  size_t position() const { return pos_; }

 private:
  bool Byte(uint8_t* out) {
    if (pos_ >= in_.size()) return false;
    *out = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool Skip(size_t n) {
    if (in_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  bool Unsigned(size_t width, size_t* out) {
    if (in_.size() - pos_ < width) return false;
    size_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    *out = v;
    return true;
  }
  static bool IsCompound(uint8_t code) { return code >= 0xc0; }

  // A format code, after any descriptors (a described value's descriptor may not be compound or
  // itself described: Proton refuses those too).
  bool Constructor(int depth, uint8_t* code) {
    if (!Byte(code)) return false;
    while (*code == 0x00) {
      if (++depth > kMaxAmqpDepth) return false;
      uint8_t descriptor;
      if (!Byte(&descriptor) || descriptor == 0x00 || IsCompound(descriptor)) return false;
      if (!Payload(descriptor, depth) || !Byte(code)) return false;
    }
    return true;
  }

  bool Payload(uint8_t code, int depth) {
    if (++values_ > kMaxValues) return false;
    int category = code >> 4;
    if (category >= 0x4 && category <= 0x9) {  // fixed width: 0, 1, 2, 4, 8 or 16 bytes
      static constexpr size_t kWidth[] = {0, 1, 2, 4, 8, 16};
      return Skip(kWidth[category - 0x4]);
    }
    if (category == 0xa || category == 0xb) {  // variable width: a 1 or 4 byte size
      size_t size;
      return Unsigned(category == 0xa ? 1 : 4, &size) && Skip(size);
    }
    return category >= 0xc && Compound(code, depth + 1);
  }

  // list, map (0xc_, 0xd_) or array (0xe_, 0xf_): size, count, then the elements, which must end
  // exactly where the size says.
  bool Compound(uint8_t code, int depth) {
    if (depth > kMaxAmqpDepth) return false;
    size_t width = (code >> 4 == 0xc || code >> 4 == 0xe) ? 1 : 4;
    size_t size, count;
    if (!Unsigned(width, &size) || size < width || in_.size() - pos_ < size) return false;
    size_t end = pos_ + size;
    if (!Unsigned(width, &count)) return false;
    if (code >= 0xe0) {
      uint8_t element;
      if (!Constructor(depth, &element)) return false;
      for (size_t i = 0; i < count; ++i) {
        if (pos_ > end || !Payload(element, depth)) return false;
      }
    } else {
      for (size_t i = 0; i < count; ++i) {
        if (pos_ > end || !Value(depth)) return false;
      }
    }
    return pos_ == end;
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

}  // namespace

size_t ScanAmqpValue(std::string_view bytes) {
  Scanner scanner(bytes);
  return scanner.Value(0) ? scanner.position() : 0;
}

}  // namespace iothub::amqp
