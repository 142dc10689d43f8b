#include "mqtt/device_sessions.h"

#include <algorithm>

#include "base/coding.h"
#include "base/log.h"
#include "mqtt/topics.h"
#include "mqtt/traffic.h"

namespace iothub::mqtt {
namespace {

constexpr size_t kMaxTopicLength = 65535;  // a UTF-8 string's 16-bit length (MQTT 1.5.3)

}  // namespace

// A connection of the device as core::Presence knows it. End and Deliver run on the device's
// shard, where the sessions live. End: the session stops using the connection at once, then the
// connection closes on its own shard. Deliver: posted to the shard again, since the core may be
// called from within the sessions when it delivers (Grant).
class DeviceSessions::Link final : public core::DeviceLink {
 public:
  Link(DeviceSessions& sessions, std::string device_id, uint64_t connection_id,
       std::function<void(std::string)> evict)
      : sessions_(sessions),
        alive_(sessions.alive_),
        device_id_(std::move(device_id)),
        connection_id_(connection_id),
        evict_(std::move(evict)) {}
  void End(core::LinkEnd, const std::string& reason) override {
    sessions_.Ended(device_id_, connection_id_);
    evict_(reason);
  }
  void Deliver(std::vector<core::Message> messages) override {
    sessions_.hub_.shard_executor(sessions_.shard_)
        .Post([sessions = &sessions_, alive = alive_, device = device_id_, id = connection_id_,
               messages = std::move(messages)]() mutable {
          if (!alive.expired()) sessions->OnDelivered(device, id, messages);
        });
  }

 private:
  DeviceSessions& sessions_;
  std::weak_ptr<char> alive_;
  const std::string device_id_;
  const uint64_t connection_id_;
  std::function<void(std::string)> evict_;
};

DeviceSessions::DeviceSessions(core::Hub& hub, size_t shard, const MqttOptions& options,
                               const Clock& clock)
    : hub_(hub), shard_(shard), options_(options), clock_(clock) {}

Result<Attached> DeviceSessions::Attach(const std::string& device_id, bool clean_session,
                                        ConnectionRef connection,
                                        const core::auth::Principal& principal) {
  // First, since ending the older connection may end its clean session (Ended).
  auto link = std::make_shared<Link>(*this, device_id, connection.id, connection.evict);
  HUB_RETURN_IF_ERROR(hub_.presence(shard_).Attach(device_id, principal, link));
  auto [it, inserted] = sessions_.try_emplace(device_id);
  Session& session = it->second;
  bool stored_before = !inserted && !session.clean;  // every stored session is in memory
  bool present = stored_before && !clean_session;
  std::string generation = hub_.registry().GenerationId(device_id).value_or("");
  if (inserted || clean_session || session.clean || session.generation_id != generation) {
    // MQTT-3.1.2-6: a clean session starts empty; so does a persistent one following a clean one.
    AbandonAll(device_id, session);
    session = Session{};
    session.epoch = next_epoch_++;
    present = false;
  }
  session.clean = clean_session;
  session.generation_id = std::move(generation);
  session.connection = std::move(connection);
  session.link = std::move(link);
  session.granted = 0;
  if (clean_session) {
    if (stored_before) hub_.sessions().Remove(device_id, nullptr);  // a persistent one ends
  } else {
    Persist(device_id, session);  // its existence is session state (Session Present)
  }
  return Attached{.session_present = present, .epoch = session.epoch};
}

void DeviceSessions::Resume(const std::string& device_id) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || !it->second.connection) return;
  Session& session = it->second;
  RebuildRestored(device_id, session);
  if (DropExpired(session)) Persist(device_id, session);
  for (const Delivery& d : session.inflight) {
    std::string again = d.packet;
    again[0] = static_cast<char>(again[0] | 0x08);  // DUP (MQTT-3.3.1-1)
    session.connection->send(std::move(again));
  }
  Pump(device_id, session);
}

void DeviceSessions::Detach(const std::string& device_id, uint64_t connection_id) {
  DropConnection(device_id, connection_id, /*tell_presence=*/true);
}

void DeviceSessions::Ended(const std::string& device_id, uint64_t connection_id) {
  DropConnection(device_id, connection_id, /*tell_presence=*/false);
}

void DeviceSessions::DropConnection(const std::string& device_id, uint64_t connection_id,
                                    bool tell_presence) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  Session& session = it->second;
  if (!session.connection || session.connection->id != connection_id) return;
  session.connection.reset();
  session.granted = 0;  // the core's credit went with the link
  std::shared_ptr<Link> link = std::move(session.link);
  if (tell_presence) hub_.presence(shard_).Detach(device_id, link.get());
  if (session.clean) {
    AbandonAll(device_id, session);
    sessions_.erase(it);
    return;
  }
  // A persistent session stays, even empty: its existence is session state (MQTT 3.1.2.4), which
  // the next CONNACK reports as Session Present. It expires after options.session_expiry away.
  session.last_seen = clock_.Now();
  Persist(device_id, session);
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
  if (DropExpired(it->second)) Persist(device_id, it->second);
  Pump(device_id, it->second);
}

void DeviceSessions::WhenDurable(const std::string& device_id, std::function<void()> then) {
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || it->second.clean) return then();
  Persist(device_id, it->second, std::move(then));
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
      if (session.link) hub_.presence(shard_).StopC2d(device_id, session.link.get());
      session.granted = 0;
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
  Persist(device_id, session);
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
  // Its connection was ended by the revocation that preceded the delete, unless it attached after.
  if (it->second.connection) it->second.connection->evict("the device was deleted");
  if (it->second.link) hub_.presence(shard_).Detach(device_id, it->second.link.get());
  sessions_.erase(it);  // its queue, and with it every lock, is dropped by the hub
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
  if (!session.connection || !session.devicebound_qos || !session.link) return;
  size_t taken = session.inflight.size() + session.granted;
  if (taken >= options_.inflight_window) return;
  auto more = static_cast<uint32_t>(options_.inflight_window - taken);
  session.granted += more;
  // The core delivers what its queue has through the link (OnDelivered), now or as messages come.
  hub_.presence(shard_).Grant(device_id, session.link.get(), more);
}

void DeviceSessions::OnDelivered(const std::string& device_id, uint64_t connection_id,
                                 std::vector<core::Message>& messages) {
  core::C2dQueues& queues = hub_.c2d(shard_);
  auto it = sessions_.find(device_id);
  if (it == sessions_.end() || !it->second.connection ||
      it->second.connection->id != connection_id || !it->second.devicebound_qos) {
    // Delivered to a connection that is gone, or before an UNSUBSCRIBE: back to the queue.
    for (core::Message& m : messages) queues.Abandon(device_id, m.lock_token, [](Status) {});
    return;
  }
  Session& session = it->second;
  session.granted -= std::min<uint64_t>(session.granted, messages.size());
  uint8_t qos = *session.devicebound_qos;
  size_t before = session.inflight.size();
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
    Timestamp deadline = m.lock_deadline.value_or(clock_.Now());
    lock_timers_.emplace(deadline, device_id);
    session.inflight.push_back({.packet_id = packet_id,
                                .lock_token = std::move(m.lock_token),
                                .lock_deadline = deadline,
                                .packet = std::move(packet)});
  }
  if (session.inflight.size() != before) Persist(device_id, session);
  Pump(device_id, session);  // what was rejected or sent at QoS 0 frees its place at once
}

void DeviceSessions::OnTimer() {
  Timestamp now = clock_.Now();
  while (!lock_timers_.empty() && lock_timers_.top().first <= now) {
    std::string device_id = lock_timers_.top().second;
    lock_timers_.pop();
    auto it = sessions_.find(device_id);
    if (it == sessions_.end() || !DropExpired(it->second)) continue;
    // The lock ran out before the PUBACK: the queue hands the message out again as a fresh
    // delivery, for which the window has room again.
    Persist(device_id, it->second);
    Pump(device_id, it->second);
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

bool DeviceSessions::DropExpired(Session& session) {
  Timestamp now = clock_.Now();
  return std::erase_if(session.inflight,
                       [now](const Delivery& d) { return d.lock_deadline <= now; }) > 0;
}

void DeviceSessions::Persist(const std::string& device_id, Session& session,
                             std::function<void()> then) {
  // A clean session is never stored; nor is the session of a device deleted meanwhile (its record
  // went with it; the revocation that ended its connection comes after the delete).
  if (session.clean || hub_.registry().GenerationId(device_id) != session.generation_id) {
    if (then) then();
    return;
  }
  if (session.save_in_flight && !then) {
    session.save_again = true;  // written once the write under way is done
    return;
  }
  session.save_in_flight = true;
  session.save_again = false;
  session.saved_at = clock_.Now();
  // `updated` is what expiry counts from: now while connected, else when the device went away.
  core::StoredSession stored{.device_id = device_id,
                             .generation_id = session.generation_id,
                             .updated = session.connection ? clock_.Now() : session.last_seen,
                             .state = EncodeState(session)};
  Executor* home = &hub_.shard_executor(shard_);
  std::weak_ptr<char> alive = alive_;
  hub_.sessions().Save(
      stored, then ? storage::Durability::kSync : storage::Durability::kAsync,
      [this, home, alive, device_id, then = std::move(then)](Status status) mutable {
        home->Post([this, alive, device_id, then = std::move(then), status] {
          if (alive.expired()) return;
          if (!status.ok()) {
            HUB_LOG_WARN("mqtt", "device '{}': session not stored: {}", device_id,
                         status.ToString());
          }
          auto it = sessions_.find(device_id);
          if (it != sessions_.end()) {
            it->second.save_in_flight = false;
            if (it->second.save_again) Persist(device_id, it->second);
          }
          if (then) then();
        });
      });
}

std::string DeviceSessions::EncodeState(const Session& session) {
  std::string out(1, '\x01');  // format
  PutVarint64(&out, session.next_packet_id);
  PutVarint64(&out, session.subscriptions.size());
  for (const auto& [filter, qos] : session.subscriptions) {
    PutLengthPrefixed(&out, filter);
    out.push_back(static_cast<char>(qos));
  }
  PutVarint64(&out, session.inflight.size());
  for (const Delivery& d : session.inflight) {
    PutVarint64(&out, d.packet_id);
    PutLengthPrefixed(&out, d.lock_token);
    PutFixed64BE(&out, static_cast<uint64_t>(ToUnixMillis(d.lock_deadline)));
  }
  return out;
}

bool DeviceSessions::Restore(const core::StoredSession& stored) {
  Session session;
  iothub::Decoder in(stored.state);
  uint8_t format = 0;
  uint64_t next_packet_id = 0, subscriptions = 0, inflight = 0;
  bool ok = in.GetByte(&format) && format == 1 && in.GetVarint64(&next_packet_id) &&
            next_packet_id > 0 && next_packet_id <= 0xFFFF && in.GetVarint64(&subscriptions) &&
            subscriptions <= options_.max_subscriptions;
  for (uint64_t i = 0; ok && i < subscriptions; ++i) {
    std::string filter;
    uint8_t qos = 0;
    ok = in.GetLengthPrefixed(&filter) && in.GetByte(&qos) && qos <= 1;
    FilterKind kind = ok ? ClassifyFilter(stored.device_id, filter) : FilterKind::kRefused;
    ok = ok && kind != FilterKind::kRefused;
    if (!ok) break;
    if (kind == FilterKind::kDevicebound) session.devicebound_qos = qos;
    session.subscriptions.emplace_back(std::move(filter), qos);
  }
  ok = ok && in.GetVarint64(&inflight) && inflight <= options_.inflight_window;
  for (uint64_t i = 0; ok && i < inflight; ++i) {
    uint64_t packet_id = 0, deadline = 0;
    Delivery d;
    ok = in.GetVarint64(&packet_id) && packet_id > 0 && packet_id <= 0xFFFF &&
         in.GetLengthPrefixed(&d.lock_token) && in.GetFixed64BE(&deadline);
    d.packet_id = static_cast<uint16_t>(packet_id);
    d.lock_deadline = FromUnixMillis(static_cast<int64_t>(deadline));
    if (ok) {
      lock_timers_.emplace(d.lock_deadline, stored.device_id);
      session.inflight.push_back(std::move(d));  // its packet is rebuilt on Resume
    }
  }
  if (!ok || !in.done()) {
    HUB_LOG_WARN("mqtt", "device '{}': stored session is malformed: dropped", stored.device_id);
    return false;
  }
  session.next_packet_id = static_cast<uint16_t>(next_packet_id);
  session.generation_id = stored.generation_id;
  session.last_seen = stored.updated;
  session.epoch = next_epoch_++;
  sessions_[stored.device_id] = std::move(session);
  return true;
}

void DeviceSessions::RebuildRestored(const std::string& device_id, Session& session) {
  core::C2dQueues& queues = hub_.c2d(shard_);
  uint8_t qos = session.devicebound_qos.value_or(1);
  size_t before = session.inflight.size();
  std::erase_if(session.inflight, [&](Delivery& d) {
    if (!d.packet.empty()) return false;
    auto locked = queues.FindLocked(device_id, d.lock_token);
    if (!locked) return true;  // the lock ran out: the queue hands the message out afresh
    std::string topic = DeviceboundTopic(device_id, locked->first);
    if (topic.size() > kMaxTopicLength || qos == 0) {
      // Cannot be sent again as it was (unsubscribed meanwhile): back to the queue at once.
      queues.Abandon(device_id, d.lock_token, [](Status) {});
      return true;
    }
    EncodePublish(false, qos, false, topic, d.packet_id, locked->first.body, &d.packet);
    d.lock_deadline = locked->second;
    return false;
  });
  if (session.inflight.size() != before) Persist(device_id, session);
}

void DeviceSessions::ExpireIdle() {
  if (options_.session_expiry.count() <= 0) return;
  Timestamp now = clock_.Now();
  Timestamp cutoff = now - options_.session_expiry;
  std::vector<std::string> gone;
  for (auto& [device_id, session] : sessions_) {
    if (session.clean) continue;
    if (!session.connection && session.last_seen < cutoff) {
      gone.push_back(device_id);
    } else if (session.connection && now - session.saved_at > options_.session_expiry / 4) {
      // A device connected for long: its stored record must not look expired after a crash.
      Persist(device_id, session);
    }
  }
  for (const std::string& device_id : gone) {
    HUB_LOG_INFO("mqtt", "device '{}': persistent session expired", device_id);
    sessions_.erase(device_id);  // its locks simply run out
    hub_.sessions().Remove(device_id, nullptr);
  }
}

}  // namespace iothub::mqtt
