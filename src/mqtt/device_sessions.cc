#include "mqtt/device_sessions.h"

#include <algorithm>

#include "base/log.h"
#include "mqtt/topics.h"
#include "mqtt/traffic.h"

namespace iothub::mqtt {
namespace {

constexpr size_t kMaxTopicLength = 65535;  // a UTF-8 string's 16-bit length (MQTT 1.5.3)

}  // namespace

DeviceSessions::DeviceSessions(core::Hub& hub, size_t shard, const MqttOptions& options,
                               const Clock& clock)
    : hub_(hub), shard_(shard), options_(options), clock_(clock) {}

Attached DeviceSessions::Attach(const std::string& device_id, bool clean_session,
                                ConnectionRef connection) {
  auto [it, inserted] = sessions_.try_emplace(device_id);
  Session& session = it->second;
  bool present = !inserted && !clean_session && !session.clean;
  if (session.connection) {
    HUB_LOG_INFO("mqtt", "device '{}': a new connection replaces the open one", device_id);
    session.connection->evict("replaced by a newer connection of the device");
    session.connection.reset();
  }
  if (inserted || clean_session || session.clean) {
    // MQTT-3.1.2-6: a clean session starts empty; so does a persistent one following a clean one.
    AbandonAll(device_id, session);
    session = Session{};
    session.epoch = next_epoch_++;
  }
  session.clean = clean_session;
  session.connection = std::move(connection);
  hub_.registry().SetConnectionState(device_id, true);
  return {.session_present = present, .epoch = session.epoch};
}

void DeviceSessions::Resume(const std::string& device_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || !it->second.connection) return;
  Session& session = it->second;
  DropExpired(session);
  for (const Delivery& d : session.inflight) {
    std::string again = d.packet;
    again[0] = static_cast<char>(again[0] | 0x08);  // DUP (MQTT-3.3.1-1)
    session.connection->send(std::move(again));
  }
  Pump(device_id, session);
}

void DeviceSessions::Detach(const std::string& device_id, uint64_t connection_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  Session& session = it->second;
  if (!session.connection || session.connection->id != connection_id) return;
  session.connection.reset();
  hub_.registry().SetConnectionState(device_id, false);
  if (session.clean) {
    AbandonAll(device_id, session);
    sessions_.erase(it);
  }
  // A persistent session stays, even empty: its existence is session state (MQTT 3.1.2.4), which
  // the next CONNACK reports as Session Present. Like Mosquitto's default, it never expires.
}

std::vector<uint8_t> DeviceSessions::Subscribe(const std::string& device_id, uint64_t epoch,
                                               const std::vector<Subscription>& subscriptions) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || it->second.epoch != epoch) {
    return std::vector<uint8_t>(subscriptions.size(), kSubscribeFailure);  // nobody to answer
  }
  Session& session = it->second;
  std::vector<uint8_t> codes;
  codes.reserve(subscriptions.size());
  for (const Subscription& s : subscriptions) {
    FilterKind kind = ClassifyFilter(device_id, s.filter);
    if (kind == FilterKind::kRefused) {
      HUB_LOG_INFO("mqtt", "device '{}': subscription to '{}' refused: not one of its topics",
                   device_id, s.filter);
      codes.push_back(kSubscribeFailure);
      continue;
    }
    uint8_t granted = std::min<uint8_t>(s.qos, 1);
    auto held = std::find_if(session.subscriptions.begin(), session.subscriptions.end(),
                             [&](const auto& sub) { return sub.first == s.filter; });
    if (held != session.subscriptions.end()) {
      held->second = granted;  // MQTT-3.8.4-3: replaces the existing subscription
    } else if (session.subscriptions.size() >= options_.max_subscriptions) {
      HUB_LOG_INFO("mqtt", "device '{}': subscription to '{}' refused: {} subscriptions held",
                   device_id, s.filter, session.subscriptions.size());
      codes.push_back(kSubscribeFailure);
      continue;
    } else {
      session.subscriptions.emplace_back(s.filter, granted);
    }
    if (kind == FilterKind::kDevicebound) session.devicebound_qos = granted;
    codes.push_back(granted);
  }
  return codes;
}

void DeviceSessions::OnSubscribed(const std::string& device_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  DropExpired(it->second);
  Pump(device_id, it->second);
}

void DeviceSessions::Unsubscribe(const std::string& device_id, uint64_t epoch,
                                 const std::vector<std::string>& filters) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || it->second.epoch != epoch) return;
  Session& session = it->second;
  for (const std::string& filter : filters) {
    std::erase_if(session.subscriptions, [&](const auto& sub) { return sub.first == filter; });
    if (ClassifyFilter(device_id, filter) == FilterKind::kDevicebound) {
      session.devicebound_qos.reset();
    }
  }
}

void DeviceSessions::Puback(const std::string& device_id, uint64_t epoch, uint16_t packet_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || it->second.epoch != epoch) return;
  Session& session = it->second;
  auto d = std::find_if(session.inflight.begin(), session.inflight.end(),
                        [&](const Delivery& x) { return x.packet_id == packet_id; });
  if (d == session.inflight.end()) {
    HUB_LOG_DEBUG("mqtt", "device '{}': PUBACK {} matches no delivery", device_id, packet_id);
    return;
  }
  std::string lock_token = std::move(d->lock_token);
  session.inflight.erase(d);
  hub_.registry().TouchActivity(device_id);
  hub_.c2d(shard_).Complete(device_id, lock_token, [device_id](Status status) {
    if (!status.ok()) {
      // The lock ran out first: the queue delivers the message again.
      HUB_LOG_INFO("mqtt", "device '{}': completing a C2D message failed: {}", device_id,
                   status.ToString());
    }
  });
  Pump(device_id, session);
}

void DeviceSessions::Remove(const std::string& device_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  if (it->second.connection) it->second.connection->evict("the device was deleted");
  sessions_.erase(it);  // its queue, and with it every lock, is dropped by the hub
}

void DeviceSessions::OnAvailable(const std::string& device_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  DropExpired(it->second);
  Pump(device_id, it->second);
}

size_t DeviceSessions::inflight(const std::string& device_id) const {
  auto it = sessions_.find(device_id);
  return it == sessions_.end() ? 0 : it->second.inflight.size();
}

bool DeviceSessions::attached(const std::string& device_id) const {
  auto it = sessions_.find(device_id);
  return it != sessions_.end() && it->second.connection.has_value();
}

void DeviceSessions::Pump(const std::string& device_id, Session& session) {
  if (!session.connection || !session.devicebound_qos) return;
  uint8_t qos = *session.devicebound_qos;
  core::C2dQueues& queues = hub_.c2d(shard_);
  while (session.inflight.size() < options_.inflight_window) {
    // Taken before locking, so that it never lies after the queue's own lock deadline.
    Timestamp deadline = clock_.Now() + queues.limits().lock_timeout;
    std::vector<core::Message> messages =
        queues.ReceiveAndLockUpTo(device_id, options_.inflight_window - session.inflight.size());
    if (messages.empty()) return;
    for (core::Message& m : messages) {
      std::string topic = DeviceboundTopic(device_id, m);
      if (topic.size() > kMaxTopicLength) {
        // Percent-encoding can triple the properties; MQTT cannot carry such a topic. The
        // message cannot ever be delivered over MQTT: reject it (Rejected feedback).
        HUB_LOG_WARN("mqtt", "device '{}': C2D message {} rejected: its topic would be {} bytes",
                     device_id, m.sequence_number, topic.size());
        queues.Reject(device_id, m.lock_token, [](Status) {});
        continue;
      }
      uint16_t packet_id = qos == 0 ? 0 : NextPacketId(session);
      std::string packet;
      EncodePublish(false, qos, false, topic, packet_id, m.body, &packet);
      CountMessages(Traffic::kC2dOut);
      if (qos == 0) {
        session.connection->send(std::move(packet));
        queues.Complete(device_id, m.lock_token, [](Status) {});
        continue;
      }
      session.connection->send(packet);
      session.inflight.push_back({.packet_id = packet_id,
                                  .lock_token = std::move(m.lock_token),
                                  .lock_deadline = deadline,
                                  .packet = std::move(packet)});
    }
  }
}

uint16_t DeviceSessions::NextPacketId(Session& session) {
  while (true) {
    uint16_t id = session.next_packet_id++;
    if (session.next_packet_id == 0) session.next_packet_id = 1;
    bool used = std::any_of(session.inflight.begin(), session.inflight.end(),
                            [id](const Delivery& d) { return d.packet_id == id; });
    if (!used) return id;
  }
}

void DeviceSessions::AbandonAll(const std::string& device_id, Session& session) {
  for (Delivery& d : session.inflight) {
    hub_.c2d(shard_).Abandon(device_id, d.lock_token, [](Status) {});
  }
  session.inflight.clear();
}

void DeviceSessions::DropExpired(Session& session) {
  Timestamp now = clock_.Now();
  std::erase_if(session.inflight, [now](const Delivery& d) { return d.lock_deadline <= now; });
}

}  // namespace iothub::mqtt
