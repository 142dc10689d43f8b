#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "server/certificates.h"
#include "server/config.h"

namespace iothub::storage {
class Store;
}
namespace iothub {
class ThreadPoolExecutor;
}
namespace iothub::core {
class Hub;
}
namespace iothub::http {
class Router;
}
namespace iothub::amqp {
class Endpoint;
}
namespace iothub::mqtt {
class Endpoint;
}
namespace iothub::net {
class Listener;
class PeriodicTask;
class ShardPool;
class TlsContext;
}  // namespace iothub::net

namespace iothub::server {

class HubMetrics;

// iothubd's parts and their order. Start() brings them up one after the other; Stop() takes them
// down in reverse:
//
//   1. data directory       created if missing; must be a writable directory
//   2. store                RocksDB at DIR/store
//   3. TLS identity         DIR/tls (certificates.h), or --tls-cert/--tls-key
//   4. shards               one event loop per --shards
//   5. core                 core::Hub opened on the store: policies (the five defaults created
//                           with random keys at first start), registry, telemetry, and the C2D and
//                           feedback queues recovered; its timers driven on every shard, telemetry
//                           retention on a housekeeping thread; the MQTT endpoint (src/mqtt) with
//                           its per-device sessions and the AMQP endpoint (src/amqp) with its
//                           dispatchers, their connection timers ticked every second
//   6. connection strings   DIR/connection-strings.json (0600), rewritten on every start
//   7. listeners            one per enabled port on --bind; https (and plain http) serve the
//                           REST API (src/http) and MQTT and AMQP over WebSockets; mqtt (TLS)
//                           and mqtt-plain serve MQTT 3.1.1; amqp (TLS) and amqp-plain AMQP 1.0
//
// Stop(): listeners closed (no new connections) -> timers, housekeeping and the HTTP handler pool
// stopped -> shards stopped and joined -> hub closed (runtime state flushed) -> store closed
// (flushes the WAL) -> the shards' loops destroyed (sessions still suspended end there, releasing
// what they hold of the hub) -> the MQTT endpoint destroyed -> hub destroyed.
//
// Threading: Start, Stop and the accessors run on the owner's thread (main); not thread-safe.
class Daemon {
 public:
  explicit Daemon(Config config);
  ~Daemon();  // Stop()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs steps 1-8. On failure returns one operator-ready error (e.g. "address 127.0.0.1:8883 is
  // already in use") and leaves nothing running; the daemon may then only be destroyed.
  Status Start();
  // Idempotent; also safe after a failed Start.
  void Stop();

  // After a successful Start:
  // (policy name, service connection string) for every policy, ordered by policy name.
  const std::vector<std::pair<std::string, std::string>>& connection_strings() const {
    return connection_strings_;
  }
  const ServerTlsFiles& tls_files() const { return tls_files_; }
  // (listener name, "address:port") of every listener, in start order.
  std::vector<std::pair<std::string, std::string>> endpoints() const;
  // The block printed to stdout once the hub is up: where the CA is, what listens where, and the
  // connection strings.
  std::string Banner() const;

 private:
  Status PrepareDataDirectory();
  Status OpenStore();
  Status PrepareTls();
  Status WriteConnectionStrings();
  Status StartCoreServices();
  void StopCoreServices();
  void Housekeeping();
  Status StartListeners();

  Config config_;
  std::string data_dir_;  // absolute
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<core::Hub> hub_;
  std::unique_ptr<HubMetrics> hub_metrics_;  // the hub's gauges at /metrics
  ServerTlsFiles tls_files_;
  std::shared_ptr<net::TlsContext> tls_context_;  // null when every TLS port is off
  std::vector<std::pair<std::string, std::string>> connection_strings_;
  std::unique_ptr<net::ShardPool> shards_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::vector<std::unique_ptr<net::PeriodicTask>> timers_;  // Hub::ProcessTimers, one per shard
  std::unique_ptr<ThreadPoolExecutor> blocking_;  // HTTP handlers (they may block on the store)
  std::shared_ptr<const http::Router> router_;    // the HTTPS front-end's routes
  std::unique_ptr<mqtt::Endpoint> mqtt_;          // the MQTT front-end
  std::unique_ptr<amqp::Endpoint> amqp_;          // the AMQP front-end
  std::thread housekeeping_;                      // telemetry retention
  std::mutex housekeeping_mu_;
  std::condition_variable housekeeping_cv_;
  bool housekeeping_stop_ = false;
};

// All of iothubd after its command line is parsed: blocks SIGINT/SIGTERM (call it before any other
// thread starts), sets up logging, starts the Daemon, prints its Banner to stdout, waits for SIGINT
// or SIGTERM, stops. Ok after a clean shutdown; the start-up error otherwise.
Status RunDaemon(const Config& config);

}  // namespace iothub::server
