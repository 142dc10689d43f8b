#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "core/registry/device.h"

namespace iothub::http {

// The registry's device JSON (PROTOCOL.md, "HTTPS REST"), as Azure IoT Hub prints it:
// {"deviceId", "generationId", "etag", "status", "statusReason", "connectionState",
//  "connectionStateUpdatedTime", "statusUpdatedTime", "lastActivityTime",
//  "cloudToDeviceMessageCount" (a number), "authentication": {"type", "symmetricKey":
//  {"primaryKey", "secondaryKey"}, "x509Thumbprint": {"primaryThumbprint",
//  "secondaryThumbprint"}}, "capabilities": {"iotEdge"}, "deviceScope", "parentScopes"}.
// Times are ISO 8601 with 7 fractional digits; a never-set time prints "0001-01-01T00:00:00Z".
// Empty strings (statusReason, keys, thumbprints, deviceScope) print as null, as Azure does.
std::string DeviceToJson(const core::Device& device);
// A JSON array of devices, for the list call.
std::string DevicesToJson(const std::vector<core::Device>& devices);

// Parses a PUT /devices/<id> body into the fields Registry::Create / Replace take: deviceId,
// status, statusReason, authentication (type, keys, thumbprints), capabilities.iotEdge,
// deviceScope, parentScopes. Read-only fields (etag, generationId, times, counts) and unknown
// fields are ignored; null counts as absent. A missing deviceId takes `path_id`; a different one
// is InvalidArgument. InvalidArgument ("ArgumentInvalid") on malformed JSON, a body that is not an
// object, a field of the wrong type, or an unknown status or authentication type.
Result<core::Device> DeviceFromJson(std::string_view body, std::string_view path_id);

}  // namespace iothub::http
