#include "amqp/addresses.h"

#include <vector>

#include "base/strings.h"

namespace iothub::amqp {
namespace {

// Drops "scheme://host" from a full URI; a bare path is returned as is.
std::string_view PathOf(std::string_view address) {
  size_t scheme = address.find("://");
  if (scheme == std::string_view::npos) return address;
  std::string_view rest = address.substr(scheme + 3);
  size_t slash = rest.find('/');
  return slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
}

// "/devices/<id>/<tail>" with `tail` matched case-insensitively: the id's segment as is, or
// nullopt.
std::optional<std::string> DeviceSegmentBefore(std::string_view path, std::string_view tail) {
  constexpr std::string_view kDevices = "/devices/";
  if (!StartsWithIgnoreCase(path, kDevices)) return std::nullopt;
  std::string_view rest = path.substr(kDevices.size());
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
  if (!EqualsIgnoreCase(rest.substr(slash + 1), tail)) return std::nullopt;
  return std::string(rest.substr(0, slash));
}

}  // namespace

LinkAddress ParseLinkAddress(std::string_view address, bool client_sends) {
  std::string_view path = PathOf(address);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (EqualsIgnoreCase(path, "$cbs") || EqualsIgnoreCase(path, "/$cbs")) {
    return {.kind = LinkKind::kCbs};
  }
  if (client_sends) {
    if (EqualsIgnoreCase(path, "/messages/devicebound")) return {.kind = LinkKind::kServiceC2dSend};
    if (auto id = DeviceSegmentBefore(path, "messages/events")) {
      return {.kind = LinkKind::kDeviceTelemetry, .device_id = std::move(*id)};
    }
    if (auto id = DeviceSegmentBefore(path, "twin")) {
      return {.kind = LinkKind::kDeviceTwinRequests, .device_id = std::move(*id)};
    }
    if (auto id = DeviceSegmentBefore(path, "methods/devicebound")) {
      return {.kind = LinkKind::kDeviceMethodResponses, .device_id = std::move(*id)};
    }
  } else {
    if (auto id = DeviceSegmentBefore(path, "twin")) {
      return {.kind = LinkKind::kDeviceTwinResponses, .device_id = std::move(*id)};
    }
    if (auto id = DeviceSegmentBefore(path, "methods/devicebound")) {
      return {.kind = LinkKind::kDeviceMethodRequests, .device_id = std::move(*id)};
    }
    if (EqualsIgnoreCase(path, "/messages/servicebound/feedback")) {
      return {.kind = LinkKind::kServiceFeedback};
    }
    if (auto id = DeviceSegmentBefore(path, "messages/devicebound")) {
      return {.kind = LinkKind::kDeviceC2d, .device_id = std::move(*id)};
    }
  }
  return {};
}

std::string ResolveDeviceId(const std::string& segment,
                            const std::function<bool(const std::string&)>& exists) {
  if (exists(segment)) return segment;
  std::string decoded;
  if (UrlDecode(segment, &decoded) && decoded != segment && exists(decoded)) return decoded;
  return segment;
}

std::optional<std::string> DeviceOfC2dTo(std::string_view to) {
  std::optional<std::string> segment = DeviceSegmentBefore(to, "messages/devicebound");
  std::string id;
  if (!segment || !UrlDecode(*segment, &id) || id.empty()) return std::nullopt;
  return id;
}

bool IsDeviceLink(LinkKind kind) {
  switch (kind) {
    case LinkKind::kDeviceTelemetry:
    case LinkKind::kDeviceC2d:
    case LinkKind::kDeviceTwinRequests:
    case LinkKind::kDeviceTwinResponses:
    case LinkKind::kDeviceMethodRequests:
    case LinkKind::kDeviceMethodResponses:
      return true;
    default:
      return false;
  }
}

std::string_view LinkKindName(LinkKind kind) {
  switch (kind) {
    case LinkKind::kDeviceTwinRequests:
      return "device twin requests";
    case LinkKind::kDeviceTwinResponses:
      return "device twin responses";
    case LinkKind::kDeviceMethodRequests:
      return "device method requests";
    case LinkKind::kDeviceMethodResponses:
      return "device method responses";
    case LinkKind::kCbs:
      return "$cbs";
    case LinkKind::kDeviceTelemetry:
      return "device telemetry";
    case LinkKind::kDeviceC2d:
      return "device C2D";
    case LinkKind::kServiceC2dSend:
      return "service C2D send";
    case LinkKind::kServiceFeedback:
      return "service feedback";
    case LinkKind::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace iothub::amqp
