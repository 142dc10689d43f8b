#include "http/service_auth.h"

namespace iothub::http {

Result<core::auth::Principal> AuthorizeService(const core::auth::Authenticator& authenticator,
                                               const Request& request, core::auth::Right right,
                                               std::string_view resource) {
  std::optional<std::string_view> header = request.Header("Authorization");
  if (!header || header->empty()) {
    return Unauthenticated("missing Authorization header", "IotHubUnauthorizedAccess");
  }
  HUB_ASSIGN_OR_RETURN(core::auth::Principal principal, authenticator.Authenticate(*header));
  if (principal.kind != core::auth::Principal::Kind::kPolicy) {
    return Unauthenticated("a device token cannot be used for service operations",
                           "IotHubUnauthorizedAccess");
  }
  Status allowed = authenticator.Authorize(principal, right, resource);
  if (allowed.code() == StatusCode::kUnauthenticated) return allowed;  // expired meanwhile
  if (!allowed.ok()) {
    // Azure: 401003 "Authorization rule '<policy>' does not allow access for '<resource>'".
    return PermissionDenied("authorization rule '" + principal.policy_name +
                                "' does not allow access for '" + std::string(resource) + "'",
                            "IotHubUnauthorizedAccess");
  }
  return principal;
}

}  // namespace iothub::http
