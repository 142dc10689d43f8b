#pragma once

#include <string>

#include "tools/iothub/service_client.h"

namespace iothub::cli {

// Human-readable renderings of the hub's JSON answers. Each returns text ending in '\n'. They never
// fail: missing fields print as "-", unexpected types as their JSON. Pure functions.

// A device from the registry: id, status, connection state, keys, etag, counts.
std::string FormatDevice(const Json& device);
// A table of devices (id, status, connection state, C2D messages, last activity), or
// "No devices.".
std::string FormatDeviceList(const Json& devices);
// GET /statistics/devices and /statistics/service together.
std::string FormatStatistics(const Json& devices, const Json& service);
// The answer to a C2D send.
std::string FormatSendResult(const Json& sent);
// The answer to a purge.
std::string FormatPurgeResult(const Json& purged, const std::string& device_id);
// One feedback record on one line: time, status code, device, original message id, description.
std::string FormatFeedbackRecord(const Json& record);
// One telemetry event (the Event JSON of the REST contract): a header line with time, device,
// partition and offset, then the body (bodyText, else base64) and the properties.
std::string FormatEvent(const Json& event);

// `json` as --json prints it: pretty (indent 2) for documents, one line for streamed records.
std::string JsonDocument(const Json& json);
std::string JsonLine(const Json& json);

}  // namespace iothub::cli
