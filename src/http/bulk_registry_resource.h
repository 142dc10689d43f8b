#pragma once

#include <cstddef>

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// Azure's limit on the devices of one bulk registry call.
inline constexpr size_t kMaxBulkDevices = 100;

// Bulk registry operations (PROTOCOL.md, "HTTPS REST"), as azure-iothub's Registry addDevices /
// updateDevices / removeDevices and the .NET RegistryManager *Devices2Async send them:
//
//   POST /devices   body: JSON array of 1..100 ExportImportDevice objects
//     {"id": "<device id>" (or "deviceId"), "importMode": create | update | updateIfMatchETag |
//      delete | deleteIfMatchETag (any case), "eTag": "<etag>" (the *IfMatchETag modes; the key
//      matches in any case, the Node SDK sends "etag"), then the device fields PUT /devices/{id}
//      takes (status, statusReason, authentication, capabilities, deviceScope, parentScopes)}
//   -> 200 {"isSuccessful": bool, "errors": [{"deviceId", "errorCode", "errorStatus"}],
//           "warnings": []}
//
// Two kinds of failure, as Azure separates them:
// - The request as a whole is refused, nothing applied, with the Azure error body: 400
//   ArgumentInvalid (malformed JSON, not an array, empty, an element that is not an object, a
//   missing or invalid id, a missing or unknown importMode, an *IfMatchETag element without an
//   etag, a device field of the wrong type), 400 DeviceDefinedMultipleTimes (an id twice), 413
//   TooManyDevices (more than kMaxBulkDevices; Azure's 413002), 401 (auth).
// - Otherwise every element is applied, in order, independently (not a transaction, like Azure):
//   one that fails (exists already, not found, etag mismatch, a scope of no edge device, a store
//   error) adds an entry to "errors" and the others still apply. "errorCode" is Azure's numeric
//   code (409001 DeviceAlreadyExists, 404001 DeviceNotFound, 412001 PreconditionFailed, 400004
//   ArgumentInvalid, 500001 ServerError, ...), as the service writes it and the .NET SDK's enum
//   reads it; "errorStatus" is the text.
//
// Needs RegistryWrite over <host>/devices (the registryReadWrite or iothubowner policy; a token
// scoped to one device is refused, the call may touch any device). The handler blocks on the store
// (Registry writes): register it with Router::Add, never as an asynchronous handler. `hub` must
// outlive the router.
void AddBulkRegistryRoutes(Router& router, core::Hub& hub);

}  // namespace iothub::http
