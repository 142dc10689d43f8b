#include "core/hub/presence.h"

#include <algorithm>
#include <utility>

#include "base/log.h"

namespace iothub::core {

Presence::Presence(Registry& registry, const auth::Authenticator& authenticator,
                   C2dQueues& queues)
    : registry_(registry), authenticator_(authenticator), queues_(queues) {}

Status Presence::Attach(const std::string& device_id, const auth::Principal& principal,
                        std::shared_ptr<DeviceLink> link) {
  HUB_RETURN_IF_ERROR(authenticator_.AuthorizeDeviceConnect(principal, device_id));
  auto [it, inserted] = links_.try_emplace(device_id, Entry{link, principal});
  if (!inserted) {
    if (it->second.link == link) return Status::Ok();
    std::shared_ptr<DeviceLink> older = std::exchange(it->second.link, std::move(link));
    it->second.principal = principal;
    it->second.credit = 0;  // the older link's credit is not the newer one's
    HUB_LOG_INFO("presence", "device '{}': a newer connection replaces the open one", device_id);
    older->End(LinkEnd::kReplaced, "replaced by a newer connection of the device");
    return Status::Ok();  // still connected: connectionState stays
  }
  registry_.SetConnectionState(device_id, true);
  return Status::Ok();
}

void Presence::Detach(const std::string& device_id, const DeviceLink* link) {
  auto it = links_.find(device_id);
  if (it == links_.end() || it->second.link.get() != link) return;
  links_.erase(it);
  registry_.SetConnectionState(device_id, false);
}

void Presence::Revoke(const std::string& device_id, std::string_view why) {
  auto it = links_.find(device_id);
  if (it == links_.end()) return;
  if (authenticator_.AuthorizeDeviceConnect(it->second.principal, device_id).ok()) {
    HUB_LOG_DEBUG("presence", "device '{}': {}, but its connection uses its current credentials",
                  device_id, why);
    return;
  }
  std::shared_ptr<DeviceLink> link = std::move(it->second.link);
  links_.erase(it);
  HUB_LOG_INFO("presence", "device '{}': closing its connection: {}", device_id, why);
  registry_.SetConnectionState(device_id, false);
  link->End(LinkEnd::kRevoked, std::string(why));
}

bool Presence::IsCurrent(const std::string& device_id, const DeviceLink* link) const {
  auto it = links_.find(device_id);
  return it != links_.end() && it->second.link.get() == link;
}

void Presence::Grant(const std::string& device_id, const DeviceLink* link, uint32_t credit) {
  auto it = links_.find(device_id);
  if (it == links_.end() || it->second.link.get() != link || credit == 0) return;
  it->second.credit += credit;
  Serve(device_id, it->second);
}

void Presence::StopC2d(const std::string& device_id, const DeviceLink* link) {
  auto it = links_.find(device_id);
  if (it != links_.end() && it->second.link.get() == link) it->second.credit = 0;
}

void Presence::OnAvailable(const std::string& device_id) {
  auto it = links_.find(device_id);
  if (it != links_.end()) Serve(device_id, it->second);
}

uint64_t Presence::credit(const std::string& device_id) const {
  auto it = links_.find(device_id);
  return it == links_.end() ? 0 : it->second.credit;
}

void Presence::Serve(const std::string& device_id, Entry& entry) {
  // Deliver never calls back into the core, so `entry` stays valid throughout.
  while (entry.credit > 0) {
    std::vector<Message> messages = queues_.ReceiveAndLockUpTo(device_id, entry.credit);
    if (messages.empty()) return;  // nothing visible left
    entry.credit -= std::min<uint64_t>(entry.credit, messages.size());
    entry.link->Deliver(std::move(messages));
  }
}

}  // namespace iothub::core
