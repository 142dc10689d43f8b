#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "base/result.h"
#include "base/status.h"
#include "core/auth/authenticator.h"
#include "core/c2d/c2d_queues.h"
#include "core/hub/session_store.h"
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

// How a device's connection uses the device's session (MQTT 3.1.1 section 3.1.2.4).
enum class SessionMode {
  kNone,        // no session (AMQP): a stored one is left as it is
  kClean,       // MQTT clean session 1: a stored session is discarded and its unsettled
                // deliveries go back to the queue; the connection's session ends with it
  kPersistent,  // MQTT clean session 0: the stored session, or a new one, outlives the connection
};

// What Attach hands a front-end about the device's session.
struct SessionView {
  bool present = false;  // kPersistent, and a session of the device was there (CONNACK's flag)
  std::string state;     // the front-end's state saved with it (SaveSession), "" when new
  // kPersistent and present: the device's messages still locked from earlier connections (sent,
  // not yet settled), oldest first, each with its lock token and deadline: to send again.
  std::vector<Message> in_flight;
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
// Device sessions live here too: a front-end's per-device state that outlives a connection (MQTT
// clean session 0: subscriptions), as opaque bytes the front-end encodes, durable in the
// SessionStore (kept with the device's generation id: a device deleted and created again never
// inherits it). The deliveries a session has not settled are the device's locked messages in its
// queue, whose locks are durable already: Attach hands them back, nothing else stores them. A
// session whose device stays away for `session_expiry` is dropped (ExpireSessions).
//
// Thread: the shard's executor, for every method (Restore: see there).
class Presence {
 public:
  // `registry`, `authenticator`, `queues` (the shard's C2D queues), `sessions`, `clock` and
  // `executor` (the shard's) must outlive the Presence. The hub calls OnAvailable from the
  // queues' available listener. `session_expiry` zero: sessions never expire.
  Presence(Registry& registry, const auth::Authenticator& authenticator, C2dQueues& queues,
           SessionStore& sessions, const Clock& clock, Executor& executor, Duration session_expiry);
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  // `link` now serves `device_id`, authenticated as `principal`. The principal is checked again
  // here (AuthorizeDeviceConnect: the device may have been deleted, disabled or re-keyed since the
  // front-end authenticated it on its own thread; revocations reach the shard in order, so a link
  // attached here either passes this check or is ended by the revocation that follows). On
  // refusal nothing changes and the error says why (Unauthenticated, or PermissionDenied).
  // Otherwise the link attached before, if another, is ended (kReplaced), and the device's
  // session is taken as `mode` says (SessionView).
  Result<SessionView> Attach(const std::string& device_id, const auth::Principal& principal,
                             std::shared_ptr<DeviceLink> link,
                             SessionMode mode = SessionMode::kNone);
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

  // Saves the front-end's session state of the device (kPersistent sessions: durably, kSync)
  // and calls `done` once it is durable; at once for a link without a persistent session. An
  // error when `link` is not the device's current link (nothing saved) or the write failed.
  void SaveSession(const std::string& device_id, const DeviceLink* link, std::string state,
                   std::function<void(Status)> done);
  // The device was deleted: its session goes (the hub deletes the stored one).
  void DropSession(const std::string& device_id);
  // A session loaded from the store at start-up. Only while the shard runs nothing (Hub::Open).
  void Restore(StoredSession stored);
  // Drops the sessions whose device has been away for longer than the expiry and writes again
  // those of devices connected for long (so that after a crash they do not look expired). Call
  // now and then (Hub::ProcessTimers: once a minute).
  void ExpireSessions();

  // For tests: the unused credit of the device's current link; the sessions held.
  uint64_t credit(const std::string& device_id) const;
  size_t session_count() const { return sessions_.size(); }

 private:
  struct Entry {
    std::shared_ptr<DeviceLink> link;
    auth::Principal principal;  // what it attached with
    uint64_t credit = 0;        // C2D messages the link takes and has not been given yet
    SessionMode mode = SessionMode::kNone;
  };
  struct Session {
    std::string generation_id;
    std::string state;
    Timestamp last_seen;  // when its device last went away (expiry counts from it)
    Timestamp saved_at;   // its last store write
  };
  // Hands the link what its credit allows.
  void Serve(const std::string& device_id, Entry& entry);
  // Writes the session (`updated`: now while its device is connected, else last_seen).
  void Persist(const std::string& device_id, Session& session, storage::Durability durability,
               std::function<void(Status)> done);
  // Every locked message of the device goes back to its queue.
  void AbandonLocked(const std::string& device_id);

  Registry& registry_;
  const auth::Authenticator& authenticator_;
  C2dQueues& queues_;
  SessionStore& store_;
  const Clock& clock_;
  Executor& executor_;
  const Duration session_expiry_;
  std::unordered_map<std::string, Session> sessions_;  // persistent sessions of the shard
  // Store callbacks come back through a post; they do nothing once this object is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
  std::unordered_map<std::string, Entry> links_;
};

}  // namespace iothub::core
