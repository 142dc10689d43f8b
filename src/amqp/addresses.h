#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

// The link addresses IoT Hub serves over AMQP (PROTOCOL.md, "AMQP 1.0"), compared
// case-insensitively (device ids excepted: they are case-sensitive and URL-encoded). Pure
// functions: any thread.
namespace iothub::amqp {

enum class LinkKind {
  kUnknown,
  kCbs,              // "$cbs", either direction
  kDeviceTelemetry,  // client sends to "/devices/<id>/messages/events"
  kDeviceC2d,        // client receives from "/devices/<id>/messages/devicebound"
  kServiceC2dSend,   // client sends to "/messages/devicebound"
  kServiceFeedback,  // client receives from "/messages/serviceBound/feedback"
  // Twins and direct methods: attached (the C SDK opens the twin links at start and reconnects
  // forever when they are refused), not served yet.
  kDeviceTwinRequests,     // client sends to "/devices/<id>/twin"
  kDeviceTwinResponses,    // client receives from "/devices/<id>/twin"
  kDeviceMethodRequests,   // client receives from "/devices/<id>/methods/devicebound"
  kDeviceMethodResponses,  // client sends to "/devices/<id>/methods/devicebound"
};

// Whether links of `kind` belong to one device (its telemetry, C2D, twin or method links).
bool IsDeviceLink(LinkKind kind);

struct LinkAddress {
  LinkKind kind = LinkKind::kUnknown;
  // The device kinds: the id's path segment as sent. The Node SDKs put the raw id there, others
  // URL-encode it; device ids may contain '%', so which one is meant is the registry's call
  // (ResolveDeviceId).
  std::string device_id;
};

// Classifies the address of a link the client attaches: the target when the client sends, the
// source when it receives. An "amqps://<host>" (or "amqp://", "wss://") prefix is dropped first, as
// some SDKs send full URIs. A trailing '/' is ignored. Anything else, or a direction that does not
// fit the address, is kUnknown.
LinkAddress ParseLinkAddress(std::string_view address, bool client_sends);

// The device a link address names: `segment` itself if `exists(segment)`, else its URL-decoded
// form if that exists, else `segment` (which then matches no device).
std::string ResolveDeviceId(const std::string& segment,
                            const std::function<bool(const std::string&)>& exists);

// The device a service's C2D message is for: its `to`, "/devices/<URL-encoded id>/messages/
// devicebound" (case-insensitive but for the id). nullopt when `to` has another form or the id is
// empty or badly encoded.
std::optional<std::string> DeviceOfC2dTo(std::string_view to);

// A human-readable name of a link kind, for logs.
std::string_view LinkKindName(LinkKind kind);

}  // namespace iothub::amqp
