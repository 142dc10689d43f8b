#include "amqp/frame_checker.h"

#include <algorithm>
#include <cstdio>

#include "amqp/value_scanner.h"

namespace iothub::amqp {
namespace {

constexpr size_t kHeaderSize = 8;
constexpr uint8_t kAmqpFrame = 0;
constexpr uint8_t kSaslFrame = 1;

uint32_t ReadU32(std::string_view b) {
  return (uint32_t{static_cast<uint8_t>(b[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[2])} << 8) | uint32_t{static_cast<uint8_t>(b[3])};
}

// The descriptor code of the described value at the start of `body`, or -1 when there is none:
// 0x00 then a smallulong (0x53 code) or ulong (0x80, eight bytes).
int64_t DescriptorCode(std::string_view body) {
  if (body.size() < 3 || body[0] != '\x00') return -1;
  if (body[1] == '\x53') return static_cast<uint8_t>(body[2]);
  if (body[1] == '\x80' && body.size() >= 10) {
    uint64_t code = 0;
    for (size_t i = 2; i < 10; ++i) code = (code << 8) | static_cast<uint8_t>(body[i]);
    return code > 0xff ? -1 : static_cast<int64_t>(code);
  }
  return -1;
}

}  // namespace

std::string FrameChecker::Feed(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::kStopped) {
    if (state_ == State::kHeader) {
      size_t take = std::min(kHeaderSize - pending_.size(), bytes.size());
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (pending_.size() < kHeaderSize) return "";
      if (pending_.compare(0, 4, "AMQP") != 0 || pending_.compare(5, 3, "\x01\x00\x00", 3) != 0 ||
          (pending_[4] != '\x00' && pending_[4] != '\x03')) {
        state_ = State::kStopped;  // Proton answers a bad header with its own and closes
        break;
      }
      sasl_ = pending_[4] == '\x03';
      pending_.clear();
      state_ = State::kFrames;
      continue;
    }
    // A protocol header may follow the SASL frames: its "AMQP" would be a frame size of over 1 GB.
    if (sasl_ && pending_.empty() && bytes[0] == 'A') {
      state_ = State::kHeader;
      continue;
    }
    if (pending_.size() < kHeaderSize) {
      size_t take = std::min(kHeaderSize - pending_.size(), bytes.size());
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (pending_.size() < kHeaderSize) return "";
    }
    uint32_t size = ReadU32(pending_);
    size_t data_offset = size_t{static_cast<uint8_t>(pending_[4])} * 4;
    if (size < kHeaderSize || size > max_frame_size_ || data_offset < kHeaderSize ||
        data_offset > size) {
      state_ = State::kStopped;  // Proton's framing error
      break;
    }
    size_t take = std::min(size - pending_.size(), bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() < size) return "";
    std::string error = CheckFrame(pending_);
    pending_.clear();
    if (pending_.capacity() > 4096) pending_.shrink_to_fit();  // idle connections hold nothing
    if (!error.empty()) {
      state_ = State::kStopped;
      return error;
    }
  }
  if (state_ == State::kStopped) std::string().swap(pending_);
  return "";
}

std::string FrameChecker::CheckFrame(std::string_view frame) const {
  uint8_t type = static_cast<uint8_t>(frame[5]);
  std::string_view body = frame.substr(size_t{static_cast<uint8_t>(frame[4])} * 4);
  if (body.empty()) return "";  // an empty frame keeps the connection alive
  if (type != (sasl_ ? kSaslFrame : kAmqpFrame)) {
    return "frame of type " + std::to_string(type) + " in " + (sasl_ ? "SASL" : "AMQP");
  }
  int64_t code = DescriptorCode(body);
  bool known = sasl_ ? (code >= 0x40 && code <= 0x44) : (code >= 0x10 && code <= 0x18);
  if (!known) {
    if (code < 0) return "frame body is not a performative";
    char text[48];
    std::snprintf(text, sizeof(text), "unknown performative 0x%02x", static_cast<unsigned>(code));
    return text;
  }
  size_t performative = ScanAmqpValue(body);
  if (performative == 0) return "malformed performative";
  constexpr int64_t kTransfer = 0x14;
  if (performative != body.size() && code != kTransfer) {
    return "bytes after the performative";  // only a transfer carries a payload
  }
  return "";
}

}  // namespace iothub::amqp
