#include "amqp/frame_checker.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

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

// The encoded elements of the list the described performative at the start of `body` holds (its
// framing already checked by ScanAmqpValue). Empty for list0 or anything else.
std::vector<std::string_view> Fields(std::string_view body) {
  std::vector<std::string_view> fields;
  size_t at = body[1] == '\x53' ? 3 : 10;
  if (at >= body.size()) return fields;
  uint8_t code = static_cast<uint8_t>(body[at]);
  size_t count = 0;
  if (code == 0xc0 && at + 3 <= body.size()) {
    count = static_cast<uint8_t>(body[at + 2]);
    at += 3;
  } else if (code == 0xd0 && at + 9 <= body.size()) {
    count = ReadU32(body.substr(at + 5));
    at += 9;
  } else {
    return fields;
  }
  for (size_t i = 0; i < count && at < body.size(); ++i) {
    size_t n = ScanAmqpValue(body.substr(at));
    if (n == 0) break;
    fields.push_back(body.substr(at, n));
    at += n;
  }
  return fields;
}

// A uint field (uint0, smalluint, uint); nullopt when absent or null.
std::optional<uint32_t> UintField(const std::vector<std::string_view>& fields, size_t i) {
  if (i >= fields.size()) return std::nullopt;
  std::string_view f = fields[i];
  switch (static_cast<uint8_t>(f[0])) {
    case 0x43:
      return 0;
    case 0x52:
      return f.size() >= 2 ? std::optional<uint32_t>(static_cast<uint8_t>(f[1])) : std::nullopt;
    case 0x70:
      return f.size() >= 5 ? std::optional<uint32_t>(ReadU32(f.substr(1))) : std::nullopt;
    default:
      return std::nullopt;
  }
}

bool BoolField(const std::vector<std::string_view>& fields, size_t i) {
  if (i >= fields.size()) return false;
  std::string_view f = fields[i];
  if (f[0] == '\x41') return true;
  return f[0] == '\x56' && f.size() >= 2 && f[1] != '\x00';
}

constexpr int64_t kBegin = 0x11;
constexpr int64_t kAttach = 0x12;
constexpr int64_t kTransfer = 0x14;
constexpr int64_t kDetach = 0x16;
constexpr int64_t kEnd = 0x17;

}  // namespace

std::string FrameChecker::Feed(std::string_view bytes, size_t* good) {
  const size_t chunk = bytes.size();
  size_t frame_start = 0;  // in this chunk, of the frame being read (0: it began earlier)
  while (!bytes.empty() && state_ != State::kStopped) {
    if (pending_.empty()) frame_start = chunk - bytes.size();
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
      std::string().swap(pending_);
      if (good != nullptr) *good = frame_start;
      return error;
    }
  }
  if (state_ == State::kStopped) std::string().swap(pending_);
  return "";
}

std::string FrameChecker::CheckFrame(std::string_view frame) {
  uint8_t type = static_cast<uint8_t>(frame[5]);
  uint16_t channel =
      static_cast<uint16_t>((static_cast<uint8_t>(frame[6]) << 8) | static_cast<uint8_t>(frame[7]));
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
  if (performative != body.size() && code != kTransfer) {
    return "bytes after the performative";  // only a transfer carries a payload
  }
  if (!sasl_) return TrackTransfers(channel, code, Fields(body.substr(0, performative)));
  return "";
}

std::string FrameChecker::TrackTransfers(uint16_t channel, int64_t code,
                                         const std::vector<std::string_view>& fields) {
  // Proton 0.37 asserts (aborts the process) on the first transfer of a delivery that has more
  // frames and no delivery-id (transport.c, pn_do_transfer). AMQP requires the id on the first
  // transfer of every delivery, so one without it ends the connection here instead.
  switch (code) {
    case kBegin:
    case kEnd:
      std::erase_if(in_delivery_, [channel](auto key) { return key.first == channel; });
      return "";
    case kAttach:  // handle is field 1
      if (auto handle = UintField(fields, 1)) in_delivery_.erase({channel, *handle});
      return "";
    case kDetach:  // handle is field 0
      if (auto handle = UintField(fields, 0)) in_delivery_.erase({channel, *handle});
      return "";
    case kTransfer: {
      std::optional<uint32_t> handle = UintField(fields, 0);
      if (!handle) return "transfer without a handle";
      std::pair<uint16_t, uint32_t> key{channel, *handle};
      bool continues = in_delivery_.contains(key);
      if (!continues && !UintField(fields, 1)) {
        return "the first transfer of a delivery has no delivery-id";
      }
      bool more = BoolField(fields, 5);
      bool aborted = BoolField(fields, 9);
      if (more && !aborted) {
        if (!continues && in_delivery_.size() >= kMaxDeliveriesTracked) {
          return "too many deliveries in progress";
        }
        in_delivery_.insert(key);
      } else {
        in_delivery_.erase(key);
      }
      return "";
    }
    default:
      return "";
  }
}

}  // namespace iothub::amqp
