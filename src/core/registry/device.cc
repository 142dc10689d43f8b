#include "core/registry/device.h"

#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace iothub::core {

namespace {

using nlohmann::json;

constexpr int kIdentityFormat = 1;
constexpr int kActivityFormat = 1;
constexpr size_t kMaxDeviceIdLength = 128;

bool IsDeviceIdChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  static constexpr std::string_view kSpecial = "-.%_*?!(),:=@$'";
  return kSpecial.find(c) != std::string_view::npos;
}

// nlohmann converts a stored float to an integer with a plain cast, which is undefined when the
// value is out of range (found by fuzzing): demand a JSON integer.
int64_t GetInt64(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) {
    throw json::type_error::create(302, std::string("'") + key + "' is not an integer", &v);
  }
  return v.get<int64_t>();
}

// Reads `bytes` as a JSON object of format `format`, handing it to `read`. Any parse or type
// error is Corruption: stored bytes are never trusted.
template <typename T, typename Read>
Result<T> DecodeJson(std::string_view bytes, int format, std::string_view what, Read read) {
  json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Corruption("stored " + std::string(what) + " is not a JSON object");
  }
  try {
    if (GetInt64(j, "v") != format) {
      return Corruption("stored " + std::string(what) + " has an unknown format version");
    }
    return read(j);
  } catch (const json::exception& e) {
    return Corruption("stored " + std::string(what) + " is damaged: " + e.what());
  }
}

}  // namespace

std::string_view DeviceStatusName(DeviceStatus status) {
  return status == DeviceStatus::kEnabled ? "enabled" : "disabled";
}

bool ParseDeviceStatus(std::string_view text, DeviceStatus* out) {
  if (EqualsIgnoreCase(text, "enabled")) {
    *out = DeviceStatus::kEnabled;
  } else if (EqualsIgnoreCase(text, "disabled")) {
    *out = DeviceStatus::kDisabled;
  } else {
    return false;
  }
  return true;
}

std::string_view DeviceAuthTypeName(DeviceAuthType type) {
  switch (type) {
    case DeviceAuthType::kSas:
      return "sas";
    case DeviceAuthType::kSelfSigned:
      return "selfSigned";
    case DeviceAuthType::kCertificateAuthority:
      return "certificateAuthority";
    case DeviceAuthType::kNone:
      return "none";
  }
  return "sas";
}

bool ParseDeviceAuthType(std::string_view text, DeviceAuthType* out) {
  for (DeviceAuthType t : {DeviceAuthType::kSas, DeviceAuthType::kSelfSigned,
                           DeviceAuthType::kCertificateAuthority, DeviceAuthType::kNone}) {
    if (EqualsIgnoreCase(text, DeviceAuthTypeName(t))) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::string_view ConnectionStateName(ConnectionState state) {
  return state == ConnectionState::kConnected ? "Connected" : "Disconnected";
}

Status ValidateDeviceId(std::string_view id) {
  if (id.empty()) return InvalidArgument("device id is empty", "ArgumentInvalid");
  if (id.size() > kMaxDeviceIdLength) {
    return InvalidArgument("device id is longer than 128 characters", "ArgumentInvalid");
  }
  for (char c : id) {
    if (!IsDeviceIdChar(c)) {
      return InvalidArgument("device id '" + std::string(id) + "' contains a character outside " +
                                 "letters, digits and - . % _ * ? ! ( ) , : = @ $ '",
                             "ArgumentInvalid");
    }
  }
  return Status::Ok();
}

Result<std::string> EncodeDeviceIdentity(const Device& d) {
  json j = {
      {"v", kIdentityFormat},
      {"id", d.id},
      {"generationId", d.generation_id},
      {"status", DeviceStatusName(d.status)},
      {"statusReason", d.status_reason},
      {"statusUpdatedTime", ToUnixMillis(d.status_updated_time)},
      {"authType", DeviceAuthTypeName(d.auth_type)},
      {"primaryKey", d.primary_key},
      {"secondaryKey", d.secondary_key},
      {"primaryThumbprint", d.primary_thumbprint},
      {"secondaryThumbprint", d.secondary_thumbprint},
      {"iotEdge", d.capabilities.iot_edge},
      {"deviceScope", d.device_scope},
      {"parentScopes", d.parent_scopes},
  };
  try {
    return j.dump();
  } catch (const json::exception&) {
    return InvalidArgument("device '" + d.id + "' has a field that is not valid UTF-8",
                           "ArgumentInvalid");
  }
}

Result<Device> DecodeDeviceIdentity(std::string_view bytes) {
  return DecodeJson<Device>(bytes, kIdentityFormat, "device", [](const json& j) -> Result<Device> {
    Device d;
    d.id = j.at("id").get<std::string>();
    d.generation_id = j.at("generationId").get<std::string>();
    if (!ParseDeviceStatus(j.at("status").get<std::string>(), &d.status) ||
        !ParseDeviceAuthType(j.at("authType").get<std::string>(), &d.auth_type)) {
      return Corruption("stored device '" + d.id + "' has an unknown status or auth type");
    }
    d.status_reason = j.at("statusReason").get<std::string>();
    d.status_updated_time = FromUnixMillis(GetInt64(j, "statusUpdatedTime"));
    d.primary_key = j.at("primaryKey").get<std::string>();
    d.secondary_key = j.at("secondaryKey").get<std::string>();
    d.primary_thumbprint = j.at("primaryThumbprint").get<std::string>();
    d.secondary_thumbprint = j.at("secondaryThumbprint").get<std::string>();
    d.capabilities.iot_edge = j.at("iotEdge").get<bool>();
    d.device_scope = j.at("deviceScope").get<std::string>();
    d.parent_scopes = j.at("parentScopes").get<std::vector<std::string>>();
    return d;
  });
}

std::string EncodeDeviceActivity(const DeviceActivity& a) {
  json j = {
      {"v", kActivityFormat},
      {"generationId", a.generation_id},
      {"connected", a.connection_state == ConnectionState::kConnected},
      {"connectionStateUpdatedTime", ToUnixMillis(a.connection_state_updated_time)},
      {"lastActivityTime", ToUnixMillis(a.last_activity_time)},
  };
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<DeviceActivity> DecodeDeviceActivity(std::string_view bytes) {
  return DecodeJson<DeviceActivity>(
      bytes, kActivityFormat, "device activity", [](const json& j) -> Result<DeviceActivity> {
        DeviceActivity a;
        a.generation_id = j.at("generationId").get<std::string>();
        a.connection_state = j.at("connected").get<bool>() ? ConnectionState::kConnected
                                                           : ConnectionState::kDisconnected;
        a.connection_state_updated_time = FromUnixMillis(GetInt64(j, "connectionStateUpdatedTime"));
        a.last_activity_time = FromUnixMillis(GetInt64(j, "lastActivityTime"));
        return a;
      });
}

}  // namespace iothub::core
