#include "http/event_json.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/strings.h"

namespace iothub::http {

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
