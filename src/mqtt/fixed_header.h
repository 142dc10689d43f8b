#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iothub::mqtt {

// MQTT 3.1.1 control packet types (spec 2.2.1). 0 and 15 are reserved.
enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// The largest Remaining Length the four-byte encoding can carry (spec 2.2.3): 268,435,455.
inline constexpr uint32_t kMaxRemainingLength = 268'435'455;

// The first byte and the Remaining Length of a control packet (spec 2.2).
struct FixedHeader {
  PacketType type = PacketType::kConnect;
  uint8_t flags = 0;              // the low nibble of the first byte
  uint32_t remaining_length = 0;  // bytes after the fixed header
  size_t size = 0;                // bytes the fixed header itself took: 2 to 5
};

enum class DecodeStatus {
  kOk,          // decoded; the packet's remaining bytes may still be missing
  kIncomplete,  // more bytes are needed to decode the fixed header
  kMalformed,   // the bytes break the spec: close the connection
};

// Decodes the fixed header at the start of `bytes`, which may be a partial read. Malformed: a
// reserved packet type (0, 15); flags other than the spec's fixed values for every type but
// PUBLISH (SUBSCRIBE, UNSUBSCRIBE and PUBREL carry 0b0010, the others 0), and for PUBLISH QoS 3 or
// DUP set with QoS 0 (spec 3.3.1); a Remaining Length longer than four bytes, or larger than
// `max_remaining_length` (the hub's packet size limit). A length in more bytes than it needs is
// accepted (3.1.1, unlike MQTT 5, does not require the shortest form). Sets `*why` for kMalformed.
// Pure function: any thread.
DecodeStatus DecodeFixedHeader(std::string_view bytes, uint32_t max_remaining_length,
                               FixedHeader* out, std::string* why);

// Appends the fixed header for `type` with `flags` and `remaining_length` (at most
// kMaxRemainingLength) to `out`.
void EncodeFixedHeader(PacketType type, uint8_t flags, uint32_t remaining_length, std::string* out);

}  // namespace iothub::mqtt
