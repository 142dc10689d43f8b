#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/message.h"

namespace iothub::http {

// The Event JSON of the telemetry read and stream resources (docs/rest.md, "Event JSON"): one
// telemetry message as a JSON object on one line (no raw newline, so it fits an SSE data line):
//   {"partition":p,"offset":o,"sequenceNumber":o,"enqueuedTimeUtc":"...","deviceId":"...",
//    "body":"<base64>","bodyText":"<text>","properties":{k:v,...},
//    "systemProperties":{"message-id":...,"correlation-id":...,"user-id":...,"content-type":...,
//      "content-encoding":...,"iothub-connection-device-id":...,
//      "iothub-connection-auth-method":...,"iothub-connection-auth-generation-id":...,
//      "iothub-enqueuedtime":...}}
// `message` is a record as TelemetryLog::Read returns it (sequence_number is its offset).
// bodyText is present only when the body is valid UTF-8; enqueuedTimeUtc and deviceId only when
// set; systemProperties lists only the properties that are set (PROTOCOL.md, "Message hygiene").
// Property keys or values that are not valid UTF-8 have their bad bytes replaced by U+FFFD.
// Pure function; any thread.
std::string EventToJson(uint32_t partition, const core::Message& message);

}  // namespace iothub::http
