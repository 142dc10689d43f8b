#include "mqtt/endpoint.h"

#include <utility>

#include "base/log.h"
#include "base/metrics.h"

namespace iothub::mqtt {
namespace {

// Connections open and accepted per listener ("mqtt", "mqtt-ws", "mqtt-plain"), the same series
// as the HTTPS endpoint's.
struct ListenerMetrics {
  explicit ListenerMetrics(const std::string& listener)
      : open(metrics::GetGauge("iothub_connections", "Client connections open.",
                               {{"endpoint", listener}})),
        accepted(metrics::GetCounter("iothub_connections_accepted_total",
                                     "Client connections accepted.", {{"endpoint", listener}})) {}
  metrics::Gauge open;
  metrics::Counter accepted;
};

// Joins a ByteStream and a Connection: the stream's events go to the connection, the
// connection's output to the stream. The stream holds this (as its handler) until it closed;
// this holds the stream until then too, and the connection holds this as its output.
class StreamLink final : public net::StreamHandler,
                         public ConnectionOutput,
                         public std::enable_shared_from_this<StreamLink> {
 public:
  StreamLink(std::shared_ptr<net::ByteStream> stream, std::shared_ptr<ListenerMetrics> metrics)
      : stream_(std::move(stream)), metrics_(std::move(metrics)) {
    metrics_->accepted.Increment();
    metrics_->open.Increment();
  }
  ~StreamLink() override { metrics_->open.Decrement(); }

  void set_connection(std::shared_ptr<Connection> c) { connection_ = std::move(c); }

  // net::StreamHandler
  void OnDrained() override {
    output_full_ = false;
    ApplyPause();
  }
  void OnData(std::string_view bytes) override {
    std::shared_ptr<Connection> c = connection_;  // closing may drop this link's reference
    if (c) c->OnData(bytes);
  }
  void OnClosed(std::string_view why) override {
    HUB_LOG_DEBUG("mqtt", "{}: stream closed: {}", stream_->remote_endpoint(), why);
    std::shared_ptr<Connection> c = std::move(connection_);
    if (c) c->OnClosed();
    stream_.reset();
  }

  // ConnectionOutput
  void Write(std::string_view bytes) override {
    if (!stream_) return;
    stream_->Write(bytes);
    if (stream_->pending_write_bytes() > kMaxPendingOutput) {
      // A client that does not read stops being read from (it could otherwise make us buffer
      // answers to its PINGREQs without end).
      output_full_ = true;
      ApplyPause();
    }
  }
  void PauseReading() override {
    connection_paused_ = true;
    ApplyPause();
  }
  void ResumeReading() override {
    connection_paused_ = false;
    ApplyPause();
  }
  void Close() override {
    if (stream_) stream_->Close();
  }
  // The stream holds this link as its handler and the link holds the stream: a cycle that
  // OnClosed breaks, and that this breaks at shutdown, when no OnClosed will come.
  void Release() override {
    std::shared_ptr<net::ByteStream> stream = std::move(stream_);
    connection_.reset();
  }

 private:
  static constexpr size_t kMaxPendingOutput = 64 * 1024;

  // Reading pauses while the connection asks for it or the output is backed up.
  void ApplyPause() {
    bool pause = connection_paused_ || output_full_;
    if (!stream_ || pause == paused_) return;
    paused_ = pause;
    if (pause) {
      stream_->PauseReading();
    } else {
      stream_->ResumeReading();
    }
  }

  std::shared_ptr<net::ByteStream> stream_;
  std::shared_ptr<ListenerMetrics> metrics_;
  std::shared_ptr<Connection> connection_;
  bool connection_paused_ = false;
  bool output_full_ = false;
  bool paused_ = false;
};

}  // namespace

Endpoint::Endpoint(core::Hub& hub, const Clock& clock, MqttOptions options)
    : hub_(hub), clock_(clock), options_(options), connections_(hub.shard_count()) {
  for (size_t shard = 0; shard < hub.shard_count(); ++shard) {
    sessions_.push_back(std::make_unique<DeviceSessions>(hub, shard, options_, clock));
    DeviceSessions* sessions = sessions_.back().get();
    available_listeners_.push_back(hub.c2d(shard).AddAvailableListener(
        [sessions](const std::string& device_id) { sessions->OnAvailable(device_id); }));
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

Endpoint::~Endpoint() {
  alive_->store(false);
  for (size_t shard = 0; shard < hub_.shard_count(); ++shard) {
    hub_.c2d(shard).RemoveAvailableListener(available_listeners_[shard]);
  }
}

net::StreamAcceptor Endpoint::Acceptor(std::string listener) {
  auto metrics = std::make_shared<ListenerMetrics>(listener);
  return [this, metrics](std::shared_ptr<net::ByteStream> stream) {
    auto link = std::make_shared<StreamLink>(stream, metrics);
    link->set_connection(Open(stream->shard(), link, stream->remote_endpoint()));
    stream->Start(link);
  };
}

std::shared_ptr<Connection> Endpoint::Open(size_t shard, std::shared_ptr<ConnectionOutput> output,
                                           std::string remote) {
  uint64_t id = next_connection_id_.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::make_shared<Connection>(*this, shard, std::move(output), std::move(remote),
                                                 id, clock_.Now());
  connections_[shard].insert(connection.get());
  return connection;
}

void Endpoint::Tick(size_t shard) {
  Timestamp now = clock_.Now();
  // OnTimer may close a connection, which removes it from the set: iterate over a copy.
  std::vector<Connection*> due(connections_[shard].begin(), connections_[shard].end());
  for (Connection* c : due) {
    if (connections_[shard].contains(c)) c->OnTimer(now);
  }
}

void Endpoint::CloseAll() {
  for (auto& connections : connections_) {
    std::vector<Connection*> open(connections.begin(), connections.end());
    for (Connection* c : open) {
      if (connections.contains(c)) c->Teardown();
    }
  }
}

void Endpoint::Forget(size_t shard, Connection* connection) {
  connections_[shard].erase(connection);
}

}  // namespace iothub::mqtt
