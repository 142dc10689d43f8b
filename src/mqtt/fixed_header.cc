#include "mqtt/fixed_header.h"

namespace iothub::mqtt {
namespace {

// The flags every type but PUBLISH must carry (spec 2.2.2, table 2.2).
uint8_t RequiredFlags(PacketType type) {
  switch (type) {
    case PacketType::kPubrel:
    case PacketType::kSubscribe:
    case PacketType::kUnsubscribe:
      return 0b0010;
    default:
      return 0;
  }
}

}  // namespace

DecodeStatus DecodeFixedHeader(std::string_view bytes, uint32_t max_remaining_length,
                               FixedHeader* out, std::string* why) {
  if (bytes.empty()) return DecodeStatus::kIncomplete;
  const auto first = static_cast<uint8_t>(bytes[0]);
  const uint8_t type = first >> 4;
  const uint8_t flags = first & 0x0f;
  if (type == 0 || type == 15) {
    *why = "reserved packet type " + std::to_string(type);
    return DecodeStatus::kMalformed;
  }
  const auto packet_type = static_cast<PacketType>(type);
  if (packet_type == PacketType::kPublish) {
    const uint8_t qos = (flags >> 1) & 0b11;
    if (qos == 3) {
      *why = "PUBLISH with QoS 3";
      return DecodeStatus::kMalformed;
    }
    if (qos == 0 && (flags & 0b1000) != 0) {
      *why = "PUBLISH with DUP set and QoS 0";
      return DecodeStatus::kMalformed;
    }
  } else if (flags != RequiredFlags(packet_type)) {
    *why = "reserved flags " + std::to_string(flags) + " on packet type " + std::to_string(type);
    return DecodeStatus::kMalformed;
  }
  uint32_t length = 0;
  uint32_t multiplier = 1;
  for (size_t i = 1;; ++i) {
    if (i > 4) {
      *why = "Remaining Length longer than four bytes";
      return DecodeStatus::kMalformed;
    }
    if (i >= bytes.size()) return DecodeStatus::kIncomplete;
    const auto byte = static_cast<uint8_t>(bytes[i]);
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) == 0) {
      if (length > max_remaining_length) {
        *why = "packet of " + std::to_string(length) + " bytes exceeds the limit of " +
               std::to_string(max_remaining_length);
        return DecodeStatus::kMalformed;
      }
      *out = {.type = packet_type, .flags = flags, .remaining_length = length, .size = i + 1};
      return DecodeStatus::kOk;
    }
  }
}

void EncodeFixedHeader(PacketType type, uint8_t flags, uint32_t remaining_length,
                       std::string* out) {
  out->push_back(static_cast<char>((static_cast<uint8_t>(type) << 4) | (flags & 0x0f)));
  do {
    uint8_t byte = remaining_length % 128;
    remaining_length /= 128;
    if (remaining_length > 0) byte |= 0x80;
    out->push_back(static_cast<char>(byte));
  } while (remaining_length > 0);
}

}  // namespace iothub::mqtt
