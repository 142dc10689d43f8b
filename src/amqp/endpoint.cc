#include "amqp/endpoint.h"

#include <utility>

#include "base/log.h"

namespace iothub::amqp {

Endpoint::Endpoint(core::Hub& hub, const Clock& clock, AmqpOptions options)
    : hub_(hub), clock_(clock), options_(options), connections_(hub.shard_count()) {
  feedback_ = std::make_unique<Dispatcher>([&hub](const std::string&, size_t max) {
    std::vector<core::Message> messages;
    while (messages.size() < max) {
      std::optional<core::Message> m = hub.feedback().ReceiveAndLock();
      if (!m) break;
      messages.push_back(std::move(*m));
    }
    return messages;
  });
  feedback_listener_ = hub.feedback().AddAvailableListener(
      [dispatcher = feedback_.get()] { dispatcher->OnAvailable(""); });
}

Endpoint::~Endpoint() {
  alive_->store(false);
  hub_.feedback().RemoveAvailableListener(feedback_listener_);
}

net::StreamAcceptor Endpoint::Acceptor(std::string listener) {
  auto metrics = net::MakeListenerMetrics(listener);
  return [this, metrics](std::shared_ptr<net::ByteStream> stream) {
    auto link = std::make_shared<net::StreamLink>(stream, metrics, options_.max_pending_output);
    link->set_input(Open(stream->shard(), link, stream->remote_endpoint()));
    stream->Start(link);
  };
}

std::shared_ptr<Connection> Endpoint::Open(size_t shard, std::shared_ptr<net::StreamOutput> output,
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

void Endpoint::PostToShard(size_t shard, std::function<void()> task) {
  hub_.shard_executor(shard).Post([alive = alive_, task = std::move(task)] {
    if (alive->load()) task();
  });
}

void Endpoint::Forget(size_t shard, Connection* connection) {
  connections_.Remove(shard, connection);
}

}  // namespace iothub::amqp
