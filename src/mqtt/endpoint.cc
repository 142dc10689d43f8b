#include "mqtt/endpoint.h"

#include <utility>

#include "base/log.h"
#include "net/stream_link.h"

namespace iothub::mqtt {

Endpoint::Endpoint(core::Hub& hub, const Clock& clock, MqttOptions options)
    : hub_(hub), clock_(clock), options_(options), connections_(hub.shard_count()) {}

Endpoint::~Endpoint() = default;

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
}

void Endpoint::CloseAll() {
  connections_.ForEachAll([](Connection& c) { c.Teardown(); });
}

void Endpoint::Forget(size_t shard, Connection* connection) {
  connections_.Remove(shard, connection);
}

}  // namespace iothub::mqtt
