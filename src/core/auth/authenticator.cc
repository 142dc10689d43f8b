#include "core/auth/authenticator.h"

#include <limits>
#include <utility>

#include "base/strings.h"
#include "core/auth/sas_token.h"

namespace iothub::core::auth {

std::string AuthMethodJson(const Principal& principal) {
  return principal.kind == Principal::Kind::kDevice
             ? R"({"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null})"
             : R"({"scope":"hub","type":"sas","issuer":"iothub","acceptingIpFilterRule":null})";
}

namespace {

constexpr char kUnauthorized[] = "IotHubUnauthorizedAccess";

Status Denied(std::string why) { return Unauthenticated(std::move(why), kUnauthorized); }

std::string_view StripTrailingSlashes(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// `path` equals `prefix` or continues it with '/'. Both already lowercased.
bool IsSegmentPrefix(std::string_view prefix, std::string_view path) {
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

// Splits "<host>/devices/<id>[/<rest>]" (host already checked). `after_host` starts after the host.
// Returns false when the path does not name a device.
bool DevicePart(std::string_view after_host, std::string_view* id, std::string_view* rest) {
  constexpr std::string_view kDevices = "/devices/";
  if (!StartsWithIgnoreCase(after_host, kDevices)) return false;
  std::string_view tail = after_host.substr(kDevices.size());
  size_t slash = tail.find('/');
  *id = tail.substr(0, slash);
  *rest = slash == std::string_view::npos ? std::string_view() : tail.substr(slash + 1);
  return !id->empty();
}

Timestamp FromUnixSeconds(int64_t seconds) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1000;
  return FromUnixMillis(seconds > kMax ? kMax * 1000 : seconds * 1000);
}

}  // namespace

Authenticator::Authenticator(std::string hub_host, const PolicyStore& policies, const Clock& clock,
                             DeviceCredentialsLookup lookup)
    : hub_host_(ToLower(hub_host)),
      policies_(policies),
      clock_(clock),
      lookup_(std::move(lookup)) {}

Result<Principal> Authenticator::Authenticate(std::string_view text) const {
  HUB_ASSIGN_OR_RETURN(SasToken token, ParseSasToken(text));
  Principal principal;
  principal.expiry = FromUnixSeconds(token.expiry);
  if (principal.expiry <= clock_.Now()) return Denied("shared access signature expired");

  std::string_view resource = StripTrailingSlashes(token.resource);
  principal.scope = ToLower(resource);
  if (!IsSegmentPrefix(hub_host_, principal.scope)) {
    return Denied("token scope '" + token.resource + "' is not on this hub");
  }
  std::string_view after_host = resource.substr(hub_host_.size());
  std::string_view device_id, rest;
  bool device_scoped = DevicePart(after_host, &device_id, &rest);

  if (!token.key_name.empty()) {
    std::optional<SharedAccessPolicy> policy = policies_.Find(token.key_name);
    if (!policy) return Denied("unknown shared access policy '" + token.key_name + "'");
    if (!VerifySasSignature(token, policy->primary_key) &&
        !VerifySasSignature(token, policy->secondary_key)) {
      return Denied("signature does not match policy '" + token.key_name + "'");
    }
    principal.kind = Principal::Kind::kPolicy;
    principal.policy_name = policy->name;
    principal.rights = policy->rights;
    if (device_scoped) principal.device_id = std::string(device_id);
    return principal;
  }

  if (!device_scoped) return Denied("a token without skn must be scoped to a device");
  if (StartsWithIgnoreCase(rest, "modules/") || EqualsIgnoreCase(rest, "modules")) {
    return Denied("module identities are not supported");
  }
  std::optional<DeviceCredentials> credentials = lookup_(device_id);
  if (!credentials) return Denied("unknown device '" + std::string(device_id) + "'");
  if (!VerifySasSignature(token, credentials->primary_key) &&
      !VerifySasSignature(token, credentials->secondary_key)) {
    return Denied("signature does not match device '" + std::string(device_id) + "'");
  }
  if (!credentials->enabled) {
    return Unauthenticated("device '" + std::string(device_id) + "' is disabled", "DeviceDisabled");
  }
  principal.kind = Principal::Kind::kDevice;
  principal.device_id = std::string(device_id);
  principal.rights = kDeviceConnect;
  principal.credentials_version = credentials->version;
  return principal;
}

Status Authenticator::Authorize(const Principal& principal, Right right,
                                std::string_view resource) const {
  if (principal.expiry <= clock_.Now()) return Denied("shared access signature expired");
  if ((principal.rights & right) != right) {
    return PermissionDenied(
        "the credentials lack the right needed for '" + std::string(resource) + "'", kUnauthorized);
  }
  std::string_view trimmed = StripTrailingSlashes(resource);
  std::string lowered = ToLower(trimmed);
  if (principal.scope.empty() || !IsSegmentPrefix(principal.scope, lowered)) {
    return PermissionDenied("token scope does not cover '" + std::string(resource) + "'",
                            kUnauthorized);
  }
  if (!principal.device_id.empty()) {
    std::string_view id, rest;
    if (!IsSegmentPrefix(hub_host_, lowered) ||
        !DevicePart(trimmed.substr(hub_host_.size()), &id, &rest) || id != principal.device_id) {
      return PermissionDenied("token of device '" + principal.device_id + "' does not cover '" +
                                  std::string(resource) + "'",
                              kUnauthorized);
    }
  }
  return Status::Ok();
}

Status Authenticator::AuthorizeDeviceConnect(const Principal& principal,
                                             std::string_view device_id) const {
  HUB_RETURN_IF_ERROR(
      Authorize(principal, kDeviceConnect, hub_host_ + "/devices/" + std::string(device_id)));
  std::optional<DeviceCredentials> credentials = lookup_(device_id);
  if (!credentials) {
    return Unauthenticated("unknown device '" + std::string(device_id) + "'", "DeviceNotFound");
  }
  if (!credentials->enabled) {
    return Unauthenticated("device '" + std::string(device_id) + "' is disabled", "DeviceDisabled");
  }
  if (principal.kind == Principal::Kind::kDevice &&
      principal.credentials_version != credentials->version) {
    return Unauthenticated("the token was signed with credentials device '" +
                               std::string(device_id) + "' no longer has",
                           "IotHubUnauthorizedAccess");
  }
  return Status::Ok();
}

}  // namespace iothub::core::auth
