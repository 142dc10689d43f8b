#include "mqtt/connection.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "base/log.h"
#include "mqtt/endpoint.h"
#include "mqtt/topics.h"
#include "mqtt/traffic.h"

namespace iothub::mqtt {
namespace {

// The device part of an IoT Hub MQTT user name, "<host>/<deviceId>/?api-version=...": the second
// '/'-separated segment (the query after it is informational and parsed by nobody here).
std::string_view UserNameDevice(std::string_view user_name) {
  size_t first = user_name.find('/');
  if (first == std::string_view::npos) return {};
  std::string_view rest = user_name.substr(first + 1);
  return rest.substr(0, rest.find('/'));
}

constexpr size_t kMaxTopicLength = 65535;  // a UTF-8 string's 16-bit length (MQTT 1.5.3)

// The packet id of a C2D delivery: derived from the message's sequence number, so that a
// delivery sent again after a reconnect or a restart of the hub carries its first packet id
// (MQTT-4.4.0-1) without the hub storing it. Two messages in flight whose sequence numbers are
// 65535 apart would share it: the later one waits (Connection::SendC2d).
uint16_t PacketIdOf(uint64_t sequence) { return static_cast<uint16_t>(sequence % 0xFFFF + 1); }

}  // namespace

// The connection as core::Presence knows it. End and Deliver run on the device's shard and hand
// over to the connection's own shard.
class Connection::Link final : public core::DeviceLink {
 public:
  Link(std::weak_ptr<Connection> connection, core::Hub& hub, Executor& home, std::string device_id)
      : connection_(std::move(connection)),
        hub_(hub),
        home_(home),
        device_id_(std::move(device_id)) {}

  void End(core::LinkEnd, const std::string& reason) override {
    home_.Post([connection = connection_, reason] {
      if (auto c = connection.lock()) c->Evict(reason);
    });
  }

  void Deliver(std::vector<core::Message> messages) override {
    home_.Post([connection = connection_, hub = &hub_, home = &home_, device = device_id_,
                messages = std::move(messages)]() mutable {
      if (auto c = connection.lock()) return c->OnC2d(std::move(messages));
      for (core::Message& m : messages) {  // the connection is gone: back, uncounted
        hub->ReleaseC2d(device, std::move(m.lock_token), *home, [](Status) {});
      }
    });
  }

 private:
  const std::weak_ptr<Connection> connection_;
  core::Hub& hub_;
  Executor& home_;
  const std::string device_id_;
};

Connection::Connection(Endpoint& endpoint, size_t shard, std::shared_ptr<ConnectionOutput> output,
                       std::string remote, uint64_t id, Timestamp opened)
    : endpoint_(endpoint),
      shard_(shard),
      output_(std::move(output)),
      remote_(std::move(remote)),
      id_(id),
      decoder_(endpoint.options().max_packet_size),
      connect_deadline_(opened + endpoint.options().connect_timeout),
      last_heard_(opened) {}

Connection::~Connection() {
  if (state_ != State::kClosed) endpoint_.Forget(shard_, this);
}

void Connection::OnData(std::string_view bytes) {
  if (state_ == State::kClosed) return;
  last_heard_ = endpoint_.clock().Now();
  decoder_.Feed(bytes);
  ProcessPackets();
}

void Connection::ProcessPackets() {
  // While CONNECT is being checked, later packets wait in the decoder (a client may send them
  // before CONNACK).
  while (state_ == State::kAwaitConnect || state_ == State::kConnected) {
    Packet packet;
    std::string why;
    DecodeStatus status = decoder_.Next(&packet, &why);
    if (status == DecodeStatus::kIncomplete) break;
    if (status == DecodeStatus::kMalformed) {
      Shut("malformed packet: " + why, /*client_fault=*/true);
      return;
    }
    Handle(std::move(packet));
  }
  if (state_ != State::kClosed) decoder_.ShrinkIfIdle();
}

void Connection::Handle(Packet packet) {
  PacketType type = TypeOf(packet);
  if (state_ == State::kAwaitConnect) {
    if (type != PacketType::kConnect) {
      Shut("the first packet is not CONNECT", true);
      return;
    }
    HandleConnect(std::get<Connect>(std::move(packet)));
    return;
  }
  switch (type) {
    case PacketType::kPublish:
      HandlePublish(std::get<Publish>(std::move(packet)));
      return;
    case PacketType::kPuback:
      HandlePuback(std::get<PacketIdOnly>(packet).packet_id);
      return;
    case PacketType::kSubscribe:
      HandleSubscribe(std::get<Subscribe>(std::move(packet)));
      return;
    case PacketType::kUnsubscribe:
      HandleUnsubscribe(std::get<Unsubscribe>(std::move(packet)));
      return;
    case PacketType::kPingreq:
      Write(Empty{.type = PacketType::kPingresp});
      return;
    case PacketType::kDisconnect:
      will_.reset();  // MQTT-3.14.4-3: a DISCONNECT discards the will
      Shut("the client disconnected", false);
      return;
    case PacketType::kConnect:
      Shut("a second CONNECT", true);  // MQTT-3.1.0-2
      return;
    default:
      // PUBREC/PUBREL/PUBCOMP (no QoS 2 here) and server-to-client packets.
      Shut("unexpected packet type " + std::to_string(static_cast<int>(type)), true);
      return;
  }
}

void Connection::HandleConnect(Connect connect) {
  if (connect.protocol_level != 4) {
    Refuse(ConnectReturnCode::kUnacceptableProtocolVersion,
           "protocol level " + std::to_string(connect.protocol_level) + " (only 4, MQTT 3.1.1)");
    return;
  }
  if (connect.client_id.empty()) {
    Refuse(ConnectReturnCode::kIdentifierRejected, "empty client id (must be the device id)");
    return;
  }
  device_id_ = connect.client_id;
  if (!connect.user_name || !connect.password) {
    Refuse(ConnectReturnCode::kBadUserNameOrPassword, "no user name or password (SAS token)");
    return;
  }
  if (UserNameDevice(*connect.user_name) != connect.client_id) {
    Refuse(ConnectReturnCode::kNotAuthorized,
           "user name '" + *connect.user_name + "' does not name the client id's device");
    return;
  }
  const core::auth::Authenticator& auth = endpoint_.hub().authenticator();
  Result<core::auth::Principal> principal = auth.Authenticate(*connect.password);
  if (!principal) {
    Refuse(ConnectReturnCode::kNotAuthorized, principal.error().ToString());
    return;
  }
  Status allowed = auth.AuthorizeDeviceConnect(*principal, device_id_);
  if (!allowed.ok()) {
    Refuse(ConnectReturnCode::kNotAuthorized, allowed.ToString());
    return;
  }
  std::optional<std::string> generation = endpoint_.hub().registry().GenerationId(device_id_);
  if (!generation) {
    Refuse(ConnectReturnCode::kNotAuthorized, "device deleted meanwhile");
    return;
  }
  if (connect.will) AcceptWill(std::move(*connect.will));
  principal_ = std::move(*principal);
  auth_method_ = core::auth::AuthMethodJson(principal_);
  generation_id_ = std::move(*generation);
  token_expiry_ = principal_.expiry;
  uint16_t keep_alive = std::min(connect.keep_alive, endpoint_.options().max_keep_alive_seconds);
  keep_alive_limit_ = std::chrono::milliseconds(uint64_t{keep_alive} * 1500);
  state_ = State::kAuthenticating;
  // What the client sends meanwhile waits in the decoder; reading stops so that it stays small.
  output_->PauseReading();

  core::Hub& hub = endpoint_.hub();
  Executor& home = hub.shard_executor(shard_);
  link_ = std::make_shared<Link>(weak_from_this(), hub, home, device_id_);
  persistent_ = !connect.clean_session;
  std::weak_ptr<Connection> self = weak_from_this();
  hub.ConnectDevice(device_id_, principal_, link_,
                    persistent_ ? core::SessionMode::kPersistent : core::SessionMode::kClean, home,
                    [self](Result<core::SessionView> attached) {
                      if (auto c = self.lock()) c->OnAttached(std::move(attached));
                    });
}

void Connection::AcceptWill(Will will) {
  // IoT Hub forwards a will to telemetry, marked iothub-MessageType=Will, when the connection ends
  // without DISCONNECT; only a telemetry topic of the device's own may carry it.
  core::Message message;
  Status decoded = ClassifyPublish(device_id_, will.topic) == PublishKind::kTelemetry
                       ? DecodeEventsTopic(device_id_, will.topic, &message)
                       : InvalidArgument("not a telemetry topic of the device");
  if (!decoded.ok() || will.message.size() > endpoint_.options().max_payload) {
    HUB_LOG_INFO("mqtt", "{}: will of '{}' on '{}' ignored: {}", remote_, device_id_, will.topic,
                 decoded.ok() ? "too large" : decoded.ToString());
    return;
  }
  message.body = std::move(will.message);
  message.SetProperty("iothub-MessageType", "Will");
  will_ = std::move(message);
}

void Connection::PublishWill() {
  if (!will_) return;
  core::Message will = std::move(*will_);
  will_.reset();
  endpoint_.hub().telemetry().Append(
      device_id_, std::move(will),
      core::AppendContext{.auth_method = auth_method_, .generation_id = generation_id_},
      [device = device_id_](Result<core::Position> appended) {
        if (appended) {
          CountMessages(Traffic::kTelemetryIn);
        } else {
          HUB_LOG_WARN("mqtt", "device '{}': will not stored: {}", device,
                       appended.error().ToString());
        }
      });
}

void Connection::Refuse(ConnectReturnCode code, std::string_view why) {
  HUB_LOG_INFO("mqtt", "{}: CONNECT of '{}' refused (CONNACK {}): {}", remote_, device_id_,
               static_cast<int>(code), why);
  Write(Connack{.session_present = false, .return_code = code});
  state_ = State::kClosed;  // never attached: nothing to detach
  endpoint_.Forget(shard_, this);
  output_->Close();
}

void Connection::OnAttached(Result<core::SessionView> result) {
  if (state_ != State::kAuthenticating) {
    // Closed meanwhile (Shut detached it); what the session had in flight stays locked for the
    // next connection, or runs out.
    return;
  }
  if (!result) {
    // Deleted, disabled or re-keyed between the check here and the one on the device's shard.
    return Refuse(ConnectReturnCode::kNotAuthorized, result.error().ToString());
  }
  core::SessionView& session = *result;
  bool session_present = session.present;
  if (session_present && !session.state.empty()) {  // empty: it never subscribed
    auto subscriptions =
        DecodeSessionState(device_id_, session.state, endpoint_.options().max_subscriptions);
    if (subscriptions) {
      subscriptions_ = std::move(*subscriptions);
    } else {
      HUB_LOG_WARN("mqtt", "device '{}': stored session is malformed: starting a new one",
                   device_id_);
      session_present = false;
    }
  }
  for (const auto& [filter, qos] : subscriptions_) {
    if (ClassifyFilter(device_id_, filter) == FilterKind::kDevicebound) devicebound_qos_ = qos;
  }
  state_ = State::kConnected;
  output_->ResumeReading();
  Write(Connack{.session_present = session_present, .return_code = ConnectReturnCode::kAccepted});
  HUB_LOG_DEBUG("mqtt", "{}: device '{}' connected (session present: {}, {} in flight)", remote_,
                device_id_, session_present, session.in_flight.size());
  // What the session had sent and not seen acknowledged goes again, with DUP (MQTT-4.4.0-1).
  for (core::Message& m : session.in_flight) {
    if (session_present && devicebound_qos_ == 1) {
      SendC2d(std::move(m), /*dup=*/true);
    } else {
      SettleC2d(std::move(m.lock_token), Settle::kAbandon);  // cannot go as it went: back
    }
  }
  Pump();
  ProcessPackets();  // what the client sent after CONNECT
}

void Connection::HandlePublish(Publish publish) {
  if (publish.qos == 2) {
    Shut("QoS 2 PUBLISH (IoT Hub supports QoS 0 and 1)", true);
    return;
  }
  PublishKind kind = ClassifyPublish(device_id_, publish.topic);
  switch (kind) {
    case PublishKind::kRefused:
      Shut("PUBLISH to '" + publish.topic + "' (not one of the device's topics)", true);
      return;
    case PublishKind::kTwinRequest:
    case PublishKind::kMethodResponse:
      if (publish.qos == 1) {
        // Acknowledged in turn behind telemetry still being stored (MQTT 4.6: PUBACKs in order).
        pending_.push_back({.packet_id = publish.packet_id, .durable = true});
        ++next_sequence_;
        AcknowledgeInOrder();
      }
      if (kind == PublishKind::kTwinRequest) {
        AnswerTwinRequest(publish.topic);
      } else {
        // No method request is ever sent yet, so no response is awaited.
        HUB_LOG_DEBUG("mqtt", "device '{}': method response on '{}' dropped (none awaited)",
                      device_id_, publish.topic);
      }
      return;
    case PublishKind::kTelemetry:
      break;
  }
  if (publish.payload.size() > endpoint_.options().max_payload) {
    Shut("telemetry payload of " + std::to_string(publish.payload.size()) + " bytes exceeds " +
             std::to_string(endpoint_.options().max_payload),
         true);
    return;
  }
  core::Message message;
  Status decoded = DecodeEventsTopic(device_id_, publish.topic, &message);
  if (!decoded.ok()) {
    Shut("telemetry topic '" + publish.topic + "': " + decoded.ToString(), true);
    return;
  }
  if (publish.retain) message.SetProperty("mqtt-retain", "true");  // retained messages: not kept
  message.body = std::move(publish.payload);

  uint64_t sequence = next_sequence_++;
  pending_.push_back({.packet_id = publish.qos == 1 ? publish.packet_id : uint16_t{0}});
  if (pending_.size() >= endpoint_.options().max_pending_telemetry && !reading_paused_) {
    reading_paused_ = true;
    output_->PauseReading();
  }
  // lastActivityTime to the second: the registry's lock is shared by every shard, so a busy
  // device touches it at most once a second rather than with every message.
  Timestamp now = endpoint_.clock().Now();
  if (now - last_touched_ >= std::chrono::seconds(1)) {
    last_touched_ = now;
    endpoint_.hub().registry().TouchActivity(device_id_);
  }
  std::weak_ptr<Connection> self = weak_from_this();
  Executor* home = &endpoint_.hub().shard_executor(shard_);
  endpoint_.hub().telemetry().Append(
      device_id_, std::move(message),
      core::AppendContext{.auth_method = auth_method_, .generation_id = generation_id_},
      [self, home, sequence](Result<core::Position> appended) {
        Status status = appended ? Status::Ok() : appended.error();
        home->Post([self, sequence, status = std::move(status)] {
          if (auto c = self.lock()) c->OnTelemetryDurable(sequence, status);
        });
      });
}

void Connection::AnswerTwinRequest(std::string_view topic) {
  // Twins are not served yet. An unanswered request makes the SDKs wait forever (PROTOCOL.md), so
  // it is answered with an error: the Python and C SDKs read the status, the Node SDK the body's
  // errorCode.
  constexpr int kNotImplemented = 501;
  std::string rid = TwinRequestId(topic);
  HUB_LOG_INFO("mqtt", "device '{}': twin request '{}' answered {}: twins are not served yet",
               device_id_, topic, kNotImplemented);
  if (rid.empty()) return;  // nobody to answer
  Write(Publish{.topic = TwinResponseTopic(kNotImplemented, rid),
                .payload = R"({"errorCode":501000,"message":"device twins are not served by this )"
                           R"(hub yet"})"});
}

void Connection::OnTelemetryDurable(uint64_t sequence, Status status) {
  if (state_ == State::kClosed) return;
  if (!status.ok()) {
    // MQTT 3.1.1 has no negative acknowledgement: closing tells the client it was not taken.
    Shut("telemetry not stored: " + status.ToString(), false);
    return;
  }
  CountMessages(Traffic::kTelemetryIn);
  if (sequence < pending_base_ || sequence - pending_base_ >= pending_.size()) return;
  pending_[sequence - pending_base_].durable = true;
  AcknowledgeInOrder();
}

void Connection::AcknowledgeInOrder() {
  // PUBACKs go out in the order the PUBLISHes came (MQTT 4.6).
  size_t done = 0;
  while (done < pending_.size() && pending_[done].durable) {
    if (pending_[done].packet_id != 0) {
      Write(PacketIdOnly{.type = PacketType::kPuback, .packet_id = pending_[done].packet_id});
    }
    ++done;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
  pending_base_ += done;
  if (reading_paused_ && pending_.size() <= endpoint_.options().max_pending_telemetry / 2) {
    reading_paused_ = false;
    output_->ResumeReading();
  }
}

std::vector<uint8_t> Connection::ApplySubscribe(const std::vector<Subscription>& subscriptions) {
  std::vector<uint8_t> codes;
  codes.reserve(subscriptions.size());
  for (const Subscription& sub : subscriptions) {
    FilterKind kind = ClassifyFilter(device_id_, sub.filter);
    if (kind == FilterKind::kRefused) {
      HUB_LOG_INFO("mqtt", "device '{}': subscription to '{}' refused: not one of its topics",
                   device_id_, sub.filter);
      codes.push_back(kSubscribeFailure);
      continue;
    }
    uint8_t granted = std::min<uint8_t>(sub.qos, 1);
    auto held = std::find_if(subscriptions_.begin(), subscriptions_.end(),
                             [&](const SessionSubscription& s) { return s.first == sub.filter; });
    if (held != subscriptions_.end()) {
      held->second = granted;  // MQTT-3.8.4-3: replaces the existing subscription
    } else if (subscriptions_.size() >= endpoint_.options().max_subscriptions) {
      HUB_LOG_INFO("mqtt", "device '{}': subscription to '{}' refused: {} subscriptions held",
                   device_id_, sub.filter, subscriptions_.size());
      codes.push_back(kSubscribeFailure);
      continue;
    } else {
      subscriptions_.emplace_back(sub.filter, granted);
    }
    if (kind == FilterKind::kDevicebound) devicebound_qos_ = granted;
    codes.push_back(granted);
  }
  return codes;
}

void Connection::SaveSession(std::function<void(bool)> then) {
  if (!persistent_) return then(true);  // a clean session ends with the connection: nothing kept
  std::weak_ptr<Connection> self = weak_from_this();
  endpoint_.hub().SaveSession(device_id_, link_, EncodeSessionState(subscriptions_),
                              endpoint_.hub().shard_executor(shard_),
                              [self, then = std::move(then)](Status status) {
                                auto c = self.lock();
                                if (!c || !c->connected()) return;
                                if (!status.ok()) {
                                  HUB_LOG_WARN("mqtt", "device '{}': session not stored: {}",
                                               c->device_id_, status.ToString());
                                }
                                then(status.ok());
                              });
}

void Connection::HandleSubscribe(Subscribe subscribe) {
  std::vector<SessionSubscription> before = subscriptions_;
  std::optional<uint8_t> devicebound_before = devicebound_qos_;
  std::vector<uint8_t> codes = ApplySubscribe(subscribe.subscriptions);
  // A persistent session's subscriptions are durable before SUBACK (they survive a restart); the
  // deliveries a devicebound subscription enables follow the SUBACK. When they cannot be stored,
  // the SUBSCRIBE is refused (0x80 for each) and the session stays as it was.
  SaveSession([this, before = std::move(before), devicebound_before,
               ack = Suback{.packet_id = subscribe.packet_id, .return_codes = std::move(codes)}](
                  bool saved) mutable {
    if (!saved) {
      subscriptions_ = std::move(before);
      devicebound_qos_ = devicebound_before;
      std::fill(ack.return_codes.begin(), ack.return_codes.end(), kSubscribeFailure);
    }
    Write(ack);
    Pump();
  });
}

void Connection::HandleUnsubscribe(Unsubscribe unsubscribe) {
  for (const std::string& filter : unsubscribe.filters) {
    std::erase_if(subscriptions_, [&](const SessionSubscription& s) { return s.first == filter; });
    if (ClassifyFilter(device_id_, filter) == FilterKind::kDevicebound && devicebound_qos_) {
      devicebound_qos_.reset();
      granted_ = 0;
      // Nothing more goes out on the topic (MQTT-3.10.4-2): what waits goes back to the queue.
      for (Waiting& w : waiting_) {
        SettleC2d(std::move(w.message.lock_token), w.dup ? Settle::kAbandon : Settle::kRelease);
      }
      waiting_.clear();
      ++c2d_stops_;
      std::weak_ptr<Connection> self = weak_from_this();
      endpoint_.hub().StopC2d(device_id_, link_, endpoint_.hub().shard_executor(shard_), [self] {
        if (auto c = self.lock(); c && c->c2d_stops_ > 0) --c->c2d_stops_;
      });
    }
  }
  SaveSession([this, packet_id = unsubscribe.packet_id](bool saved) {
    // UNSUBACK has no failure code: a session that could not be stored ends the connection
    // (the stored session keeps the subscription, as the client finds on reconnecting).
    if (!saved) return Shut("its session could not be stored", false);
    Write(PacketIdOnly{.type = PacketType::kUnsuback, .packet_id = packet_id});
  });
}

void Connection::HandlePuback(uint16_t packet_id) {
  auto d = std::find_if(inflight_.begin(), inflight_.end(),
                        [&](const Delivery& x) { return x.packet_id == packet_id; });
  if (d == inflight_.end()) {
    // The lock ran out first (the queue delivers the message again), or the PUBACK came twice.
    HUB_LOG_DEBUG("mqtt", "device '{}': PUBACK {} matches no delivery", device_id_, packet_id);
    return;
  }
  std::string lock_token = std::move(d->lock_token);
  if (d->expired) --expired_;  // late: its lock may still be there until the queue's timer runs
  inflight_.erase(d);
  endpoint_.hub().registry().TouchActivity(device_id_);
  SettleC2d(std::move(lock_token), Settle::kComplete);
  // A delivery waiting for this packet id goes now.
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(), [&](const Waiting& w) {
    return PacketIdOf(w.message.sequence_number) == packet_id;
  });
  if (waiting != waiting_.end()) {
    Waiting w = std::move(*waiting);
    waiting_.erase(waiting);
    SendC2d(std::move(w.message), w.dup);
  }
  Pump();
}

void Connection::Pump() {
  if (state_ != State::kConnected || !devicebound_qos_) return;
  size_t taken = inflight_.size() - expired_ + waiting_.size() + granted_;
  size_t window = endpoint_.options().inflight_window;
  if (taken >= window) return;
  auto more = static_cast<uint32_t>(window - taken);
  granted_ += more;
  // The core delivers what the device's queue has, now or as messages come (OnC2d).
  endpoint_.hub().GrantC2d(device_id_, link_, more);
}

void Connection::OnC2d(std::vector<core::Message> messages) {
  if (state_ != State::kConnected || !devicebound_qos_ || c2d_stops_ > 0) {
    // Closed, or granted before an UNSUBSCRIBE: back to the queue.
    for (core::Message& m : messages) SettleC2d(std::move(m.lock_token), Settle::kRelease);
    return;
  }
  granted_ -= std::min<uint64_t>(granted_, messages.size());
  for (core::Message& m : messages) SendC2d(std::move(m), false);
  Pump();  // what was rejected or sent at QoS 0 frees its place at once
}

void Connection::SendC2d(core::Message m, bool dup) {
  if (!devicebound_qos_) {
    return SettleC2d(std::move(m.lock_token), dup ? Settle::kAbandon : Settle::kRelease);
  }
  std::string topic = DeviceboundTopic(device_id_, m);
  if (topic.size() > kMaxTopicLength) {
    // Percent-encoding can triple the properties; MQTT cannot carry such a topic. The message
    // cannot ever be delivered over MQTT: reject it (Rejected feedback).
    HUB_LOG_WARN("mqtt", "device '{}': C2D message {} rejected: its topic would be {} bytes",
                 device_id_, m.sequence_number, topic.size());
    return SettleC2d(std::move(m.lock_token), Settle::kReject);
  }
  uint8_t qos = *devicebound_qos_;
  uint16_t packet_id = qos == 0 ? 0 : PacketIdOf(m.sequence_number);
  if (qos == 1) {
    auto used = std::find_if(inflight_.begin(), inflight_.end(),
                             [&](const Delivery& d) { return d.packet_id == packet_id; });
    if (used != inflight_.end() && used->sequence == m.sequence_number) {
      // The same message under a new lock (the old one ran out): sent again, as a redelivery.
      if (used->expired) --expired_;
      inflight_.erase(used);
      dup = true;
    } else if (used != inflight_.end() && used->expired) {
      // Another message 65535 sequence numbers on: the unacknowledged id is taken over.
      --expired_;
      inflight_.erase(used);
    } else if (used != inflight_.end()) {
      // Sent once the earlier delivery is acknowledged, or its lock runs out.
      waiting_.push_back({.message = std::move(m), .dup = dup});
      return;
    }
  }
  std::string packet;
  EncodePublish(dup, qos, false, topic, packet_id, m.body, &packet);
  CountMessages(Traffic::kC2dOut);
  output_->Write(packet);
  if (qos == 0) return SettleC2d(std::move(m.lock_token), Settle::kComplete);
  inflight_.push_back({.packet_id = packet_id,
                       .sequence = m.sequence_number,
                       .lock_token = std::move(m.lock_token),
                       .lock_deadline = m.lock_deadline.value_or(endpoint_.clock().Now())});
}

void Connection::DropExpiredDeliveries(Timestamp now) {
  // The queue hands a message whose lock ran out to the device again, as a new delivery: its
  // place in the window is free at once; its packet id stays reserved for it (MQTT 2.3.1: reused
  // only after the PUBACK), but only for the window's size of such deliveries, oldest first.
  bool freed = false;
  for (Delivery& d : inflight_) {
    if (!d.expired && d.lock_deadline <= now) {
      d.expired = true;
      ++expired_;
      freed = true;
    }
  }
  for (auto it = inflight_.begin();
       it != inflight_.end() && expired_ > endpoint_.options().inflight_window;) {
    if (it->expired) {
      it = inflight_.erase(it);
      --expired_;
    } else {
      ++it;
    }
  }
  size_t waiting_before = waiting_.size();
  std::erase_if(waiting_,
                [now](const Waiting& w) { return w.message.lock_deadline.value_or(now) <= now; });
  if (!freed && waiting_.size() == waiting_before) return;
  std::vector<Waiting> waiting = std::move(waiting_);
  waiting_.clear();
  for (Waiting& w : waiting) SendC2d(std::move(w.message), w.dup);
  Pump();
}

void Connection::SettleC2d(std::string lock_token, Settle how) {
  core::Hub& hub = endpoint_.hub();
  Executor& home = hub.shard_executor(shard_);
  auto log = [device = device_id_](Status status) {
    if (!status.ok()) {
      // The lock ran out first: the queue delivers the message again.
      HUB_LOG_INFO("mqtt", "device '{}': settling a C2D message failed: {}", device,
                   status.ToString());
    }
  };
  switch (how) {
    case Settle::kComplete:
      return hub.CompleteC2d(device_id_, std::move(lock_token), home, log);
    case Settle::kReject:
      return hub.RejectC2d(device_id_, std::move(lock_token), home, log);
    case Settle::kAbandon:
      return hub.AbandonC2d(device_id_, std::move(lock_token), home, [](Status) {});
    case Settle::kRelease:
      return hub.ReleaseC2d(device_id_, std::move(lock_token), home, [](Status) {});
  }
}

void Connection::Evict(std::string_view why) {
  will_.reset();  // a newer connection serves the device, or the device is gone
  Shut(why, false);
}

void Connection::OnTimer(Timestamp now) {
  switch (state_) {
    case State::kAwaitConnect:
    case State::kAuthenticating:
      if (now >= connect_deadline_) Shut("no CONNECT within the connect timeout", true);
      return;
    case State::kConnected:
      // Paused (telemetry not yet stored), the client's packets wait unread in the OS: its
      // silence is ours.
      if (reading_paused_) last_heard_ = now;
      if (keep_alive_limit_.count() > 0 && now - last_heard_ > keep_alive_limit_) {
        Shut("silent for longer than 1.5 x its keep-alive", true);
      } else if (now >= token_expiry_) {
        Shut("its SAS token expired", false);
      } else {
        DropExpiredDeliveries(now);
      }
      return;
    case State::kClosed:
      return;
  }
}

void Connection::OnClosed() {
  if (state_ == State::kClosed) {
    output_.reset();
    return;
  }
  Shut("the connection closed", false);
  output_.reset();
}

void Connection::Shut(std::string_view why, bool client_fault) {
  if (state_ == State::kClosed) return;
  std::shared_ptr<Connection> keep = shared_from_this();  // the output may drop its last owner
  State state_before = state_;
  bool attached = state_ == State::kAuthenticating || state_ == State::kConnected;
  state_ = State::kClosed;
  endpoint_.Forget(shard_, this);
  if (client_fault) {
    HUB_LOG_INFO("mqtt", "{}: closing the connection of '{}': {}", remote_, device_id_, why);
  } else {
    HUB_LOG_DEBUG("mqtt", "{}: closing the connection of '{}': {}", remote_, device_id_, why);
  }
  if (state_before == State::kConnected) PublishWill();
  if (attached) {
    // Posted after the attach (the same two executors, in order), so it always finds it; ignored
    // when the core ended this link already.
    endpoint_.hub().DisconnectDevice(device_id_, link_);
    if (!persistent_) {
      // A clean session ends with its connection: what it has not acknowledged goes back at once.
      for (Delivery& d : inflight_) SettleC2d(std::move(d.lock_token), Settle::kAbandon);
      for (Waiting& w : waiting_) {
        SettleC2d(std::move(w.message.lock_token), w.dup ? Settle::kAbandon : Settle::kRelease);
      }
    }
    inflight_.clear();
    expired_ = 0;
    waiting_.clear();
  }
  if (output_) output_->Close();
}

void Connection::Teardown() {
  std::shared_ptr<Connection> keep = shared_from_this();  // the output may hold the last owner
  if (state_ != State::kClosed) {
    state_ = State::kClosed;
    endpoint_.Forget(shard_, this);
  }
  if (std::shared_ptr<ConnectionOutput> output = std::move(output_)) output->Release();
}

void Connection::Write(const Packet& packet) {
  if (!output_) return;
  std::string bytes;
  EncodePacket(packet, &bytes);
  output_->Write(bytes);
}

}  // namespace iothub::mqtt
