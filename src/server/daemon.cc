#include "server/daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "amqp/endpoint.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "core/auth/policy.h"
#include "core/auth/sas_token.h"
#include "core/hub/hub.h"
#include "http/router.h"
#include "http/routes.h"
#include "http/session.h"
#include "mqtt/endpoint.h"
#include "net/byte_stream.h"
#include "net/listener.h"
#include "net/shards.h"
#include "net/tls_context.h"
#include "server/files.h"
#include "server/hub_metrics.h"
#include "server/signals.h"
#include "storage/rocksdb/rocksdb_store.h"

namespace iothub::server {
namespace {

namespace fs = std::filesystem;

// The listeners of ARCHITECTURE.md, "Endpoints and ports".
struct Endpoint {
  const char* name;
  uint16_t Config::*port;
  bool tls;
};
constexpr Endpoint kEndpoints[] = {
    {"mqtt", &Config::mqtt_port, true},
    {"amqp", &Config::amqp_port, true},
    {"https", &Config::https_port, true},
    {"mqtt-plain", &Config::plain_mqtt_port, false},
    {"amqp-plain", &Config::plain_amqp_port, false},
    {"http-plain", &Config::plain_http_port, false},
};

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

Daemon::Daemon(Config config) : config_(std::move(config)) {}

Daemon::~Daemon() { Stop(); }

Status Daemon::Start() {
  Status status = [&]() -> Status {
    HUB_RETURN_IF_ERROR(PrepareDataDirectory());
    HUB_RETURN_IF_ERROR(OpenStore());
    HUB_RETURN_IF_ERROR(PrepareTls());
    shards_ = std::make_unique<net::ShardPool>(config_.shards);
    HUB_RETURN_IF_ERROR(StartCoreServices());
    HUB_RETURN_IF_ERROR(WriteConnectionStrings());
    HUB_RETURN_IF_ERROR(StartListeners());
    return Status::Ok();
  }();
  if (!status.ok()) {
    Stop();
    return status;
  }
  HUB_LOG_INFO("server", "started: hostname={} data={} shards={}", config_.hostname, data_dir_,
               config_.shards);
  return Status::Ok();
}

void Daemon::Stop() {
  for (auto& listener : listeners_) listener->Close();
  StopCoreServices();
  if (shards_) {
    shards_->Stop();
    shards_->Join();
  }
  // Connections still open: their streams go with the loops.
  if (mqtt_) mqtt_->CloseAll();
  if (amqp_) amqp_->CloseAll();
  listeners_.clear();
  // No shard runs a task now: the hub may flush, and commits still in flight post into the
  // stopped shards, which drop them.
  if (hub_) hub_->Close();
  if (store_) {
    store_->Close();
    HUB_LOG_INFO("server", "store closed");
  }
  hub_metrics_.reset();
  // Destroying the loops destroys the sessions suspended in them; a session following telemetry
  // releases its stream then, which refers to the hub and the (stopped) handler pool, so both go
  // after the shards.
  shards_.reset();
  // After their connections (in the loops), before the hub they refer to.
  mqtt_.reset();
  amqp_.reset();
  router_.reset();
  blocking_.reset();
  hub_.reset();
  store_.reset();
}

Status Daemon::PrepareDataDirectory() {
  std::error_code ec;
  fs::path dir = fs::absolute(config_.data_dir, ec).lexically_normal();
  data_dir_ = dir.string();
  if (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  std::string where = "data directory " + data_dir_;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    return InvalidArgument(where + " is not a directory");
  }
  if (!fs::exists(dir, ec)) {
    if (!fs::create_directories(dir, ec) || ec) {
      return InvalidArgument("cannot create " + where + ": " + ec.message());
    }
    ::chmod(data_dir_.c_str(), 0700);  // it will hold keys
    HUB_LOG_INFO("server", "created {}", where);
  }
  DIR* listing = ::opendir(data_dir_.c_str());
  if (listing == nullptr) return InvalidArgument(where + " is not readable: " + ErrnoText());
  ::closedir(listing);
  // access() would answer for the real uid and misjudge root; a real file answers for everyone.
  std::string probe = data_dir_ + "/.iothubd-write-test";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return InvalidArgument(where + " is not writable: " + ErrnoText());
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::Ok();
}

Status Daemon::OpenStore() {
  std::string path = data_dir_ + "/store";
  auto store = storage::OpenRocksDbStore({.path = path});
  if (!store) {
    std::string hint = store.error().code() == StatusCode::kUnavailable
                           ? " (is another iothubd using " + data_dir_ + "?)"
                           : "";
    return Unavailable("cannot open the store at " + path + ": " + store.error().message() + hint);
  }
  store_ = std::move(*store);
  HUB_LOG_INFO("server", "store open at {}", path);
  return Status::Ok();
}

Status Daemon::PrepareTls() {
  Result<ServerTlsFiles> files =
      config_.tls_cert.empty()
          ? EnsureHubCertificates(data_dir_ + "/tls", config_.hostname, config_.bind_address)
          : UseExternalCertificate(config_.tls_cert, config_.tls_key, config_.hostname);
  if (!files) return files.error();
  tls_files_ = *files;
  bool any_tls = config_.mqtt_port != 0 || config_.amqp_port != 0 || config_.https_port != 0;
  if (any_tls) {
    // Loading them into the TLS stack now turns a bad file into a start-up error, not a failed
    // handshake later.
    auto context = net::TlsContext::CreateServer(tls_files_.chain_file, tls_files_.key_file);
    if (!context) return context.error();
    tls_context_ = *context;
  }
  return Status::Ok();
}

Status Daemon::WriteConnectionStrings() {
  connection_strings_.clear();
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (const auto& policy : hub_->policies().List()) {
    std::string cs =
        core::auth::ServiceConnectionString(config_.hostname, policy.name, policy.primary_key);
    json[policy.name] = cs;
    connection_strings_.emplace_back(policy.name, std::move(cs));
  }
  return WriteFileAtomically(data_dir_ + "/connection-strings.json", json.dump(2) + "\n", 0600);
}

Status Daemon::StartCoreServices() {
  core::HubOptions options;
  options.host_name = config_.hostname;
  options.c2d.max_queue_depth = config_.c2d_max_queue_depth;
  options.c2d.default_ttl = std::chrono::seconds(config_.c2d_default_ttl_seconds);
  options.c2d.max_ttl = std::chrono::seconds(config_.c2d_max_ttl_seconds);
  options.c2d.lock_timeout = std::chrono::seconds(config_.c2d_lock_timeout_seconds);
  options.c2d.max_delivery_count = config_.c2d_max_delivery_count;
  options.c2d.lock_expiry_counts_as_delivery = config_.c2d_lock_expiry_counts_as_delivery;
  options.feedback.batch_size = config_.feedback_batch_size;
  options.feedback.batch_interval = std::chrono::milliseconds(config_.feedback_batch_interval_ms);
  options.session_expiry = std::chrono::seconds(config_.mqtt_session_expiry_seconds);
  options.telemetry.partitions = config_.telemetry_partitions;
  options.telemetry.retention = std::chrono::hours(config_.telemetry_retention_hours);
  options.telemetry.max_bytes_per_partition = config_.telemetry_max_bytes_per_partition == 0
                                                  ? UINT64_MAX
                                                  : config_.telemetry_max_bytes_per_partition;
  std::vector<Executor*> executors;
  for (size_t i = 0; i < shards_->size(); ++i) executors.push_back(&shards_->executor(i));
  hub_ = std::make_unique<core::Hub>(std::move(options), *store_, SystemClock::Instance(),
                                     std::move(executors));
  Status opened = hub_->Open();
  if (!opened.ok()) return Internal("cannot open the hub's state: " + opened.ToString());

  // The core keeps no timers: each shard runs its lock, TTL and feedback-batch expiries every
  // 100 ms, which bounds how late an expiry is seen.
  for (size_t i = 0; i < shards_->size(); ++i) {
    timers_.push_back(std::make_unique<net::PeriodicTask>(
        *shards_, i, std::chrono::milliseconds(100), [this, i] { hub_->ProcessTimers(i); }));
  }
  housekeeping_stop_ = false;
  housekeeping_ = std::thread([this] { Housekeeping(); });

  // The HTTPS front-end. Its handlers may block on the store (registry writes), so they run on
  // their own threads, never on a shard.
  blocking_ = std::make_unique<ThreadPoolExecutor>(2);
  auto router = std::make_shared<http::Router>();
  http::AddAllRoutes(*router, *hub_, *blocking_);
  router_ = std::move(router);
  hub_metrics_ = std::make_unique<HubMetrics>(*hub_);

  // The MQTT front-end (8883, the plain development port, and WebSockets on the HTTPS listener).
  // Its connections' CONNECT timeouts, keep-alives and token expiries are checked every second.
  // The AMQP front-end (5671, the plain development port, and WebSockets on the HTTPS listener)
  // likewise, for its open and auth time-outs, token expiries and idle time-outs.
  mqtt_ = std::make_unique<mqtt::Endpoint>(*hub_, SystemClock::Instance());
  amqp_ = std::make_unique<amqp::Endpoint>(*hub_, SystemClock::Instance());
  for (size_t i = 0; i < shards_->size(); ++i) {
    timers_.push_back(
        std::make_unique<net::PeriodicTask>(*shards_, i, std::chrono::seconds(1), [this, i] {
          mqtt_->Tick(i);
          amqp_->Tick(i);
        }));
  }
  return Status::Ok();
}

// Telemetry retention blocks on the store, so it runs here rather than on a shard.
void Daemon::Housekeeping() {
  const Duration interval = hub_->telemetry().RetentionInterval();
  std::unique_lock lock(housekeeping_mu_);
  while (!housekeeping_cv_.wait_for(lock, interval, [this] { return housekeeping_stop_; })) {
    lock.unlock();
    Result<uint64_t> trimmed = hub_->ApplyRetention();
    if (!trimmed) {
      HUB_LOG_WARN("server", "telemetry retention: {}", trimmed.error().ToString());
    } else if (*trimmed > 0) {
      HUB_LOG_INFO("server", "telemetry retention dropped {} record(s)", *trimmed);
    }
    lock.lock();
  }
}

void Daemon::StopCoreServices() {
  // Handlers running now finish (the hub is still open); queued ones are dropped with their
  // sessions, which the stopped shards never resume.
  if (blocking_) blocking_->Stop();
  for (auto& timer : timers_) timer->Stop();
  timers_.clear();
  if (housekeeping_.joinable()) {
    {
      std::lock_guard lock(housekeeping_mu_);
      housekeeping_stop_ = true;
    }
    housekeeping_cv_.notify_all();
    housekeeping_.join();
  }
}

Status Daemon::StartListeners() {
  for (const Endpoint& endpoint : kEndpoints) {
    uint16_t port = config_.*endpoint.port;
    if (port == 0) continue;
    net::AcceptHandler handler;
    http::SessionOptions http_options{.handler_executor = blocking_.get()};
    http_options.websocket_protocols.emplace_back("mqtt", mqtt_->Acceptor("mqtt-ws"));
    http_options.websocket_protocols.emplace_back("AMQPWSB10", amqp_->Acceptor("amqp-ws"));
    std::string_view name = endpoint.name;
    if (name == "https") {
      handler = http::HttpsAcceptHandler(tls_context_, router_, http_options);
    } else if (name == "http-plain") {
      handler = http::HttpAcceptHandler(router_, http_options);
    } else if (name == "mqtt") {
      handler = [tls = tls_context_, serve = mqtt_->Acceptor("mqtt")](net::TcpConnection c) {
        serve(net::MakeTlsStream(std::move(c), tls));
      };
    } else if (name == "mqtt-plain") {
      handler = [serve = mqtt_->Acceptor("mqtt-plain")](net::TcpConnection c) {
        serve(net::MakePlainStream(std::move(c)));
      };
    } else if (name == "amqp") {
      handler = [tls = tls_context_, serve = amqp_->Acceptor("amqp")](net::TcpConnection c) {
        serve(net::MakeTlsStream(std::move(c), tls));
      };
    } else if (name == "amqp-plain") {
      handler = [serve = amqp_->Acceptor("amqp-plain")](net::TcpConnection c) {
        serve(net::MakePlainStream(std::move(c)));
      };
    }
    auto listener = net::Listener::Bind(
        *shards_, {.name = endpoint.name, .address = config_.bind_address, .port = port},
        std::move(handler));
    if (!listener) return listener.error();
    listeners_.push_back(std::move(*listener));
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> Daemon::endpoints() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& listener : listeners_) out.emplace_back(listener->name(), listener->endpoint());
  return out;
}

std::string Daemon::Banner() const {
  std::string out = VersionText() + " is running\n";
  out += "  hostname:  " + config_.hostname + "\n";
  out += "  data:      " + data_dir_ + "\n";
  if (!tls_files_.ca_file.empty()) {
    out += "  CA:        " + tls_files_.ca_file +
           "  (clients must trust it, e.g. NODE_EXTRA_CA_CERTS=" + tls_files_.ca_file + ")\n";
  } else {
    out += "  TLS:       " + tls_files_.chain_file + " (externally provided)\n";
  }
  std::string listening;
  for (const auto& [name, where] : endpoints()) {
    listening += (listening.empty() ? "" : ", ") + name + " " + where;
  }
  out += "  listening: " +
         (listening.empty() ? std::string("nothing (every port is off)") : listening) + "\n";
  out += "\nService connection strings (also in " + data_dir_ + "/connection-strings.json):\n";
  for (const auto& [name, cs] : connection_strings_) {
    out += "  " + name + std::string(name.size() < 18 ? 18 - name.size() : 1, ' ') + cs + "\n";
  }
  out += "\nStop with Ctrl-C or SIGTERM.\n";
  return out;
}

Status RunDaemon(const Config& config) {
  StopSignals signals;
  if (!InitLogging(config.log_level))
    return InvalidArgument("unknown log level " + config.log_level);
  Daemon daemon(config);
  HUB_RETURN_IF_ERROR(daemon.Start());
  std::fputs(daemon.Banner().c_str(), stdout);
  std::fflush(stdout);

  int signal = signals.Wait();
  HUB_LOG_INFO("server", "{} received, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  // Shutdown must not hang an init system or a test: give up after a while.
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return stopped; })) {
      HUB_LOG_ERROR("server", "shutdown took longer than 10 s; exiting anyway");
      std::_Exit(1);
    }
  });
  daemon.Stop();
  {
    std::lock_guard lock(mu);
    stopped = true;
  }
  cv.notify_all();
  watchdog.join();
  HUB_LOG_INFO("server", "stopped");
  return Status::Ok();
}

}  // namespace iothub::server
