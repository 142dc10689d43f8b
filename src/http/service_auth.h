#pragma once

#include <string_view>

#include "base/result.h"
#include "core/auth/authenticator.h"
#include "core/auth/policy.h"
#include "http/message.h"

namespace iothub::http {

// Checks a service call (registry, statistics, C2D send): the request's
// "Authorization: SharedAccessSignature ..." header must authenticate as a shared access policy
// holding `right` over `resource` (an unencoded path below the host, e.g. "hub/devices/d1").
// Errors, all Unauthenticated or PermissionDenied (HTTP 401, IotHubUnauthorizedAccess):
// missing header, bad / expired / forged token, a device token (devices never reach service
// resources), a policy lacking `right`, a token scoped elsewhere.
Result<core::auth::Principal> AuthorizeService(const core::auth::Authenticator& authenticator,
                                               const Request& request, core::auth::Right right,
                                               std::string_view resource);

}  // namespace iothub::http
