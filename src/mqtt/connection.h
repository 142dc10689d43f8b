#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "core/auth/authenticator.h"
#include "core/hub/presence.h"
#include "core/message.h"
#include "mqtt/packets.h"
#include "mqtt/session_state.h"
#include "net/stream_link.h"

namespace iothub::mqtt {

class Endpoint;

// Where a Connection's bytes go: a net::StreamLink in the daemon, a recorder in tests.
using ConnectionOutput = net::StreamOutput;

// One MQTT connection of a device, sans-I/O: bytes in (OnData), bytes out (ConnectionOutput),
// time in (OnTimer). It decodes packets, authenticates CONNECT (PROTOCOL.md, "MQTT 3.1.1
// (devices)"), appends telemetry to the hub's log and PUBACKs once durable (in order), and keeps
// the device's session while it is connected (MQTT 3.1.1 section 3.1.2.4).
//
// The device's presence and session are the core's (core::Presence, reached through the hub's
// asynchronous calls, which hide the device's shard): CONNECT attaches the connection as the
// device's link (clean session 1: kClean; 0: kPersistent), which ends the device's older
// connection of any protocol and hands back the persistent session: Session Present, its
// subscriptions, and its deliveries not yet acknowledged whose lock still holds (sent again with
// DUP). Subscriptions of a persistent session are saved durably before SUBACK / UNSUBACK, so a
// client that never subscribes again (the Python SDK) gets its C2D messages after a reconnect or
// a restart of the hub.
//
// C2D delivery: while subscribed to its devicebound topic, the connection grants the core credit
// for options.inflight_window messages in flight; the core delivers them through the link
// (OnC2d) and they go out as PUBLISH, QoS 1 (or 0 for a QoS 0 subscription, completed at once).
// A delivery's packet id is derived from its sequence number (so that it is the same when sent
// again, after a reconnect or a restart); PUBACK completes the message (Success feedback when
// asked). A delivery whose lock runs out unacknowledged frees its place (OnTimer) and the queue
// hands the message out again. When a clean session ends, what it has not acknowledged goes back
// to the queue at once; a persistent session's deliveries stay locked for the next connection.
//
// Refusals: protocol level other than 4 -> CONNACK 1; empty client id -> CONNACK 2; no user name
// or password -> CONNACK 4; a user name naming another device, a bad, expired or foreign token, an
// unknown or disabled device -> CONNACK 5; each followed by the close. Anything malformed, a
// packet before CONNECT or a second CONNECT, QoS 2, a PUBLISH outside the device's topics, a
// payload over the limit, a silence over 1.5 x keep-alive, no CONNECT within connect_timeout, and
// the token's expiry close the connection. Every refusal is logged with its reason. A will on a
// telemetry topic of the device is appended to telemetry (iothub-MessageType=Will) when the
// connection ends without DISCONNECT, as IoT Hub does (not when evicted: a newer connection took
// over, or the device was deleted).
//
// Thread: the connection's shard, for every method (its link posts OnC2d and Evict there). Held
// by shared_ptr: work it posts elsewhere keeps only a weak_ptr.
class Connection : public net::StreamInput, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Endpoint& endpoint, size_t shard, std::shared_ptr<ConnectionOutput> output,
             std::string remote, uint64_t id, Timestamp opened);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bytes from the client, in order, any split.
  void OnData(std::string_view bytes) override;
  // The transport is gone (the peer closed, an error, or after Close). Nothing is written after.
  void OnClosed() override;
  // Enforces the CONNECT timeout, keep-alive and token expiry at `now`.
  void OnTimer(Timestamp now);

  // C2D messages the core delivered to this connection (posted here by its link): sent as PUBLISH.
  // Given back to the queue when the connection is closed or not subscribed (any more).
  void OnC2d(std::vector<core::Message> messages);
  // The core ended this connection's hold on the device (a newer connection took over, the
  // device was deleted, disabled or re-keyed): close, without the will.
  void Evict(std::string_view why);

  // Shutdown, with the shards stopped: lets go of the transport at once, without telling the
  // core (which goes with the hub) or writing anything.
  void Teardown();

  uint64_t id() const { return id_; }
  size_t shard() const { return shard_; }
  const std::string& device_id() const { return device_id_; }
  bool connected() const { return state_ == State::kConnected; }
  bool closed() const { return state_ == State::kClosed; }

 private:
  enum class State { kAwaitConnect, kAuthenticating, kConnected, kClosed };
  struct PendingPublish {
    uint16_t packet_id = 0;  // 0 for QoS 0 (nothing to acknowledge)
    bool durable = false;
  };

  void ProcessPackets();
  void Handle(Packet packet);
  void HandleConnect(Connect connect);
  void Refuse(ConnectReturnCode code, std::string_view why);
  void AcceptWill(Will will);
  // Appends the will (if any) to telemetry: the connection ended without DISCONNECT.
  void PublishWill();
  void OnAttached(Result<core::SessionView> result);
  void HandlePublish(Publish publish);
  // Answers a twin request (GET, reported PATCH) on $iothub/twin/res/ with an error status.
  void AnswerTwinRequest(std::string_view topic);
  void OnTelemetryDurable(uint64_t sequence, Status status);
  void AcknowledgeInOrder();
  void HandleSubscribe(Subscribe subscribe);
  void HandleUnsubscribe(Unsubscribe unsubscribe);
  void HandlePuback(uint16_t packet_id);
  // Applies SUBSCRIBE to the session: the return codes, one per subscription.
  std::vector<uint8_t> ApplySubscribe(const std::vector<Subscription>& subscriptions);
  // Runs `then` with true once the session's subscriptions are durable (at once for a clean
  // session), with false when they could not be stored.
  void SaveSession(std::function<void(bool)> then);
  // Grants the core what the in-flight window has room for.
  void Pump();
  // Sends a locked C2D message (DUP when sent before) or keeps it waiting while its packet id is
  // in use by an earlier delivery.
  void SendC2d(core::Message message, bool dup);
  // Frees the places of deliveries whose lock ran out; sends waiting ones whose id is free.
  void DropExpiredDeliveries(Timestamp now);
  // A settlement of a locked message, through the hub (its answer is only logged).
  // kRelease: a delivery that never reached the device goes back without counting.
  enum class Settle { kComplete, kReject, kAbandon, kRelease };
  void SettleC2d(std::string lock_token, Settle how);
  // Closes the connection: logs `why` (info for client faults, debug for ordinary ends), detaches
  // the session. Idempotent.
  void Shut(std::string_view why, bool client_fault);
  void Write(const Packet& packet);

  Endpoint& endpoint_;
  size_t shard_;
  std::shared_ptr<ConnectionOutput> output_;
  std::string remote_;
  uint64_t id_;
  State state_ = State::kAwaitConnect;
  Decoder decoder_;
  bool reading_paused_ = false;

  Timestamp connect_deadline_;
  Timestamp last_heard_;
  Duration keep_alive_limit_{0};  // 1.5 x keep-alive; 0: none
  Timestamp token_expiry_;
  Timestamp last_touched_;  // when telemetry last moved the device's lastActivityTime

  std::string device_id_;
  core::auth::Principal principal_;
  std::string auth_method_;
  std::string generation_id_;
  std::optional<core::Message> will_;

  // The device's session while connected: its link as the core knows it, its subscriptions and
  // its C2D deliveries in flight.
  class Link;
  std::shared_ptr<Link> link_;
  bool persistent_ = false;  // clean session 0: the core keeps the session after the connection
  std::vector<SessionSubscription> subscriptions_;
  std::optional<uint8_t> devicebound_qos_;
  struct Delivery {
    uint16_t packet_id = 0;
    uint64_t sequence = 0;
    std::string lock_token;
    Timestamp lock_deadline;
    // Its lock ran out unacknowledged: it no longer counts against the window, and its packet id
    // waits for the message to come again (a redelivery, DUP) or for a later message to need it.
    bool expired = false;
  };
  std::vector<Delivery> inflight_;  // sent, not yet acknowledged, in sending order
  size_t expired_ = 0;              // of inflight_
  struct Waiting {
    core::Message message;
    bool dup = false;  // sent before (a session's resend)
  };
  std::vector<Waiting> waiting_;  // delivered; their packet id is still in flight
  uint64_t granted_ = 0;          // credit handed to the core, not yet used
  // StopC2d calls (UNSUBSCRIBE) not yet known to have taken effect: until then, what the core
  // delivers was granted before the unsubscription.
  uint32_t c2d_stops_ = 0;

  // PUBLISHes in arrival order, not yet acknowledged (a vector: at most
  // max_pending_telemetry, and an empty one costs nothing).
  std::vector<PendingPublish> pending_;
  uint64_t pending_base_ = 0;  // the sequence of pending_.front()
  uint64_t next_sequence_ = 0;
};

}  // namespace iothub::mqtt
