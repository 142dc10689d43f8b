#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/status.h"
#include "core/auth/authenticator.h"
#include "core/c2d/c2d_queues.h"
#include "core/message.h"
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
// Thread: End() and Deliver() are called on the device's shard and must not call back into the
// core synchronously: the implementation hands the work to its connection's own thread (a
// front-end object living on the device's shard may first stop using the link there).
class DeviceLink {
 public:
  virtual ~DeviceLink() = default;
  // The core no longer lets this link serve the device: close it. `reason` is for logs. Called at
  // most once; nothing is delivered after it.
  virtual void End(LinkEnd why, const std::string& reason) = 0;
  // C2D messages of the device, locked for this link (each carries its lock token), oldest first,
  // never more than the credit the link granted (Presence::Grant). The front-end sends them, and
  // settles each through the hub (complete, reject, abandon); one it cannot send any more (its
  // connection is gone) it abandons, or leaves to its lock's expiry.
  virtual void Deliver(std::vector<Message> messages) = 0;
};

// Who serves the devices of one shard: at most one live link per device across every protocol,
// as IoT Hub keeps it. A newer link replaces the older one (kReplaced); revocation (delete,
// disable, new credentials) ends it (kRevoked). It keeps the registry's connectionState: connected
// while a link is attached, disconnected when the last one goes.
//
// C2D delivery goes through it: a link grants credit (how many more messages it takes, as AMQP
// link credit does; MQTT grants its in-flight window), and whenever the device's queue has
// visible messages and its current link has credit, the Presence locks them in the shard's
// C2dQueues and hands them to the link (DeviceLink::Deliver). Only the current link is ever
// served: a replaced or revoked link, or a grant that arrives after its link was replaced, gets
// nothing.
//
// Thread: the shard's executor, for every method.
class Presence {
 public:
  // `registry`, `authenticator` and `queues` (the shard's C2D queues) must outlive the Presence.
  // The hub calls OnAvailable from the queues' available listener.
  Presence(Registry& registry, const auth::Authenticator& authenticator, C2dQueues& queues);
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

  // `link` takes `credit` more C2D messages (added to what it has not used yet): delivers at once
  // what is visible. Ignored unless `link` is the device's current link.
  void Grant(const std::string& device_id, const DeviceLink* link, uint32_t credit);
  // `link` takes no more C2D messages until it grants again (its C2D receiver went, or it
  // unsubscribed): its unused credit is dropped. Ignored unless it is the current link.
  void StopC2d(const std::string& device_id, const DeviceLink* link);
  // The device's C2D queue has visible messages.
  void OnAvailable(const std::string& device_id);

  // For tests: the unused credit of the device's current link.
  uint64_t credit(const std::string& device_id) const;

 private:
  struct Entry {
    std::shared_ptr<DeviceLink> link;
    auth::Principal principal;  // what it attached with
    uint64_t credit = 0;        // C2D messages the link takes and has not been given yet
  };
  // Hands the link what its credit allows.
  void Serve(const std::string& device_id, Entry& entry);

  Registry& registry_;
  const auth::Authenticator& authenticator_;
  C2dQueues& queues_;
  std::unordered_map<std::string, Entry> links_;
};

}  // namespace iothub::core
