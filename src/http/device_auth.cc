#include "http/device_auth.h"

#include <string>

namespace iothub::http {

Result<core::auth::Principal> AuthorizeDevice(const core::auth::Authenticator& authenticator,
                                              const Request& request, std::string_view device_id,
                                              std::string_view host) {
  std::optional<std::string_view> header = request.Header("Authorization");
  if (!header || header->empty()) {
    return Unauthenticated("missing Authorization header", "IotHubUnauthorizedAccess");
  }
  HUB_ASSIGN_OR_RETURN(core::auth::Principal principal, authenticator.Authenticate(*header));
  Status allowed = authenticator.AuthorizeDeviceConnect(principal, device_id);
  if (allowed.code() == StatusCode::kPermissionDenied) {
    // Azure: 401 "Authorization rule '<policy>' does not allow access for '<resource>'" for a
    // policy, and a plain unauthorized answer for another device's token.
    std::string resource = std::string(host) + "/devices/" + std::string(device_id);
    if (principal.kind == core::auth::Principal::Kind::kPolicy) {
      return PermissionDenied("authorization rule '" + principal.policy_name +
                                  "' does not allow access for '" + resource + "'",
                              "IotHubUnauthorizedAccess");
    }
    return PermissionDenied("the token does not grant access to '" + resource + "'",
                            "IotHubUnauthorizedAccess");
  }
  if (!allowed.ok()) return allowed;  // expired meanwhile, unknown or disabled device
  return principal;
}

}  // namespace iothub::http
