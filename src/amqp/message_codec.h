#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "core/message.h"

// Maps AMQP 1.0 messages (the bytes of one delivery: header, delivery and message annotations,
// properties, application-properties, body sections, footer) to and from core::Message, the way
// IoT Hub and its SDKs do (PROTOCOL.md, "AMQP 1.0" and "Message hygiene"). Qpid Proton's codec
// (pn_data_t) reads and writes the AMQP types; this layer owns the sections and the mapping.
//
// Pure functions: any thread.
namespace iothub::amqp {

// Decodes a message a client sends: a device's telemetry, a service's C2D message, a CBS
// put-token request. Never trusts its input: malformed bytes (also zero bytes, an unknown section,
// a repeated properties section, values nested deeper than 32) give InvalidArgument, never a crash.
// - properties: message-id and correlation-id of every AMQP id type become strings: a string (or
//   symbol) as is, a uuid canonical (lowercase 8-4-4-4-12), a ulong (or other integer) in decimal,
//   a binary as its bytes when they are printable UTF-8 (no control characters), else lowercase
//   hex; user-id (binary, or string) its bytes; to; content-type; content-encoding;
//   absolute-expiry-time -> expiry (0 means unset, as in Proton). Other properties (subject,
//   reply-to, group-id, ...) are not kept. Strings are kept as sent (not checked for UTF-8).
// - application-properties: each key -> the value as a string (strings and symbols as is,
//   booleans "true"/"false", integers in decimal, floating point shortest round-trip, chars as
//   UTF-8, timestamps ISO 8601, uuids canonical, binary as for ids, null ""; a decimal, list, map,
//   array or described value is InvalidArgument). The property `iothub-ack` (any case) sets `ack`
//   and is not kept as a property; an unknown ack value is InvalidArgument. A non-string key is
//   InvalidArgument; a repeated key keeps its last value.
// - body: the Data sections' bytes, concatenated; an amqp-value holding a string, binary or
//   symbol -> its bytes; an amqp-value null or no body -> empty; any other amqp-value or an
//   amqp-sequence -> InvalidArgument ("unsupported body"), as are mixed body kinds and a second
//   amqp-value.
// - header, annotations and footer are ignored.
Result<core::Message> DecodeMessage(std::string_view bytes);

// Encodes a message the hub sends: a C2D message to a device, a feedback message to a service.
// - header: durable, and delivery-count = the message's delivery count (also in the annotations).
// - properties: message-id, correlation-id (strings), user-id (binary), to, content-type,
//   content-encoding, absolute-expiry-time (expiry when set), creation-time (enqueued_time);
//   each only when set.
// - message-annotations: `iothub-enqueuedtime` (timestamp, when set), `iothub-deliverycount`
//   (uint), `x-opt-sequence-number` (long, when non-zero).
// - application-properties: the message's properties as strings, in order, plus `iothub-ack`
//   when ack is not kNone (and the properties do not already hold it).
// - body: one Data section (also when empty: an amqp-value body reaches the Node SDK as no data).
std::string EncodeMessage(const core::Message& message);

}  // namespace iothub::amqp
