#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"
#include "core/auth/authenticator.h"
#include "core/registry/registry.h"

namespace iothub::core {

// Why the core ends a device's link.
enum class LinkEnd {
  kReplaced,  // a newer connection of the device, on any protocol, took over
  kRevoked,   // the device was deleted or disabled, or its credentials changed
};

// A front-end's live connection of one device, as the core sees it (ARCHITECTURE.md, "Device
// presence"): an MQTT connection, or the links an AMQP connection holds for one device. The
// front-end implements it; the core knows it by its address.
//
// Thread: End() is called on the device's shard, at most once, and must not call back into the
// Presence synchronously: the implementation hands the closing to its connection's own thread
// (a front-end object living on the device's shard may first stop using the link there).
class DeviceLink {
 public:
  virtual ~DeviceLink() = default;
  // The core no longer lets this link serve the device: close it. `reason` is for logs.
  virtual void End(LinkEnd why, const std::string& reason) = 0;
};

// Who serves the devices of one shard: at most one live link per device across every protocol,
// as IoT Hub keeps it. A newer link replaces the older one (kReplaced); revocation (delete,
// disable, new credentials) ends it (kRevoked). It keeps the registry's connectionState: connected
// while a link is attached, disconnected when the last one goes.
//
// Thread: the shard's executor, for every method.
class Presence {
 public:
  // `registry` and `authenticator` must outlive the Presence.
  Presence(Registry& registry, const auth::Authenticator& authenticator);
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  // `link` now serves `device_id`, authenticated as `principal`. The principal is checked again
  // here (AuthorizeDeviceConnect: the device may have been deleted, disabled or re-keyed since the
  // front-end authenticated it on its own thread; revocations reach the shard in order, so a link
  // attached here either passes this check or is ended by the revocation that follows). On
  // refusal nothing changes and the error says why (Unauthenticated, or PermissionDenied).
  // Otherwise the link attached before, if another, is ended (kReplaced).
  Status Attach(const std::string& device_id, const auth::Principal& principal,
                std::shared_ptr<DeviceLink> link);
  // `link` no longer serves the device (its connection ended on its own). Ignored unless it is
  // the device's current link.
  void Detach(const std::string& device_id, const DeviceLink* link);
  // A revocation of the device (deleted, disabled, new credentials) reached its shard: ends its
  // link (kRevoked) unless the principal it attached with is still valid (it was authenticated
  // with the new credentials, between the registry change and this call: a device connecting
  // with its new key must not be cut off by the change that made the key).
  void Revoke(const std::string& device_id, std::string_view why);

  // Whether `link` is the device's current link.
  bool IsCurrent(const std::string& device_id, const DeviceLink* link) const;

 private:
  Registry& registry_;
  const auth::Authenticator& authenticator_;
  struct Entry {
    std::shared_ptr<DeviceLink> link;
    auth::Principal principal;  // what it attached with
  };
  std::unordered_map<std::string, Entry> links_;
};

}  // namespace iothub::core
