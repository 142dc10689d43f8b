#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace iothub::core {

// What a C2D sender asks to hear back about (the `iothub-ack` property).
enum class AckMode : uint8_t { kNone = 0, kPositive = 1, kNegative = 2, kFull = 3 };

std::string_view AckModeName(AckMode mode);  // "none", "positive", "negative", "full"
// Parses an `iothub-ack` value, case-insensitively. Empty means none. False when unknown.
bool ParseAckMode(std::string_view text, AckMode* out);

// The one message type of the hub (ARCHITECTURE.md, "The message model"). Every front-end maps its
// wire format to and from it; the core and the store see nothing else. Fields the sender did not
// set stay empty, and front-ends forward exactly what was set.
struct Message {
  std::string body;

  // System properties set by the sender.
  std::string message_id;
  std::string correlation_id;
  std::string to;
  std::string user_id;
  std::string content_type;
  std::string content_encoding;
  std::optional<Timestamp> expiry;  // absolute-expiry-time
  AckMode ack = AckMode::kNone;

  // System properties stamped by the hub.
  uint64_t sequence_number = 0;
  std::optional<Timestamp> enqueued_time;
  std::string lock_token;                  // C2D: the lock of the current delivery
  std::optional<Timestamp> lock_deadline;  // C2D: when that lock runs out
  uint32_t delivery_count = 0;             // C2D: deliveries abandoned or expired so far
  std::string connection_device_id;
  std::string connection_auth_method;         // telemetry: e.g. {"scope":"device","type":"sas",...}
  std::string connection_auth_generation_id;  // telemetry: the device's generationId

  // Application properties, in the sender's order. Keys are unique (a later duplicate replaces).
  std::vector<std::pair<std::string, std::string>> properties;

  // The value of application property `key`, or nullptr.
  const std::string* FindProperty(std::string_view key) const;
  // Sets `key`, replacing an existing value in place.
  void SetProperty(std::string_view key, std::string_view value);

  // Bytes the message costs against size limits: body plus property keys and values.
  size_t Size() const;

  friend bool operator==(const Message&, const Message&) = default;
};

// The stored form of a Message: versioned and tagged, so later versions can add fields. Decoding
// never trusts its input: malformed bytes give a Corruption status, never a crash.
std::string EncodeMessage(const Message& m);
Result<Message> DecodeMessage(std::string_view bytes);

}  // namespace iothub::core
