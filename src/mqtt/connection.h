#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "core/auth/authenticator.h"
#include "core/message.h"
#include "mqtt/device_sessions.h"
#include "mqtt/packets.h"
#include "net/stream_link.h"

namespace iothub::mqtt {

class Endpoint;

// Where a Connection's bytes go: a net::StreamLink in the daemon, a recorder in tests.
using ConnectionOutput = net::StreamOutput;

// One MQTT connection of a device, sans-I/O: bytes in (OnData), bytes out (ConnectionOutput),
// time in (OnTimer). It decodes packets, authenticates CONNECT (PROTOCOL.md, "MQTT 3.1.1
// (devices)"), appends telemetry to the hub's log and PUBACKs once durable (in order), and hands
// subscriptions, C2D acknowledgements and the device's attachment to the device's session on its
// shard (DeviceSessions), which sends C2D deliveries back through Deliver().
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
// Thread: the connection's shard, for every method (the Endpoint posts Deliver and Evict
// there). Held by shared_ptr: work it posts elsewhere keeps only a weak_ptr.
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

  // An encoded packet from the device's session (a C2D PUBLISH); dropped once closed.
  void Deliver(std::string packet);
  // The device's session evicted this connection (a newer one took over, the device was
  // deleted): close, without the will.
  void Evict(std::string_view why);

  // Shutdown, with the shards stopped: lets go of the transport at once, without telling the
  // device's session (which goes with the hub) or writing anything.
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
  void OnAttached(const Result<Attached>& result);
  void HandlePublish(Publish publish);
  // Answers a twin request (GET, reported PATCH) on $iothub/twin/res/ with an error status.
  void AnswerTwinRequest(std::string_view topic);
  void OnTelemetryDurable(uint64_t sequence, Status status);
  void AcknowledgeInOrder();
  void HandleSubscribe(Subscribe subscribe);
  void HandleUnsubscribe(Unsubscribe unsubscribe);
  void HandlePuback(uint16_t packet_id);
  // Closes the connection: logs `why` (info for client faults, debug for ordinary ends), detaches
  // the session. Idempotent.
  void Shut(std::string_view why, bool client_fault);
  void Write(const Packet& packet);
  // Runs `task` on the device's shard with its DeviceSessions.
  template <typename F>
  void OnDeviceShard(F task);

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
  size_t device_shard_ = 0;
  core::auth::Principal principal_;
  std::string auth_method_;
  std::string generation_id_;
  std::optional<core::Message> will_;

  uint64_t epoch_ = 0;  // the device session's (Attached)

  // PUBLISHes in arrival order, not yet acknowledged (a vector: at most
  // max_pending_telemetry, and an empty one costs nothing).
  std::vector<PendingPublish> pending_;
  uint64_t pending_base_ = 0;  // the sequence of pending_.front()
  uint64_t next_sequence_ = 0;
};

}  // namespace iothub::mqtt
