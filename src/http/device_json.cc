#include "http/device_json.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace iothub::http {
namespace {

using nlohmann::json;

json NullIfEmpty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string Time(Timestamp t) {
  return t == Timestamp{} ? std::string("0001-01-01T00:00:00Z") : FormatIso8601(t);
}

json DeviceValue(const core::Device& d) {
  return {
      {"deviceId", d.id},
      {"generationId", d.generation_id},
      {"etag", d.etag},
      {"status", std::string(core::DeviceStatusName(d.status))},
      {"statusReason", NullIfEmpty(d.status_reason)},
      {"connectionState", std::string(core::ConnectionStateName(d.connection_state))},
      {"connectionStateUpdatedTime", Time(d.connection_state_updated_time)},
      {"statusUpdatedTime", Time(d.status_updated_time)},
      {"lastActivityTime", Time(d.last_activity_time)},
      {"cloudToDeviceMessageCount", d.cloud_to_device_message_count},
      {"authentication",
       {{"type", std::string(core::DeviceAuthTypeName(d.auth_type))},
        {"symmetricKey",
         {{"primaryKey", NullIfEmpty(d.primary_key)},
          {"secondaryKey", NullIfEmpty(d.secondary_key)}}},
        {"x509Thumbprint",
         {{"primaryThumbprint", NullIfEmpty(d.primary_thumbprint)},
          {"secondaryThumbprint", NullIfEmpty(d.secondary_thumbprint)}}}}},
      {"capabilities", {{"iotEdge", d.capabilities.iot_edge}}},
      {"deviceScope", NullIfEmpty(d.device_scope)},
      {"parentScopes", d.parent_scopes},
  };
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Status Invalid(std::string what) { return InvalidArgument(std::move(what), "ArgumentInvalid"); }

// The member `key` of `object` when present and not null, else nullptr.
const json* Member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads an optional string member into *out. InvalidArgument when it is not a string.
Status ReadString(const json& object, const char* key, std::string* out) {
  const json* v = Member(object, key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_string()) return Invalid(std::string("'") + key + "' must be a string");
  *out = v->get<std::string>();
  return Status::Ok();
}

// An optional object member; InvalidArgument when present but not an object.
Result<const json*> ReadObject(const json& object, const char* key) {
  const json* v = Member(object, key);
  if (v != nullptr && !v->is_object()) {
    return Invalid(std::string("'") + key + "' must be an object");
  }
  return v;
}

Status ReadAuthentication(const json& auth, core::Device* device) {
  std::string type;
  HUB_RETURN_IF_ERROR(ReadString(auth, "type", &type));
  if (!type.empty() && !core::ParseDeviceAuthType(type, &device->auth_type)) {
    return Invalid("unknown authentication type '" + type + "'");
  }
  HUB_ASSIGN_OR_RETURN(const json* keys, ReadObject(auth, "symmetricKey"));
  if (keys != nullptr) {
    HUB_RETURN_IF_ERROR(ReadString(*keys, "primaryKey", &device->primary_key));
    HUB_RETURN_IF_ERROR(ReadString(*keys, "secondaryKey", &device->secondary_key));
  }
  HUB_ASSIGN_OR_RETURN(const json* prints, ReadObject(auth, "x509Thumbprint"));
  if (prints != nullptr) {
    HUB_RETURN_IF_ERROR(ReadString(*prints, "primaryThumbprint", &device->primary_thumbprint));
    HUB_RETURN_IF_ERROR(ReadString(*prints, "secondaryThumbprint", &device->secondary_thumbprint));
  }
  return Status::Ok();
}

}  // namespace

std::string DeviceToJson(const core::Device& device) { return Dump(DeviceValue(device)); }

std::string DevicesToJson(const std::vector<core::Device>& devices) {
  json array = json::array();
  for (const core::Device& device : devices) array.push_back(DeviceValue(device));
  return Dump(array);
}

Result<core::Device> DeviceFromJson(std::string_view body, std::string_view path_id) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("malformed JSON in request body");
  if (!j.is_object()) return Invalid("request body must be a JSON object");
  core::Device device;
  device.id = std::string(path_id);
  std::string id;
  HUB_RETURN_IF_ERROR(ReadString(j, "deviceId", &id));
  if (!id.empty() && id != path_id) {
    return Invalid("deviceId '" + id + "' in the body does not match the path");
  }
  std::string status;
  HUB_RETURN_IF_ERROR(ReadString(j, "status", &status));
  if (!status.empty() && !core::ParseDeviceStatus(status, &device.status)) {
    return Invalid("unknown status '" + status + "'");
  }
  HUB_RETURN_IF_ERROR(ReadString(j, "statusReason", &device.status_reason));
  HUB_ASSIGN_OR_RETURN(const json* auth, ReadObject(j, "authentication"));
  if (auth != nullptr) HUB_RETURN_IF_ERROR(ReadAuthentication(*auth, &device));
  HUB_ASSIGN_OR_RETURN(const json* caps, ReadObject(j, "capabilities"));
  if (caps != nullptr) {
    if (const json* edge = Member(*caps, "iotEdge"); edge != nullptr) {
      if (!edge->is_boolean()) return Invalid("'iotEdge' must be a boolean");
      device.capabilities.iot_edge = edge->get<bool>();
    }
  }
  HUB_RETURN_IF_ERROR(ReadString(j, "deviceScope", &device.device_scope));
  if (const json* parents = Member(j, "parentScopes"); parents != nullptr) {
    if (!parents->is_array()) return Invalid("'parentScopes' must be an array of strings");
    for (const json& scope : *parents) {
      if (!scope.is_string()) return Invalid("'parentScopes' must be an array of strings");
      device.parent_scopes.push_back(scope.get<std::string>());
    }
  }
  return device;
}

}  // namespace iothub::http
