#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "core/message.h"

namespace iothub::mqtt {

// IoT Hub's MQTT topics and property bags (PROTOCOL.md, "MQTT 3.1.1 (devices)"): the mapping
// between core::Message and a topic name. Pure functions: any thread.

// The prefix of a device's telemetry topics: "devices/<id>/messages/events/".
std::string EventsTopicPrefix(std::string_view device_id);
// The C2D filter a device subscribes to: "devices/<id>/messages/devicebound/#".
std::string DeviceboundFilter(std::string_view device_id);

// Decodes a telemetry PUBLISH of device `device_id`: the topic must be
// "devices/<device_id>/messages/events/" followed by a property bag (possibly empty), or
// "devices/<device_id>/messages/events" with no bag at all. Sets on `*message` the system
// properties of the bag's `$.` keys — `$.mid` message_id, `$.cid` correlation_id, `$.uid` user_id,
// `$.to` to, `$.ct` content_type, `$.ce` content_encoding, `$.exp` expiry (ISO 8601; a bad date is
// InvalidArgument) — and every other key as an application property (`$.sub` becomes
// `dt-subject`; other unknown `$.` keys are kept as properties under their decoded name). Keys and
// values are percent-decoded (%XX only: `+` stays `+`); keys may come encoded (`%24.mid`) or raw.
// A key without `=` gets an empty value; empty keys (`&&`, a trailing `&` or `/`) are skipped.
// A pair splits at its first `=` (later ones stay in the value). One `/` ending the bag is dropped
// (module output events end so); any other raw `/` is part of a key or value. Duplicate keys: the
// later one replaces (Message::SetProperty); an empty `$.exp` means no expiry. The device id is
// compared exactly (case-sensitive, raw: the SDKs put it in the topic unencoded).
// Errors: InvalidArgument "ArgumentInvalid" for another device's or a foreign topic, a malformed
// percent escape, or a bad expiry; `*message` is then left unchanged. Does not touch the body.
Status DecodeEventsTopic(std::string_view device_id, std::string_view topic,
                         core::Message* message);

// The topic IoT Hub delivers C2D message `message` to device `device_id` on:
// "devices/<id>/messages/devicebound/" + bag, the `/` always present. The bag holds, in this
// order, `$.mid`, `$.cid`, `$.uid`, `$.to` (always: the message's `to`, or
// "/devices/<id>/messages/deviceBound"), `$.ct`, `$.ce`, `$.exp` (ISO 8601 UTC when set), then
// `iothub-ack` when the sender asked for an ack (never for kNone), then the application
// properties in order; empty system fields are left out. Keys and values are percent-encoded:
// everything but `A-Z a-z 0-9 - _ . ~` (so `$` as %24, as IoT Hub does, and `/ = & + %` and space
// always: the SDKs split the bag on `/`, `&` and `=`).
// Left out, because the Node SDK would misread them or lose the whole message: a field, key or
// value that is not valid UTF-8 (its decodeURIComponent throws; an invalid `to` falls back to the
// default), application properties with an empty key, named like a system key (`$.mid`, `$.cid`,
// `$.uid`, `$.to`, `$.ct`, `$.ce`, `$.exp`: the SDK would take them for the system property), or
// named `iothub-ack` when the ack is sent. `$.exp` is FormatIso8601's form. The result is not
// bounded: a caller must check it against MQTT's 65,535-byte topic limit.
std::string DeviceboundTopic(std::string_view device_id, const core::Message& message);

// Percent-encodes `text` as above.
std::string EncodeBagComponent(std::string_view text);
// Decodes %XX escapes; InvalidArgument for a `%` not followed by two hex digits.
Status DecodeBagComponent(std::string_view text, std::string* out);

// What a SUBSCRIBE filter of device `device_id` asks for.
enum class FilterKind {
  kDevicebound,         // devices/<id>/messages/devicebound/#  (C2D)
  kMethods,             // $iothub/methods/POST/#
  kTwinResponses,       // $iothub/twin/res/#
  kTwinDesiredPatches,  // $iothub/twin/PATCH/properties/desired/#
  kRefused,             // anything else (another device's topics, foreign topics): SUBACK 0x80
};
FilterKind ClassifyFilter(std::string_view device_id, std::string_view filter);

// What a PUBLISH from device `device_id` is for.
enum class PublishKind {
  kTelemetry,       // devices/<id>/messages/events[/...]
  kTwinRequest,     // $iothub/twin/... (GET, PATCH of reported properties: not served yet)
  kMethodResponse,  // $iothub/methods/res/... (accepted, not served yet)
  kRefused,         // anything else: the connection closes
};
PublishKind ClassifyPublish(std::string_view device_id, std::string_view topic);

// The request id of a twin request topic ("$iothub/twin/GET/?$rid=7",
// "$iothub/twin/PATCH/properties/reported/?$rid=8&$version=3"): the `$rid` of its query, "" when
// it has none.
std::string TwinRequestId(std::string_view topic);
// The topic of the answer to twin request `rid`: "$iothub/twin/res/<status>/?$rid=<rid>".
std::string TwinResponseTopic(int status, std::string_view rid);

}  // namespace iothub::mqtt
