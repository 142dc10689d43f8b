#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "core/hub/hub.h"
#include "mqtt/options.h"
#include "mqtt/packets.h"

namespace iothub::mqtt {

// How a device's session reaches the connection currently serving it. Both functions may be called
// from the device's shard and must hand the work to the connection's own shard (post).
struct ConnectionRef {
  uint64_t id = 0;  // unique per connection, for telling a stale detach from the current one
  std::function<void(std::string packet)> send;  // writes an encoded packet to the connection
  // The core no longer lets this connection serve the device (a newer connection of the device
  // took over, on any protocol, or the device was deleted, disabled or re-keyed): close it,
  // without the will. `why` is for the log.
  std::function<void(std::string why)> evict;
};

// What Attach tells the connection.
struct Attached {
  bool session_present = false;
  // Identifies this incarnation of the session: SUBSCRIBE, UNSUBSCRIBE and PUBACK carry it, and
  // are ignored once the session was discarded (clean session, device deleted), so a late PUBACK
  // of an old connection can never complete a message of a new session that reused its packet id.
  uint64_t epoch = 0;
};

// The persistent MQTT sessions of the devices of one shard (MQTT 3.1.1 section 3.1.2.4): each
// device's subscriptions and its C2D deliveries not yet acknowledged, kept across reconnects for
// clean session 0 (the SDKs' token renewal reconnects without subscribing again), and the one
// connection serving the device.
//
// C2D delivery: while a device has a connection and a devicebound subscription, the session grants
// the core's presence credit for up to options.inflight_window messages in flight; the core locks
// them in the device's queue and delivers them through the connection's link (OnDelivered), and
// they go out as PUBLISH (QoS 1, or QoS 0 for a QoS 0 subscription, completed at once). PUBACK
// completes the message (Success feedback when asked) and frees its place in the window. A
// delivery not acknowledged when its connection goes stays in the session and is sent again, with
// DUP, on the next connection while its lock lasts; once the lock expired (OnTimer) its place is
// freed and the queue hands the message out again as a fresh delivery.
//
// Which connection serves the device is the core's call (core::Presence): Attach registers the
// connection there, which checks its principal again and ends the device's older link, MQTT or
// not; revocation (delete, disable, new keys) ends it too. A connection the core ended receives
// nothing more from the session.
//
// Persistent sessions are durable (core::SessionStore): their subscriptions (written with
// Durability::kSync before SUBACK / UNSUBACK), their existence (Session Present) and their
// unacknowledged deliveries (packet id and lock token, written kAsync as they change) survive a
// restart of the hub, so that a client that never subscribes again (the Python SDK) still gets
// its C2D messages, and a delivery in flight comes again with DUP=1 and its packet id while its
// lock lasts (locks survive restarts in the C2D queue). A persistent session whose device stays
// away for options.session_expiry is dropped; a deleted device's session goes with it.
//
// Thread: shard `shard`'s executor only, for every method.
class DeviceSessions {
 public:
  DeviceSessions(core::Hub& hub, size_t shard, const MqttOptions& options, const Clock& clock);
  DeviceSessions(const DeviceSessions&) = delete;
  DeviceSessions& operator=(const DeviceSessions&) = delete;

  // `connection`, authenticated as `principal`, now serves `device_id`: the core's presence takes
  // it (ending the device's older connection, of any protocol) or refuses it (the device was
  // deleted, disabled or re-keyed since the principal was authenticated: the error says why, and
  // nothing changes). With `clean_session` the previous session is discarded first (its
  // deliveries are abandoned, so they are handed out again at once). Returns whether a session
  // was present (CONNACK's flag) and the session's epoch. Deliveries start only with Resume(), so
  // that the caller can send CONNACK first.
  Result<Attached> Attach(const std::string& device_id, bool clean_session,
                          ConnectionRef connection, const core::auth::Principal& principal);
  // After Attach: sends again (DUP) the unacknowledged deliveries whose lock still holds, then
  // delivers queued messages if the device subscribed.
  void Resume(const std::string& device_id);
  // Connection `connection_id` of the device is gone. Ignored unless it is the one attached. A
  // clean session ends with its connection (deliveries abandoned); a persistent one stays.
  void Detach(const std::string& device_id, uint64_t connection_id);
  // The core ended connection `connection_id` (presence): as Detach, without telling the core.
  void Ended(const std::string& device_id, uint64_t connection_id);

  // SUBSCRIBE: the return codes, one per subscription: the granted QoS (at most 1), or
  // kSubscribeFailure for a filter outside the device's topics or beyond max_subscriptions. A
  // filter already held is replaced. Call OnSubscribed() after sending SUBACK. All failures when
  // `epoch` is not the session's (the client's connection is already gone).
  std::vector<uint8_t> Subscribe(const std::string& device_id, uint64_t epoch,
                                 const std::vector<Subscription>& subscriptions);
  // Delivers what a new devicebound subscription allows (never sends anything twice).
  void OnSubscribed(const std::string& device_id);
  // Runs `then` on this shard once the session's subscriptions are durable (at once for a clean
  // session): SUBACK and UNSUBACK wait for it.
  void WhenDurable(const std::string& device_id, std::function<void()> then);
  // UNSUBSCRIBE: forgets the filters (unknown ones are ignored).
  void Unsubscribe(const std::string& device_id, uint64_t epoch,
                   const std::vector<std::string>& filters);
  // PUBACK of a C2D delivery: completes the message. Unknown packet ids are ignored (the lock ran
  // out, or the PUBACK came twice), and so is a PUBACK of another epoch.
  void Puback(const std::string& device_id, uint64_t epoch, uint16_t packet_id);

  // The device was deleted: its session goes, and its connection is evicted. (Its C2D queue is
  // dropped by the hub.)
  void Remove(const std::string& device_id);

  // C2D messages the core delivered to connection `connection_id` of the device (posted here by
  // its link): sent as PUBLISH. Given back to the queue when that connection is gone or the
  // device unsubscribed meanwhile.
  void OnDelivered(const std::string& device_id, uint64_t connection_id,
                   std::vector<core::Message>& messages);
  // Frees the window places of deliveries whose lock ran out unacknowledged. Call about once a
  // second (Endpoint::Tick).
  void OnTimer();

  // A persistent session loaded from the store at start-up (posted by the Endpoint's constructor,
  // ahead of any connection). False when its state cannot be decoded (it is skipped).
  bool Restore(const core::StoredSession& stored);
  // Drops persistent sessions whose device has been away for longer than
  // options.session_expiry (never when it is zero), and writes again those of devices connected
  // for long (so that after a crash their stored record is not taken for expired). Call now and
  // then (Endpoint::Tick).
  void ExpireIdle();

  // For tests and metrics.
  size_t session_count() const { return sessions_.size(); }
  size_t inflight(const std::string& device_id) const;
  bool attached(const std::string& device_id) const;

 private:
  struct Delivery {
    uint16_t packet_id = 0;
    std::string lock_token;
    Timestamp lock_deadline;
    std::string packet;  // the encoded PUBLISH, sent again with DUP set
  };
  class Link;
  struct Session {
    std::vector<std::pair<std::string, uint8_t>> subscriptions;  // filter, granted QoS
    std::optional<uint8_t> devicebound_qos;
    std::vector<Delivery> inflight;  // in sending order (a vector: an empty one costs nothing)
    uint16_t next_packet_id = 1;
    std::optional<ConnectionRef> connection;
    std::shared_ptr<Link> link;  // the connection as core::Presence knows it
    uint64_t granted = 0;        // credit handed to the core for `link` and not yet used
    bool clean = false;
    uint64_t epoch = 0;
    std::string generation_id;    // the device incarnation it belongs to (stored with it)
    Timestamp last_seen;          // the end of its last connection (expiry)
    Timestamp saved_at;           // when its last store write started
    bool save_in_flight = false;  // a store write of it is under way
    bool save_again = false;      // and it changed since
  };

  // Forgets the session's connection; a clean session ends with it.
  void DropConnection(const std::string& device_id, uint64_t connection_id, bool tell_presence);
  // Grants the core what the in-flight window has room for.
  void Pump(const std::string& device_id, Session& session);
  // Writes a persistent session to the store (kAsync, one write in flight per session, changes
  // meanwhile coalesced into the next); `then` (kSync when set) runs on this shard once durable.
  void Persist(const std::string& device_id, Session& session,
               std::function<void()> then = nullptr);
  // Encodes the subscriptions, packet id counter and deliveries in flight.
  static std::string EncodeState(const Session& session);
  // Sends again the deliveries restored from the store (their PUBLISH is rebuilt from the
  // queue's still-locked message) and drops those whose lock is gone.
  void RebuildRestored(const std::string& device_id, Session& session);
  uint16_t NextPacketId(Session& session);
  void AbandonAll(const std::string& device_id, Session& session);
  // Drops deliveries whose lock ran out; true when any was dropped.
  bool DropExpired(Session& session);

  core::Hub& hub_;
  size_t shard_;
  MqttOptions options_;
  const Clock& clock_;
  std::unordered_map<std::string, Session> sessions_;
  // When deliveries' locks run out, soonest first (entries of deliveries acknowledged since are
  // simply found to have nothing to drop).
  std::priority_queue<std::pair<Timestamp, std::string>,
                      std::vector<std::pair<Timestamp, std::string>>, std::greater<>>
      lock_timers_;
  uint64_t next_epoch_ = 1;
  // Store callbacks come back through a post; they do nothing once this object is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

}  // namespace iothub::mqtt
