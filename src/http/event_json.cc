#include "http/event_json.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/crypto.h"

namespace iothub::http {

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t min;  // the smallest code point this length may encode (rejects overlong forms)
    uint32_t code;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = c & 0x07;
    } else {
      return false;  // a continuation byte without a lead, or 0xF8..0xFF
    }
    if (bytes.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
      code = (code << 6) | (byte(i + k) & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

std::string EventToJson(uint32_t partition, const core::Message& message) {
  // ordered_json keeps the documented field order, which makes streams easier to read.
  using Json = nlohmann::ordered_json;
  Json event;
  event["partition"] = partition;
  event["offset"] = message.sequence_number;
  event["sequenceNumber"] = message.sequence_number;
  if (message.enqueued_time) event["enqueuedTimeUtc"] = FormatIso8601(*message.enqueued_time);
  if (!message.connection_device_id.empty()) event["deviceId"] = message.connection_device_id;
  event["body"] = Base64Encode(message.body);
  if (IsValidUtf8(message.body)) event["bodyText"] = message.body;

  Json properties = Json::object();
  for (const auto& [key, value] : message.properties) properties[key] = value;
  event["properties"] = std::move(properties);

  Json system = Json::object();
  auto add = [&system](const char* name, const std::string& value) {
    if (!value.empty()) system[name] = value;
  };
  add("message-id", message.message_id);
  add("correlation-id", message.correlation_id);
  add("user-id", message.user_id);
  add("content-type", message.content_type);
  add("content-encoding", message.content_encoding);
  add("iothub-connection-device-id", message.connection_device_id);
  add("iothub-connection-auth-method", message.connection_auth_method);
  add("iothub-connection-auth-generation-id", message.connection_auth_generation_id);
  if (message.enqueued_time) {
    system["iothub-enqueuedtime"] = FormatIso8601(*message.enqueued_time);
  }
  event["systemProperties"] = std::move(system);
  // Device-supplied strings may be any bytes: replace invalid UTF-8 rather than throw.
  return event.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace iothub::http
