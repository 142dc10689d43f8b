#include "core/hub/presence.h"

#include <algorithm>
#include <utility>

#include "base/log.h"

namespace iothub::core {

Presence::Presence(Registry& registry, const auth::Authenticator& authenticator, C2dQueues& queues,
                   SessionStore& sessions, const Clock& clock, Executor& executor,
                   Duration session_expiry)
    : registry_(registry),
      authenticator_(authenticator),
      queues_(queues),
      store_(sessions),
      clock_(clock),
      executor_(executor),
      session_expiry_(session_expiry) {}

Result<SessionView> Presence::Attach(const std::string& device_id, const auth::Principal& principal,
                                     std::shared_ptr<DeviceLink> link, SessionMode mode) {
  HUB_RETURN_IF_ERROR(authenticator_.AuthorizeDeviceConnect(principal, device_id));
  auto [it, inserted] = links_.try_emplace(device_id, Entry{link, principal, 0, mode});
  if (!inserted) {
    if (it->second.link == link) return SessionView{};
    std::shared_ptr<DeviceLink> older = std::exchange(it->second.link, std::move(link));
    it->second.principal = principal;
    it->second.credit = 0;  // the older link's credit is not the newer one's
    it->second.mode = mode;
    HUB_LOG_INFO("presence", "device '{}': a newer connection replaces the open one", device_id);
    older->End(LinkEnd::kReplaced, "replaced by a newer connection of the device");
  } else {
    registry_.SetConnectionState(device_id, true);
  }

  SessionView view;
  if (mode == SessionMode::kNone) return view;
  auto stored = sessions_.find(device_id);
  std::string generation = registry_.GenerationId(device_id).value_or("");
  bool present = stored != sessions_.end() && stored->second.generation_id == generation;
  if (mode == SessionMode::kClean || !present) {
    // MQTT-3.1.2-6: a clean session starts empty, and so does a persistent one that follows a
    // clean one or a device's earlier incarnation: what the old session had not settled goes back
    // to the queue at once.
    if (stored != sessions_.end()) {
      sessions_.erase(stored);
      if (mode == SessionMode::kClean) store_.Remove(device_id, nullptr);
    }
    AbandonLocked(device_id);
  }
  if (mode == SessionMode::kClean) return view;
  if (present) {
    view.present = true;
    view.state = stored->second.state;
    view.in_flight = queues_.Locked(device_id);
  }
  auto [created, is_new] = sessions_.try_emplace(device_id);
  Session& session = created->second;
  if (is_new) session.last_seen = clock_.Now();
  session.generation_id = std::move(generation);
  Persist(device_id, session, storage::Durability::kAsync, nullptr);  // its existence is state
  return view;
}

void Presence::Detach(const std::string& device_id, const DeviceLink* link) {
  auto it = links_.find(device_id);
  if (it == links_.end() || it->second.link.get() != link) return;
  links_.erase(it);
  registry_.SetConnectionState(device_id, false);
  // The device went away, whatever its last link: a session it keeps starts ageing now.
  auto session = sessions_.find(device_id);
  if (session != sessions_.end()) {
    session->second.last_seen = clock_.Now();
    Persist(device_id, session->second, storage::Durability::kAsync, nullptr);
  }
}

void Presence::Revoke(const std::string& device_id, std::string_view why) {
  auto it = links_.find(device_id);
  if (it == links_.end()) return;
  if (authenticator_.AuthorizeDeviceConnect(it->second.principal, device_id).ok()) {
    HUB_LOG_DEBUG("presence", "device '{}': {}, but its connection uses its current credentials",
                  device_id, why);
    return;
  }
  std::shared_ptr<DeviceLink> link = it->second.link;
  HUB_LOG_INFO("presence", "device '{}': closing its connection: {}", device_id, why);
  Detach(device_id, link.get());
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

void Presence::AbandonLocked(const std::string& device_id) {
  for (const Message& m : queues_.Locked(device_id)) {
    queues_.Abandon(device_id, m.lock_token, [](Status) {});
  }
}

void Presence::SaveSession(const std::string& device_id, const DeviceLink* link, std::string state,
                           std::function<void(Status)> done) {
  auto it = links_.find(device_id);
  if (it == links_.end() || it->second.link.get() != link) {
    return done(PreconditionFailed("the connection no longer serves the device"));
  }
  auto session = sessions_.find(device_id);
  if (it->second.mode != SessionMode::kPersistent || session == sessions_.end()) {
    return done(Status::Ok());  // nothing outlives the connection: nothing to store
  }
  session->second.state = std::move(state);
  Persist(device_id, session->second, storage::Durability::kSync, std::move(done));
}

void Presence::DropSession(const std::string& device_id) { sessions_.erase(device_id); }

void Presence::Restore(StoredSession stored) {
  Session& session = sessions_[stored.device_id];
  session.generation_id = std::move(stored.generation_id);
  session.state = std::move(stored.state);
  session.last_seen = stored.updated;
  session.saved_at = stored.updated;
}

void Presence::ExpireSessions() {
  if (session_expiry_.count() <= 0) return;
  Timestamp now = clock_.Now();
  std::vector<std::string> gone;
  for (auto& [device_id, session] : sessions_) {
    bool connected = links_.contains(device_id);
    if (!connected && now - session.last_seen > session_expiry_) {
      gone.push_back(device_id);
    } else if (connected && now - session.saved_at > session_expiry_ / 4) {
      // A device connected for long: its stored record must not look expired after a crash.
      Persist(device_id, session, storage::Durability::kAsync, nullptr);
    }
  }
  for (const std::string& device_id : gone) {
    HUB_LOG_INFO("presence", "device '{}': persistent session expired", device_id);
    sessions_.erase(device_id);  // its locks simply run out
    store_.Remove(device_id, nullptr);
  }
}

void Presence::Persist(const std::string& device_id, Session& session,
                       storage::Durability durability, std::function<void(Status)> done) {
  // Writes from this shard reach the store's single writer in order: the last one wins.
  if (registry_.GenerationId(device_id) != session.generation_id) {
    // The device was deleted meanwhile (the hub removes its stored session): write nothing.
    if (done) done(Status::Ok());
    return;
  }
  session.saved_at = clock_.Now();
  bool connected = links_.contains(device_id);
  StoredSession stored{.device_id = device_id,
                       .generation_id = session.generation_id,
                       .updated = connected ? clock_.Now() : session.last_seen,
                       .state = session.state};
  std::weak_ptr<char> alive = alive_;
  store_.Save(stored, durability,
              [executor = &executor_, alive, device_id, done = std::move(done)](Status status) {
                executor->Post([alive, device_id, done = std::move(done), status] {
                  if (alive.expired()) return;
                  if (!status.ok()) {
                    HUB_LOG_WARN("presence", "device '{}': session not stored: {}", device_id,
                                 status.ToString());
                  }
                  if (done) done(status);
                });
              });
}

}  // namespace iothub::core
