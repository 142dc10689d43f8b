// Fuzzes IoT Hub's MQTT topic mapping (src/mqtt/topics.h), which reads PUBLISH topics and
// SUBSCRIBE filters straight off the network. Input: "<device id>\n<topic>", or just a topic for
// device "dev1". Never a crash, and:
// - a topic that decodes as telemetry is classified as telemetry;
// - the C2D topic built from whatever decoded splits the way the SDKs split it (no raw `/`, `&` or
//   `=` inside a key or value; every pair has a value) and decodes back to the same fields;
// - EncodeBagComponent's output is unreserved characters and %XX only, and decodes to its input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/strings.h"
#include "core/message.h"
#include "mqtt/topics.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool IsEncodedChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '%';
}

// The C2D bag as the Node SDK reads it: split('/')[4], then '&', then '='.
void CheckDeviceboundTopic(std::string_view device_id, const iothub::core::Message& message) {
  using namespace iothub;
  const std::string topic = mqtt::DeviceboundTopic(device_id, message);
  const std::string prefix = "devices/" + std::string(device_id) + "/messages/devicebound/";
  Check(topic.starts_with(prefix));
  std::string_view bag = std::string_view(topic).substr(prefix.size());
  Check(!bag.empty());  // `$.to` is always there
  core::Message back;
  for (std::string_view pair : Split(bag, '&')) {
    std::vector<std::string_view> kv = Split(pair, '=');
    Check(kv.size() == 2 && !kv[0].empty());
    for (std::string_view part : kv) {
      for (char c : part) Check(IsEncodedChar(c));
    }
    std::string key, value;
    Check(mqtt::DecodeBagComponent(kv[0], &key).ok());
    Check(mqtt::DecodeBagComponent(kv[1], &value).ok());
    if (key == "$.mid") back.message_id = value;
    if (key == "$.cid") back.correlation_id = value;
    if (key == "$.ct") back.content_type = value;
  }
  // Valid UTF-8 fields come back as they were; the others are left out (empty).
  Check(back.message_id.empty() || back.message_id == message.message_id);
  Check(back.correlation_id.empty() || back.correlation_id == message.correlation_id);
  Check(back.content_type.empty() || back.content_type == message.content_type);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace iothub;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view device_id = "dev1";
  std::string_view topic = in;
  if (size_t nl = in.find('\n'); nl != std::string_view::npos) {
    device_id = in.substr(0, nl);
    topic = in.substr(nl + 1);
  }

  core::Message message;
  Status status = mqtt::DecodeEventsTopic(device_id, topic, &message);
  mqtt::PublishKind kind = mqtt::ClassifyPublish(device_id, topic);
  if (status.ok()) {
    Check(kind == mqtt::PublishKind::kTelemetry);
    CheckDeviceboundTopic(device_id, message);
  } else {
    Check(status.code() == StatusCode::kInvalidArgument && message == core::Message{});
  }
  (void)mqtt::ClassifyFilter(device_id, topic);

  const std::string encoded = mqtt::EncodeBagComponent(topic);
  for (char c : encoded) Check(IsEncodedChar(c));
  std::string decoded;
  Check(mqtt::DecodeBagComponent(encoded, &decoded).ok() && decoded == topic);
  (void)mqtt::DecodeBagComponent(topic, &decoded).ok();
  return 0;
}
