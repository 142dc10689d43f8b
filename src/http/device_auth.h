#pragma once

#include <string_view>

#include "base/result.h"
#include "core/auth/authenticator.h"
#include "http/message.h"

namespace iothub::http {

// Checks a device-transport call (PROTOCOL.md, "HTTPS device transport") for device `device_id`
// (the {id} of the path, exact case). The request's "Authorization: SharedAccessSignature ..."
// header must hold either a device token of that device, or a policy token whose policy has
// DeviceConnect and whose scope covers "<host>/devices/<device_id>" (Authenticator::Authenticate,
// then AuthorizeDeviceConnect). The header is read on every request and nothing is cached, so a
// device may switch to a renewed token between requests.
//
// Errors, all Unauthenticated or PermissionDenied (HTTP 401 with the Azure error body): missing
// header, malformed / expired / forged token, a token of another device or scoped elsewhere, a
// policy without DeviceConnect, an unknown or disabled device (reasons as the Authenticator gives
// them, e.g. "DeviceDisabled"; PermissionDenied carries "IotHubUnauthorizedAccess"). `host` is the
// hub's HostName, used in the messages only.
//
// Thread-safe (the Authenticator is): any thread, including shard threads (no store access).
Result<core::auth::Principal> AuthorizeDevice(const core::auth::Authenticator& authenticator,
                                              const Request& request, std::string_view device_id,
                                              std::string_view host);

}  // namespace iothub::http
