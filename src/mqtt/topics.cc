#include "mqtt/topics.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/strings.h"

namespace iothub::mqtt {
namespace {

constexpr std::string_view kEventsSuffix = "/messages/events";
constexpr std::string_view kDeviceboundSuffix = "/messages/devicebound/";
// The Node SDK sends application property "dt-subject" as `$.sub` (mqtt.js:964); the HTTP
// front-end stores it as property "dt-subject" (message_headers.cc): one name for both.
constexpr std::string_view kSubjectKey = "$.sub";
constexpr std::string_view kSubjectProperty = "dt-subject";
constexpr std::string_view kAckKey = "iothub-ack";

// The keys the device SDKs read as system properties (Node: mqtt.js _extractPropertiesFromTopicPart
// matches exactly these, case-sensitively). An application property of that name would be taken
// for the system property, so DeviceboundTopic never sends one as an application property.
constexpr std::string_view kSystemKeys[] = {"$.mid", "$.cid", "$.uid", "$.to",
                                            "$.ct",  "$.ce",  "$.exp"};

bool IsSystemKey(std::string_view key) {
  for (std::string_view k : kSystemKeys) {
    if (key == k) return true;
  }
  return false;
}

Status Invalid(std::string message) {
  return InvalidArgument(std::move(message), "ArgumentInvalid");
}

// "devices/<id>" + suffix.
std::string DeviceTopic(std::string_view device_id, std::string_view suffix) {
  std::string topic;
  topic.reserve(8 + device_id.size() + suffix.size());
  topic += "devices/";
  topic += device_id;
  topic += suffix;
  return topic;
}

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF): exactly what
// JavaScript's decodeURIComponent accepts after unescaping. Anything else makes it throw URIError
// inside the SDK's message handler, losing the whole message.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Appends "key=value" (both encoded), preceded by '&' unless it is the first pair.
void AppendPair(std::string* bag, std::string_view key, std::string_view value) {
  if (!bag->empty()) *bag += '&';
  *bag += EncodeBagComponent(key);
  *bag += '=';
  *bag += EncodeBagComponent(value);
}

// Appends a system field unless it is unset or could not be read by the SDKs.
void AppendField(std::string* bag, std::string_view key, std::string_view value) {
  if (value.empty() || !IsValidUtf8(value)) return;
  AppendPair(bag, key, value);
}

}  // namespace

std::string EventsTopicPrefix(std::string_view device_id) {
  return DeviceTopic(device_id, "/messages/events/");
}

std::string DeviceboundFilter(std::string_view device_id) {
  return DeviceTopic(device_id, "/messages/devicebound/#");
}

Status DecodeEventsTopic(std::string_view device_id, std::string_view topic,
                         core::Message* message) {
  const std::string base = DeviceTopic(device_id, kEventsSuffix);
  std::string_view bag;
  if (topic.size() == base.size()) {
    if (topic != base)
      return Invalid("not a telemetry topic of device '" + std::string(device_id) + "'");
  } else if (topic.size() > base.size() && topic.starts_with(base) && topic[base.size()] == '/') {
    bag = topic.substr(base.size() + 1);
  } else {
    return Invalid("not a telemetry topic of device '" + std::string(device_id) + "'");
  }
  // Module output events end in an extra '/' (mqtt.js sendOutputEvent): not part of the bag.
  if (bag.ends_with('/')) bag.remove_suffix(1);

  // Decode everything before touching *message, so an error leaves it as it was.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::string_view piece : Split(bag, '&')) {
    size_t eq = piece.find('=');
    std::string_view raw_key = piece.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? "" : piece.substr(eq + 1);
    if (raw_key.empty()) continue;
    std::string key, value;
    HUB_RETURN_IF_ERROR(DecodeBagComponent(raw_key, &key));
    HUB_RETURN_IF_ERROR(DecodeBagComponent(raw_value, &value));
    if (key.empty()) continue;
    pairs.emplace_back(std::move(key), std::move(value));
  }
  // The last `$.exp` wins, like every other duplicate; empty means unset (as IoTHub-Expiry: '').
  std::optional<std::optional<Timestamp>> expiry;
  for (const auto& [key, value] : pairs) {
    if (key != "$.exp") continue;
    if (value.empty()) {
      expiry.emplace(std::nullopt);
      continue;
    }
    Timestamp t;
    if (!ParseIso8601(value, &t)) {
      return Invalid("$.exp must be an ISO 8601 UTC time, got '" + value + "'");
    }
    expiry.emplace(t);
  }

  for (auto& [key, value] : pairs) {
    if (key == "$.mid") {
      message->message_id = std::move(value);
    } else if (key == "$.cid") {
      message->correlation_id = std::move(value);
    } else if (key == "$.uid") {
      message->user_id = std::move(value);
    } else if (key == "$.to") {
      message->to = std::move(value);
    } else if (key == "$.ct") {
      message->content_type = std::move(value);
    } else if (key == "$.ce") {
      message->content_encoding = std::move(value);
    } else if (key == "$.exp") {
      // Applied below.
    } else if (key == kSubjectKey) {
      message->SetProperty(kSubjectProperty, value);
    } else {
      message->SetProperty(key, value);
    }
  }
  if (expiry) message->expiry = *expiry;
  return Status::Ok();
}

std::string DeviceboundTopic(std::string_view device_id, const core::Message& message) {
  std::string bag;
  AppendField(&bag, "$.mid", message.message_id);
  AppendField(&bag, "$.cid", message.correlation_id);
  AppendField(&bag, "$.uid", message.user_id);
  if (!message.to.empty() && IsValidUtf8(message.to)) {
    AppendPair(&bag, "$.to", message.to);
  } else {
    AppendPair(&bag, "$.to", "/devices/" + std::string(device_id) + "/messages/deviceBound");
  }
  AppendField(&bag, "$.ct", message.content_type);
  AppendField(&bag, "$.ce", message.content_encoding);
  if (message.expiry) AppendPair(&bag, "$.exp", FormatIso8601(*message.expiry));
  const bool ack = message.ack != core::AckMode::kNone;
  if (ack) AppendPair(&bag, kAckKey, core::AckModeName(message.ack));
  for (const auto& [key, value] : message.properties) {
    if (key.empty() || IsSystemKey(key) || (ack && key == kAckKey)) continue;
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) continue;
    AppendPair(&bag, key, value);
  }
  return DeviceTopic(device_id, kDeviceboundSuffix) + bag;
}

std::string EncodeBagComponent(std::string_view text) { return UrlEncode(text); }

Status DecodeBagComponent(std::string_view text, std::string* out) {
  if (!UrlDecode(text, out)) {
    return Invalid("malformed percent escape in '" + std::string(text) + "'");
  }
  return Status::Ok();
}

FilterKind ClassifyFilter(std::string_view device_id, std::string_view filter) {
  if (filter == "$iothub/methods/POST/#") return FilterKind::kMethods;
  if (filter == "$iothub/twin/res/#") return FilterKind::kTwinResponses;
  if (filter == "$iothub/twin/PATCH/properties/desired/#") return FilterKind::kTwinDesiredPatches;
  if (filter == DeviceboundFilter(device_id)) return FilterKind::kDevicebound;
  return FilterKind::kRefused;
}

PublishKind ClassifyPublish(std::string_view device_id, std::string_view topic) {
  const std::string events = DeviceTopic(device_id, kEventsSuffix);
  if (topic.starts_with(events) && (topic.size() == events.size() || topic[events.size()] == '/')) {
    return PublishKind::kTelemetry;
  }
  if (topic.starts_with("$iothub/twin/")) return PublishKind::kTwinRequest;
  if (topic.starts_with("$iothub/methods/res/")) return PublishKind::kMethodResponse;
  return PublishKind::kRefused;
}

std::string TwinRequestId(std::string_view topic) {
  size_t query = topic.find("/?");
  if (query == std::string_view::npos) return "";
  for (std::string_view pair : Split(topic.substr(query + 2), '&')) {
    if (pair.starts_with("$rid=")) return std::string(pair.substr(5));
  }
  return "";
}

std::string TwinResponseTopic(int status, std::string_view rid) {
  return "$iothub/twin/res/" + std::to_string(status) + "/?$rid=" + std::string(rid);
}

}  // namespace iothub::mqtt
