#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/fixed_header.h"

namespace iothub::mqtt {

// The MQTT 3.1.1 control packets a server meets (spec chapter 3), decoded. Strings are copies (a
// packet outlives the read buffer it came from); PUBLISH payloads too.

// CONNECT return codes (spec 3.2.2.3).
enum class ConnectReturnCode : uint8_t {
  kAccepted = 0,
  kUnacceptableProtocolVersion = 1,
  kIdentifierRejected = 2,
  kServerUnavailable = 3,
  kBadUserNameOrPassword = 4,
  kNotAuthorized = 5,
};

struct Will {
  std::string topic;
  std::string message;  // binary
  uint8_t qos = 0;
  bool retain = false;
  friend bool operator==(const Will&, const Will&) = default;
};

struct Connect {
  std::string protocol_name = "MQTT";  // "MQTT" (3.1.1); "MQIsdp" (3.1) decodes too, to be refused
  uint8_t protocol_level = 4;          // 4 = 3.1.1
  bool clean_session = true;
  uint16_t keep_alive = 0;  // seconds; 0 = no keep-alive
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> user_name;
  std::optional<std::string> password;  // binary
  friend bool operator==(const Connect&, const Connect&) = default;
};

struct Connack {
  bool session_present = false;
  ConnectReturnCode return_code = ConnectReturnCode::kAccepted;
  friend bool operator==(const Connack&, const Connack&) = default;
};

struct Publish {
  bool dup = false;
  uint8_t qos = 0;  // 0, 1 or 2
  bool retain = false;
  std::string topic;
  uint16_t packet_id = 0;  // QoS 1 and 2 only (never 0 there)
  std::string payload;
  friend bool operator==(const Publish&, const Publish&) = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet id and nothing else.
struct PacketIdOnly {
  PacketType type = PacketType::kPuback;
  uint16_t packet_id = 0;
  friend bool operator==(const PacketIdOnly&, const PacketIdOnly&) = default;
};

struct Subscription {
  std::string filter;
  uint8_t qos = 0;  // requested: 0..2
  friend bool operator==(const Subscription&, const Subscription&) = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

// SUBACK return codes: the granted QoS 0..2, or this.
inline constexpr uint8_t kSubscribeFailure = 0x80;

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> return_codes;
  friend bool operator==(const Suback&, const Suback&) = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

// PINGREQ, PINGRESP and DISCONNECT: no content beyond the type.
struct Empty {
  PacketType type = PacketType::kPingreq;
  friend bool operator==(const Empty&, const Empty&) = default;
};

using Packet =
    std::variant<Connect, Connack, Publish, PacketIdOnly, Subscribe, Suback, Unsubscribe, Empty>;

PacketType TypeOf(const Packet& packet);

// Decodes one whole packet: `header` (from DecodeFixedHeader) and exactly `body`, its
// remaining_length bytes. Validates everything 3.1.1 asks of a receiver:
// - the header's flags again (as DecodeFixedHeader does), and `body` of remaining_length bytes;
// - CONNECT: protocol name "MQTT" or "MQIsdp" (any protocol level: refusing one is the session's
//   CONNACK 1); reserved flag 0; will flags consistent (will QoS 3, or QoS/retain without the will
//   flag, malformed); will topic a valid topic name; password without user name malformed; an
//   empty client id decodes (the session decides); no bytes left over;
// - strings: well-formed UTF-8 without U+0000 and without surrogates (spec 1.5.3), lengths within
//   the packet;
// - PUBLISH: topic without wildcards `+`/`#`, non-empty; packet id != 0 for QoS > 0;
// - SUBSCRIBE/UNSUBSCRIBE: at least one filter, each non-empty and well-formed (`#` only last and
//   alone in its level, `+` alone in its level), requested QoS 0..2 (reserved bits 0);
// - PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: exactly a packet id, != 0;
// - CONNACK: 2 bytes, reserved flag bits 0, return code 0..5; SUBACK: packet id != 0, at least one
//   return code, each 0..2 or 0x80;
// - PINGREQ, PINGRESP, DISCONNECT: no body.
// On error returns nullopt and sets `*why` (for the log). Pure function: any thread.
std::optional<Packet> DecodePacket(const FixedHeader& header, std::string_view body,
                                   std::string* why);

// Splits a byte stream into packets: Feed() what the socket read (any split, byte at a time too),
// then call Next() until it returns kIncomplete. Drained so after each Feed(), it holds at most
// one partial packet (bounded by `max_packet_size`, the whole packet including its fixed header)
// plus the last Feed(): a larger Remaining Length is malformed as soon as its fixed header is in,
// before the body arrives. Consumed bytes are dropped from the front of the buffer in amortized
// constant time per byte. Not thread-safe: one per connection.
class Decoder {
 public:
  explicit Decoder(uint32_t max_packet_size) : max_packet_size_(max_packet_size) {}

  void Feed(std::string_view bytes);
  // kOk: `*out` holds the next packet. kIncomplete: need more bytes (`*out` untouched).
  // kMalformed: `*why` says why; the connection must close (the decoder stays malformed, and
  // ignores further Feed()s).
  DecodeStatus Next(Packet* out, std::string* why);

  // Bytes buffered but not yet returned as packets.
  size_t buffered() const { return buffer_.size() - consumed_; }
  // Frees the buffer's capacity when nothing is buffered (idle connections cost little).
  void ShrinkIfIdle();

 private:
  uint32_t max_packet_size_;
  std::string buffer_;
  size_t consumed_ = 0;
  bool malformed_ = false;
};

// Appends the encoding of `packet` to `out` (the server's packets: CONNACK, PUBLISH, PUBACK,
// SUBACK, UNSUBACK, PINGRESP; and the client's, for tests). Encodes whatever it is given; the
// caller keeps to the spec (strings of at most 65,535 bytes, packets within kMaxRemainingLength:
// longer ones come out corrupt, not refused).
void EncodePacket(const Packet& packet, std::string* out);
std::string EncodePacket(const Packet& packet);

// Appends a PUBLISH without building a Publish (the C2D hot path: topic and payload are copied
// once, into `out`).
void EncodePublish(bool dup, uint8_t qos, bool retain, std::string_view topic, uint16_t packet_id,
                   std::string_view payload, std::string* out);

// True when `text` is a well-formed MQTT UTF-8 string (spec 1.5.3): valid UTF-8, no U+0000, no
// surrogate code points, no overlong forms.
bool IsValidMqttUtf8(std::string_view text);

// Does topic `name` match `filter` (spec 4.7)? Wildcards in `filter` only; topics beginning with
// `$` are not matched by filters beginning with a wildcard; "a/#" matches "a"; "+" matches one
// level, empty ones too. An empty filter or name matches nothing. `filter` is assumed valid (as
// decoded from SUBSCRIBE); an invalid one gives some answer, never a crash. Pure: any thread.
bool TopicMatches(std::string_view filter, std::string_view name);

}  // namespace iothub::mqtt
