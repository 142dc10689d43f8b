#pragma once

#include <chrono>

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// The HTTPS device transport (PROTOCOL.md, "HTTPS device transport"), as azure-iot-device-http
// speaks it. Every route first authorizes the request for the {id} of its path (device_auth.h:
// that device's token, or a policy token with DeviceConnect; else 401), then records the device's
// activity (Registry::TouchActivity).
//
//   POST   /devices/{id}/messages/events
//       One message: body = the request body, properties from the headers (message_headers.h).
//       Batch (Content-Type application/vnd.microsoft.iothub.json): a JSON array of
//       {"body":"<base64>","base64Encoded":true|false (default true),"properties":{...}}, where
//       the property keys are header names ("iothub-app-<k>", "iothub-messageid", ...), as the
//       Node SDK's sendEventBatch (and the C and C# SDKs) send them. Appended to the telemetry log
//       with the device's generationId and auth method; 204 once durable. 400 for a broken batch
//       or header, 413 MessageTooLarge past TelemetryOptions::max_message_size.
//   GET    /devices/{id}/messages/devicebound
//       Locks the oldest visible C2D message: 200 with the body, its headers and
//       ETag "\"<lock token>\""; 204 when none is visible. `IotHub-MessageLockTimeout: <seconds>`
//       sets the lock, clamped to [kMinLockTimeout, kMaxLockTimeout]; without it the queues'
//       default (C2dLimits::lock_timeout). 400 when it is not a whole number.
//   DELETE /devices/{id}/messages/devicebound/{lock}           complete -> 204
//   DELETE /devices/{id}/messages/devicebound/{lock}?reject    reject   -> 204
//   POST   /devices/{id}/messages/devicebound/{lock}/abandon   abandon  -> 204
//       A lock that is unknown, expired or already settled: 412 DeviceMessageLockLost. The lock
//       may arrive quoted, as an ETag ("\"<lock>\"" or %22-encoded): quotes are stripped.
//
// Threads: the handlers are asynchronous (Router::AddAsync) and never block: auth is a map lookup
// plus an HMAC, telemetry appends answer from the store's thread, and C2D work is posted to the
// device's shard (hub.shard_executor(hub.ShardOf(id))), where hub.c2d(shard) may be used and
// whose callbacks answer. `hub` must outlive the router and every request in flight.
void AddDeviceRoutes(Router& router, core::Hub& hub);

// The range IotHub-MessageLockTimeout is clamped to: long enough for a slow device to complete,
// short enough that a vanished device does not hide a message for long.
inline constexpr std::chrono::seconds kMinLockTimeout{5};
inline constexpr std::chrono::seconds kMaxLockTimeout{300};

}  // namespace iothub::http
