#pragma once

#include "base/status.h"
#include "core/message.h"
#include "http/message.h"

namespace iothub::http {

// The one mapping between core::Message and HTTP headers, shared by the device transport
// (events in, devicebound out) and the service C2D send (PROTOCOL.md, "HTTPS device transport").
//
// Request side: `iothub-app-<k>: v` gives application property k, name and value exactly as sent:
// no URL-decoding, because the Node SDK writes raw property values into headers (a value "50%"
// must stay "50%"). A bare `dt-subject` header is the application property "dt-subject" (the
// Node SDK sends that one property without the prefix). IoTHub-MessageId, IoTHub-CorrelationId,
// IoTHub-To, IoTHub-UserId, IoTHub-Expiry (ISO 8601), IoTHub-Ack (none|positive|negative|full),
// content type and encoding (`iothub-contenttype` / `iothub-contentencoding` as the SDKs send
// them; with `http_body_headers`, else the HTTP Content-Type / Content-Encoding). Header names
// match case-insensitively; the property name keeps the case it was sent in. Fields without a
// header are left as they were.
//
// `http_body_headers`: whether the HTTP Content-Type / Content-Encoding also describe the message.
// False for device events: the SDKs' HTTP transports set Content-Type for the transfer (e.g.
// application/octet-stream), not as the message's property, which IoT Hub takes only from
// iothub-contenttype. True for the C2D send extension, where a curl user's Content-Type is meant.
// InvalidArgument (naming the header, reason ArgumentInvalid) for a bad expiry or ack value.
// Pure function: any thread.
Status MessageFromHeaders(const Headers& headers, core::Message* out,
                          bool http_body_headers = false);

// Response side (devicebound): iothub-messageid, iothub-correlationid, iothub-to, iothub-userid,
// iothub-expiry and iothub-enqueuedtime (ISO 8601), iothub-sequencenumber (when non-zero),
// iothub-ack (unless none), iothub-contenttype (also as Content-Type: it describes the body),
// iothub-contentencoding (never as Content-Encoding, which HTTP clients would try to undo),
// iothub-app-<k>; only the fields that are set (PROTOCOL.md, "Message hygiene"). When the message
// carries a lock token (a delivery): ETag = the quoted lock token and iothub-deliverycount.
// A value HTTP cannot carry (CR, LF, other controls) or a property name that is not a header
// token is left out rather than mangled: properties from MQTT/AMQP may hold anything. Existing
// headers of the same name are replaced. Pure function: any thread.
void MessageToHeaders(const core::Message& message, Headers* out);

// The answer delivering a locked message (devicebound or feedback receive): 200, the message's
// headers as MessageToHeaders writes them (with its quoted lock as ETag), and its body. Pure
// function: any thread.
Response LockedMessageResponse(core::Message message);

}  // namespace iothub::http
