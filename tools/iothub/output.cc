#include "tools/iothub/output.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace iothub::cli {
namespace {

constexpr char kNeverSet[] = "0001-01-01T00:00:00";

// A field as text: strings as they are, null or missing as "-", anything else as JSON.
std::string Text(const Json& object, const char* name) {
  if (!object.is_object()) return "-";
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  return it->dump();
}

// A time field, "-" when IoT Hub's "never" value.
std::string Time(const Json& object, const char* name) {
  std::string text = Text(object, name);
  return text.rfind(kNeverSet, 0) == 0 ? "-" : text;
}

const Json& Field(const Json& object, const char* name) {
  static const Json null_json;
  if (!object.is_object()) return null_json;
  auto it = object.find(name);
  return it == object.end() ? null_json : *it;
}

// "k=v, k2=v2" for an object's members, "-" when it has none.
std::string Members(const Json& object) {
  if (!object.is_object() || object.empty()) return "-";
  std::string out;
  for (const auto& [key, value] : object.items()) {
    if (!out.empty()) out += ", ";
    out += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

std::string Pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace

std::string FormatDevice(const Json& device) {
  const Json& auth = Field(device, "authentication");
  const Json& keys = Field(auth, "symmetricKey");
  const Json& thumbprints = Field(auth, "x509Thumbprint");
  std::vector<std::pair<std::string, std::string>> rows = {
      {"status", Text(device, "status")},
      {"status reason", Text(device, "statusReason")},
      {"connection state", Text(device, "connectionState")},
      {"last activity", Time(device, "lastActivityTime")},
      {"C2D messages", Text(device, "cloudToDeviceMessageCount")},
      {"authentication", Text(auth, "type")},
  };
  if (Text(auth, "type") == "sas" || !keys.is_null()) {
    rows.emplace_back("primary key", Text(keys, "primaryKey"));
    rows.emplace_back("secondary key", Text(keys, "secondaryKey"));
  } else {
    rows.emplace_back("primary thumbprint", Text(thumbprints, "primaryThumbprint"));
    rows.emplace_back("secondary thumbprint", Text(thumbprints, "secondaryThumbprint"));
  }
  if (Field(Field(device, "capabilities"), "iotEdge") == true) {
    rows.emplace_back("IoT Edge", "yes");
    rows.emplace_back("device scope", Text(device, "deviceScope"));
  }
  rows.emplace_back("etag", Text(device, "etag"));
  rows.emplace_back("generation id", Text(device, "generationId"));

  std::string out = "Device " + Text(device, "deviceId") + "\n";
  for (const auto& [name, value] : rows) {
    out += "  ";
    out += Pad(name + ":", 22);
    out += value;
    out += "\n";
  }
  return out;
}

std::string FormatDeviceList(const Json& devices) {
  if (!devices.is_array() || devices.empty()) return "No devices.\n";
  std::vector<std::vector<std::string>> table = {
      {"DEVICE ID", "STATUS", "CONNECTION", "C2D", "LAST ACTIVITY"}};
  for (const Json& device : devices) {
    table.push_back({Text(device, "deviceId"), Text(device, "status"),
                     Text(device, "connectionState"), Text(device, "cloudToDeviceMessageCount"),
                     Time(device, "lastActivityTime")});
  }
  std::vector<size_t> widths(table.front().size(), 0);
  for (const auto& row : table) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : table) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : Pad(row[i], widths[i] + 2);
    }
    out += line + "\n";
  }
  return out;
}

std::string FormatStatistics(const Json& devices, const Json& service) {
  return "devices:    " + Text(devices, "totalDeviceCount") + " (" +
         Text(devices, "enabledDeviceCount") + " enabled, " + Text(devices, "disabledDeviceCount") +
         " disabled)\n" + "connected:  " + Text(service, "connectedDeviceCount") + "\n";
}

std::string FormatSendResult(const Json& sent) {
  std::string id = Text(sent, "messageId");
  std::string what = id == "-" ? "a message" : "message " + id;
  std::string out = "Sent " + what + " to " + Text(sent, "deviceId");
  if (std::string seq = Text(sent, "sequenceNumber"); seq != "-") {
    out += " (sequence number " + seq + ")";
  }
  return out + ".\n";
}

std::string FormatPurgeResult(const Json& purged, const std::string& device_id) {
  std::string count = Text(purged, "totalMessagesPurged");
  return "Purged " + count + (count == "1" ? " message" : " messages") + " from the queue of " +
         device_id + ".\n";
}

std::string FormatFeedbackRecord(const Json& record) {
  std::string out = Time(record, "enqueuedTimeUtc") + "  " + Pad(Text(record, "statusCode"), 22) +
                    "device " + Text(record, "deviceId") + "  message " +
                    Text(record, "originalMessageId");
  if (std::string description = Text(record, "description"); description != "-") {
    out += "  (" + description + ")";
  }
  return out + "\n";
}

std::string FormatEvent(const Json& event) {
  std::ostringstream out;
  out << Text(event, "enqueuedTimeUtc") << "  " << Text(event, "deviceId") << "  (partition "
      << Text(event, "partition") << ", offset " << Text(event, "offset") << ")\n";
  const Json& text = Field(event, "bodyText");
  if (text.is_string()) {
    out << "  body: " << text.get<std::string>() << "\n";
  } else {
    out << "  body (base64): " << Text(event, "body") << "\n";
  }
  out << "  properties: " << Members(Field(event, "properties")) << "\n";
  out << "  system: " << Members(Field(event, "systemProperties")) << "\n";
  return out.str();
}

std::string JsonDocument(const Json& json) {
  return json.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string JsonLine(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace iothub::cli
