#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "core/hub/hub.h"
#include "mqtt/connection.h"
#include "mqtt/options.h"
#include "net/byte_stream.h"
#include "net/shard_connections.h"

namespace iothub::mqtt {

// The MQTT device endpoint: serves MQTT 3.1.1 on net::ByteStreams (TLS on 8883, plain TCP, and
// WebSockets at /$iothub/websocket) for one core::Hub. It owns the connections open on each shard
// and drives their timers from Tick(). (Devices' persistent sessions are the core's:
// core::Presence.)
//
// Threads: constructed and destroyed on a control thread while no shard runs anything of it
// (construct it after Hub::Open and before the shards serve; destroy it after they stopped).
// Everything else runs on shard threads as each method says.
class Endpoint {
 public:
  // `hub` and `clock` must outlive the Endpoint.
  Endpoint(core::Hub& hub, const Clock& clock, MqttOptions options = {});
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // For net::Listener accept handlers and the HTTPS listener's WebSocket hand-off: serves MQTT on
  // each stream given. `listener` names it in logs and metrics ("mqtt", "mqtt-ws", "mqtt-plain").
  net::StreamAcceptor Acceptor(std::string listener);

  // Serves one connection whose bytes go through `output`; on shard `shard`. The caller feeds it
  // (OnData, OnClosed). Used by Acceptor, and by tests with an in-memory output.
  std::shared_ptr<Connection> Open(size_t shard, std::shared_ptr<ConnectionOutput> output,
                                   std::string remote);

  // Runs the timers of shard `shard`'s connections (CONNECT timeout, keep-alive, token expiry,
  // C2D deliveries whose lock ran out).
  // On that shard, about once a second (the daemon's PeriodicTask; tests call it by hand).
  void Tick(size_t shard);

  // Lets go of every open connection and its stream at once. For shutdown: call after the shards
  // stopped and before their event loops are destroyed (a stream and its connection hold each
  // other until the stream closes, which a stopped loop never reports).
  void CloseAll();

  size_t connection_count(size_t shard) const { return connections_.count(shard); }

  core::Hub& hub() { return hub_; }
  const Clock& clock() const { return clock_; }
  const MqttOptions& options() const { return options_; }

 private:
  friend class Connection;
  void Forget(size_t shard, Connection* connection);  // on `shard`, when it closed

  core::Hub& hub_;
  const Clock& clock_;
  MqttOptions options_;
  // Raw pointers: a connection removes itself when it closes.
  net::ShardConnections<Connection> connections_;
  std::atomic<uint64_t> next_connection_id_{1};
};

}  // namespace iothub::mqtt
