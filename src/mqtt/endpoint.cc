#include "mqtt/endpoint.h"

#include <utility>

#include "base/log.h"
#include "net/stream_link.h"

namespace iothub::mqtt {

Endpoint::Endpoint(core::Hub& hub, const Clock& clock, MqttOptions options)
    : hub_(hub),
      clock_(clock),
      options_(options),
      next_expiry_check_(hub.shard_count()),
      connections_(hub.shard_count()) {
  for (size_t shard = 0; shard < hub.shard_count(); ++shard) {
    sessions_.push_back(std::make_unique<DeviceSessions>(hub, shard, options_, clock));
  }
  // Persistent sessions stored before the last stop come back, each on its device's shard.
  Timestamp not_before = options_.session_expiry.count() > 0 ? clock.Now() - options_.session_expiry
                                                             : Timestamp::min();
  Result<std::vector<core::StoredSession>> stored = hub.sessions().LoadAll(
      [&hub](std::string_view id) { return hub.registry().GenerationId(id); }, not_before);
  if (!stored) {
    HUB_LOG_ERROR("mqtt", "persistent sessions not loaded: {}", stored.error().ToString());
  } else if (!stored->empty()) {
    // Restored on each device's shard (which may already run the hub's recovery): ahead of any
    // connection, since the listeners that bring them start later.
    std::vector<std::vector<core::StoredSession>> by_shard(hub.shard_count());
    for (core::StoredSession& s : *stored)
      by_shard[hub.ShardOf(s.device_id)].push_back(std::move(s));
    for (size_t shard = 0; shard < hub.shard_count(); ++shard) {
      if (by_shard[shard].empty()) continue;
      hub.shard_executor(shard).Post(
          [sessions = sessions_[shard].get(), alive = alive_, batch = std::move(by_shard[shard])] {
            if (!alive->load()) return;
            size_t restored = 0;
            for (const core::StoredSession& s : batch) restored += sessions->Restore(s) ? 1 : 0;
            HUB_LOG_INFO("mqtt", "{} persistent session(s) restored", restored);
          });
    }
  }
  // A deleted device loses its session and its connection. The registry keeps its listeners
  // forever: `alive_` keeps a late call from reaching a destroyed Endpoint's sessions (the daemon
  // deletes devices only while the endpoint lives; its blocking pool stops first).
  hub.registry().AddDeleteListener([this, alive = alive_](const std::string& device_id) {
    if (!alive->load()) return;
    size_t shard = hub_.ShardOf(device_id);
    hub_.shard_executor(shard).Post([this, alive, shard, device_id] {
      if (alive->load()) sessions_[shard]->Remove(device_id);
    });
  });
}

Endpoint::~Endpoint() { alive_->store(false); }

net::StreamAcceptor Endpoint::Acceptor(std::string listener) {
  auto metrics = net::MakeListenerMetrics(listener);
  return [this, metrics](std::shared_ptr<net::ByteStream> stream) {
    auto link = std::make_shared<net::StreamLink>(stream, metrics);
    link->set_input(Open(stream->shard(), link, stream->remote_endpoint()));
    stream->Start(link);
  };
}

std::shared_ptr<Connection> Endpoint::Open(size_t shard, std::shared_ptr<ConnectionOutput> output,
                                           std::string remote) {
  uint64_t id = next_connection_id_.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::make_shared<Connection>(*this, shard, std::move(output), std::move(remote),
                                                 id, clock_.Now());
  connections_.Add(shard, connection.get());
  return connection;
}

void Endpoint::Tick(size_t shard) {
  Timestamp now = clock_.Now();
  connections_.ForEach(shard, [now](Connection& c) { c.OnTimer(now); });
  sessions_[shard]->OnTimer();
  // Persistent sessions expire in days: a look once a minute is plenty.
  Timestamp& next = next_expiry_check_[shard];
  if (now >= next) {
    next = now + std::chrono::minutes(1);
    sessions_[shard]->ExpireIdle();
  }
}

void Endpoint::CloseAll() {
  connections_.ForEachAll([](Connection& c) { c.Teardown(); });
}

void Endpoint::Forget(size_t shard, Connection* connection) {
  connections_.Remove(shard, connection);
}

}  // namespace iothub::mqtt
