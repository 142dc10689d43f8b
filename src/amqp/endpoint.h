#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "amqp/connection.h"
#include "amqp/dispatcher.h"
#include "amqp/options.h"
#include "base/clock.h"
#include "core/hub/hub.h"
#include "net/byte_stream.h"
#include "net/shard_connections.h"
#include "net/stream_link.h"

namespace iothub::amqp {

// The AMQP 1.0 endpoint, for devices and services: serves net::ByteStreams (TLS on 5671, plain
// TCP, and WebSockets with subprotocol AMQPWSB10 at /$iothub/websocket) for one core::Hub. It owns
// the connections open on each shard and drives their timers from Tick(), and the dispatcher that
// hands feedback messages (on the feedback shard) to the links receiving them. (C2D messages
// reach devices through the core's presence: core::Hub::GrantC2d.)
//
// Threads: constructed and destroyed on a control thread while no shard runs anything of it
// (construct it after Hub::Open and before the shards serve; destroy it after they stopped).
// Everything else runs on shard threads as each method says.
class Endpoint {
 public:
  // `hub` and `clock` must outlive the Endpoint.
  Endpoint(core::Hub& hub, const Clock& clock, AmqpOptions options = {});
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // For net::Listener accept handlers and the HTTPS listener's WebSocket hand-off: serves AMQP on
  // each stream given. `listener` names it in logs and metrics ("amqp", "amqp-ws", "amqp-plain").
  net::StreamAcceptor Acceptor(std::string listener);

  // Serves one connection whose bytes go through `output`, on shard `shard`. The caller feeds it
  // (OnData, OnClosed). Used by Acceptor, and by tests with an in-memory output.
  std::shared_ptr<Connection> Open(size_t shard, std::shared_ptr<net::StreamOutput> output,
                                   std::string remote);

  // Runs the timers of shard `shard`'s connections. On that shard, about once a second.
  void Tick(size_t shard);

  // Lets go of every open connection and its stream at once: after the shards stopped and before
  // their event loops are destroyed (see mqtt::Endpoint::CloseAll).
  void CloseAll();

  size_t connection_count(size_t shard) const { return connections_.count(shard); }

  // Where a feedback receiver's messages come from. Only on the feedback shard.
  Dispatcher& feedback_dispatcher() { return *feedback_; }

  // Runs `task` on shard `shard` unless the endpoint is gone by then.
  void PostToShard(size_t shard, std::function<void()> task);
  // A new id for a link, unique in this endpoint (dispatchers key links by it).
  uint64_t NextLinkId() { return next_link_id_.fetch_add(1, std::memory_order_relaxed); }

  core::Hub& hub() { return hub_; }
  const Clock& clock() const { return clock_; }
  const AmqpOptions& options() const { return options_; }

 private:
  friend class Connection;
  void Forget(size_t shard, Connection* connection);  // on `shard`, when it closed

  core::Hub& hub_;
  const Clock& clock_;
  AmqpOptions options_;
  std::unique_ptr<Dispatcher> feedback_;  // on the feedback shard
  uint64_t feedback_listener_ = 0;
  // Raw pointers: a connection removes itself when it closes.
  net::ShardConnections<Connection> connections_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint64_t> next_link_id_{1};
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace iothub::amqp
