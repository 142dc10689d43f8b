#include "mqtt/connection.h"

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

}  // namespace

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

template <typename F>
void Connection::OnDeviceShard(F task) {
  core::Hub& hub = endpoint_.hub();
  Endpoint* endpoint = &endpoint_;
  size_t shard = device_shard_;
  hub.shard_executor(shard).Post(
      [endpoint, shard, task = std::move(task)]() mutable { task(endpoint->sessions(shard)); });
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
  device_shard_ = endpoint_.hub().ShardOf(device_id_);
  state_ = State::kAuthenticating;
  // What the client sends meanwhile waits in the decoder; reading stops so that it stays small.
  output_->PauseReading();

  std::weak_ptr<Connection> self = weak_from_this();
  Executor* home = &endpoint_.hub().shard_executor(shard_);
  ConnectionRef ref{.id = id_,
                    .send =
                        [self, home](std::string packet) {
                          home->Post([self, packet = std::move(packet)]() mutable {
                            if (auto c = self.lock()) c->Deliver(std::move(packet));
                          });
                        },
                    .evict =
                        [self, home](std::string why) {
                          home->Post([self, why = std::move(why)] {
                            if (auto c = self.lock()) c->Evict(why);
                          });
                        }};
  OnDeviceShard([device = device_id_, clean = connect.clean_session, ref = std::move(ref),
                 principal = principal_, self, home](DeviceSessions& sessions) mutable {
    Result<Attached> attached = sessions.Attach(device, clean, std::move(ref), principal);
    home->Post([self, attached] {
      if (auto c = self.lock()) c->OnAttached(attached);
    });
    if (attached) sessions.Resume(device);  // deliveries are posted after the CONNACK
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

void Connection::OnAttached(const Result<Attached>& result) {
  if (state_ != State::kAuthenticating) return;  // closed meanwhile (Shut detached it)
  if (!result) {
    // Deleted, disabled or re-keyed between the check here and the one on the device's shard.
    return Refuse(ConnectReturnCode::kNotAuthorized, result.error().ToString());
  }
  const Attached& attached = *result;
  state_ = State::kConnected;
  epoch_ = attached.epoch;
  bool session_present = attached.session_present;
  output_->ResumeReading();
  Write(Connack{.session_present = session_present, .return_code = ConnectReturnCode::kAccepted});
  HUB_LOG_DEBUG("mqtt", "{}: device '{}' connected (session present: {})", remote_, device_id_,
                session_present);
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

void Connection::HandleSubscribe(Subscribe subscribe) {
  std::weak_ptr<Connection> self = weak_from_this();
  Executor* home = &endpoint_.hub().shard_executor(shard_);
  OnDeviceShard([device = device_id_, epoch = epoch_, subscribe = std::move(subscribe), self,
                 home](DeviceSessions& sessions) {
    std::vector<uint8_t> codes = sessions.Subscribe(device, epoch, subscribe.subscriptions);
    // A persistent session's subscriptions are durable before SUBACK (they survive a restart).
    sessions.WhenDurable(
        device, [&sessions, device, self, home,
                 ack = Suback{.packet_id = subscribe.packet_id, .return_codes = std::move(codes)}] {
          home->Post([self, ack] {
            auto c = self.lock();
            if (c && c->connected()) c->Write(ack);
          });
          sessions.OnSubscribed(device);
        });
  });
}

void Connection::HandleUnsubscribe(Unsubscribe unsubscribe) {
  std::weak_ptr<Connection> self = weak_from_this();
  Executor* home = &endpoint_.hub().shard_executor(shard_);
  OnDeviceShard([device = device_id_, epoch = epoch_, unsubscribe = std::move(unsubscribe), self,
                 home](DeviceSessions& sessions) {
    sessions.Unsubscribe(device, epoch, unsubscribe.filters);
    sessions.WhenDurable(device, [self, home, packet_id = unsubscribe.packet_id] {
      home->Post([self, packet_id] {
        auto c = self.lock();
        if (c && c->connected()) {
          c->Write(PacketIdOnly{.type = PacketType::kUnsuback, .packet_id = packet_id});
        }
      });
    });
  });
}

void Connection::HandlePuback(uint16_t packet_id) {
  OnDeviceShard([device = device_id_, epoch = epoch_, packet_id](DeviceSessions& sessions) {
    sessions.Puback(device, epoch, packet_id);
  });
}

void Connection::Deliver(std::string packet) {
  if (state_ != State::kConnected) return;  // the session sends it again on the next connection
  output_->Write(packet);
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
    // Posted after the Attach (the same two executors, in order), so it always finds it.
    OnDeviceShard(
        [device = device_id_, id = id_](DeviceSessions& sessions) { sessions.Detach(device, id); });
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
