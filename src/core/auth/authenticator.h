#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "core/auth/policy.h"

namespace iothub::core::auth {

// What the authenticator needs to know about a device. The registry provides it (auth does not
// depend on the registry target).
struct DeviceCredentials {
  std::string primary_key;    // base64; empty when the device has no symmetric key
  std::string secondary_key;  // base64; may be empty
  bool enabled = true;
  // Changes whenever the device's credentials change, and when a device of the same id is created
  // again: a device principal authenticated under another version is no longer valid.
  uint64_t version = 0;
};

// Looks a device up by its exact (case-sensitive) id. Called from any thread: must be thread-safe.
using DeviceCredentialsLookup =
    std::function<std::optional<DeviceCredentials>(std::string_view device_id)>;

// Who presented a valid token, and what it lets them do.
struct Principal {
  enum class Kind { kDevice, kPolicy };
  Kind kind = Kind::kDevice;
  // kDevice: the device (exact case). kPolicy: set when the token's scope is one device
  // ("<host>/devices/<id>" or below), else empty.
  std::string device_id;
  std::string policy_name;  // kPolicy only
  uint32_t rights = 0;      // Right bits: the policy's, or kDeviceConnect for a device
  std::string scope;        // the token's sr, URL-decoded, lowercased, without trailing '/'
  Timestamp expiry;         // the token's se
  uint64_t credentials_version = 0;  // kDevice: DeviceCredentials::version when authenticated
};

// How `principal` authenticated, as IoT Hub stamps it on telemetry (iothub-connection-auth-method):
// {"scope":"device"|"hub","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}.
std::string AuthMethodJson(const Principal& principal);

// Turns SAS tokens into principals and answers "may principal P do X on resource R".
//
// Thread-safe and stateless beyond its construction arguments: any thread may call any method.
class Authenticator {
 public:
  // `hub_host` is the hub's HostName (compared case-insensitively). `policies`, `clock` and the
  // state behind `lookup` must outlive the Authenticator.
  Authenticator(std::string hub_host, const PolicyStore& policies, const Clock& clock,
                DeviceCredentialsLookup lookup);

  // Authenticates a "SharedAccessSignature ..." token. Every failure is Unauthenticated (reason
  // "IotHubUnauthorizedAccess"; the message says why, e.g. "expired"), never PermissionDenied:
  // - malformed token; se <= now ("expired");
  // - the decoded sr is not the hub host or a path below it (segment-wise, case-insensitive);
  // - with skn: unknown policy, or neither of its keys verifies the token. The principal is
  //   kPolicy with the policy's rights, whatever they are (Authorize checks them);
  // - without skn: sr is not "<host>/devices/<id>[/...]", or names a module
  //   ("<host>/devices/<id>/modules/..."; module identities are not supported, so no module key
  //   could sign it), the device is unknown, neither device key verifies the token, or the device
  //   is disabled (reason "DeviceDisabled"; checked only after the signature verified, so the
  //   state of a device is never revealed to someone without its key). The principal is kDevice
  //   with rights kDeviceConnect.
  Result<Principal> Authenticate(std::string_view token) const;

  // May `principal` use `right` on `resource`, an unencoded path below the host such as
  // "myhub/devices/d1/messages/events"? Yes (Ok) when the token has not expired since it was
  // authenticated (else Unauthenticated, "expired"), the principal holds `right`, and its scope is
  // a segment-wise, case-insensitive prefix of `resource` ("h/devices/a" covers "h/devices/a/x",
  // not "h/devices/ab"); in addition a principal bound to a device (kDevice, or a device-scoped
  // policy token) only reaches resources of exactly that device id (device ids are
  // case-sensitive). Otherwise PermissionDenied.
  Status Authorize(const Principal& principal, Right right, std::string_view resource) const;

  // May `principal` connect as device `device_id`? Authorize(kDeviceConnect,
  // "<host>/devices/<device_id>"), then the device must exist (else Unauthenticated,
  // "DeviceNotFound") and be enabled (else Unauthenticated, "DeviceDisabled"): this also covers a
  // policy token (skn=device) connecting as a device, and a device disabled since its token was
  // checked. A device principal must also have been authenticated with the device's current
  // credentials (else Unauthenticated, "IotHubUnauthorizedAccess": the device was re-keyed, or
  // deleted and created again, since).
  Status AuthorizeDeviceConnect(const Principal& principal, std::string_view device_id) const;

  const std::string& hub_host() const { return hub_host_; }

 private:
  std::string hub_host_;  // lowercased
  const PolicyStore& policies_;
  const Clock& clock_;
  DeviceCredentialsLookup lookup_;
};

}  // namespace iothub::core::auth
