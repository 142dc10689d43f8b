// mqtt_load: one MQTT 3.1.1 load generator for iothubd and for a peer broker (Mosquitto), so that
// both are measured by the same client (bench/mqtt_bench.py runs it against each). Two modes:
//
//   idle       opens --connections connections (TLS or plain), each CONNECT then SUBSCRIBE to
//              devices/<id>/messages/devicebound/#, and holds them idle; reads the broker's RSS
//              before, once all are up (plus --settle seconds), and after closing them all.
//   telemetry  --publishers connections publish QoS 1 PUBLISHes of --payload bytes to
//              devices/<id>/messages/events/, --window outstanding per connection, for --seconds
//              after --warmup seconds; counts PUBACKs and their latency (PUBLISH queued -> PUBACK
//              read), and the broker's CPU time over the measured window.
//
// Clients with a key in the --devices file CONNECT as IoT Hub devices (user name and SAS token);
// the others anonymously with the same client id. The result is one JSON line on stdout; progress
// and errors go to stderr. One io_context per --threads thread, single-threaded each; clients are
// spread round-robin. Asio lives in this file only.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/clock.h"
#include "bench/mqtt_load_support.h"
#include "core/auth/sas_token.h"
#include "mqtt/packets.h"

namespace iothub::bench {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kMaxPacket = 1 << 20;
constexpr char kApiVersion[] = "api-version=2021-04-12";

struct Options {
  std::string mode = "idle";
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  bool tls = false;
  std::string ca_file;   // verify the broker's chain against it (never the host name)
  std::string hub_host;  // iothub's --hostname: the user name's and the SAS token's host
  std::string devices_file;
  pid_t broker_pid = 0;
  int threads = 1;
  int connections = 5000;
  int concurrency = 64;  // connections being opened at once
  int keep_alive = 600;  // seconds: no PINGREQ is due during a run
  bool clean_session = true;
  double settle = 3;
  int publishers = 16;
  int window = 32;
  int payload = 256;
  double seconds = 10;
  double warmup = 1;
};

// What every thread reports into; read by the main thread.
struct Shared {
  std::atomic<int64_t> opened{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> dropped{0};  // closed by the broker while held
  std::atomic<size_t> next{0};
  std::atomic<bool> closing{false};
  std::mutex mutex;
  std::string first_error;

  void Fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex);
    if (first_error.empty()) first_error = why;
  }
};

// The measured window of the telemetry mode, fixed before any PUBLISH is sent.
struct Window {
  SteadyClock::time_point begin;
  SteadyClock::time_point end;
};

// One MQTT client over Stream (tcp::socket or ssl::stream<tcp::socket>). Lives on one io_context.
template <class Stream>
class Client {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  Client(asio::io_context& io, ssl::context* tls, DeviceEntry device)
      : stream_(MakeStream(io, tls)), device_(std::move(device)) {}

  const DeviceEntry& device() const { return device_; }

  // Connects, handshakes, CONNECTs (CONNACK 0 expected) and, when `subscribe`, SUBSCRIBEs to the
  // devicebound filter with QoS 1 (SUBACK 1 expected). False with `*why` set on any failure.
  asio::awaitable<bool> Open(const Options& options, const tcp::endpoint& endpoint, bool subscribe,
                             std::string* why) {
    boost::system::error_code ec;
    auto& socket = stream_.lowest_layer();
    co_await socket.async_connect(endpoint, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Failed("connect: " + ec.message(), why);
    socket.set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      co_await stream_.async_handshake(ssl::stream_base::client,
                                       asio::redirect_error(use_awaitable, ec));
      if (ec) co_return Failed("TLS handshake: " + ec.message(), why);
    }
    mqtt::Connect connect;
    connect.client_id = device_.id;
    connect.keep_alive = static_cast<uint16_t>(options.keep_alive);
    connect.clean_session = options.clean_session;
    if (!device_.key.empty()) {
      connect.user_name = options.hub_host + "/" + device_.id + "/?" + kApiVersion;
      connect.password =
          core::auth::CreateSasToken(options.hub_host + "/devices/" + device_.id, device_.key,
                                     SystemClock::Instance().Now() + 2h);
    }
    if (!co_await Write(mqtt::EncodePacket(connect), why)) co_return false;
    std::optional<mqtt::Packet> packet = co_await Read(why);
    if (!packet) co_return false;
    const auto* connack = std::get_if<mqtt::Connack>(&*packet);
    if (connack == nullptr || connack->return_code != mqtt::ConnectReturnCode::kAccepted) {
      co_return Failed(connack == nullptr
                           ? "no CONNACK"
                           : "CONNACK " + std::to_string(static_cast<int>(connack->return_code)),
                       why);
    }
    if (subscribe) {
      mqtt::Subscribe sub{
          .packet_id = 1,
          .subscriptions = {{"devices/" + device_.id + "/messages/devicebound/#", 1}}};
      if (!co_await Write(mqtt::EncodePacket(sub), why)) co_return false;
      packet = co_await Read(why);
      if (!packet) co_return false;
      const auto* suback = std::get_if<mqtt::Suback>(&*packet);
      if (suback == nullptr || suback->return_codes.size() != 1 ||
          suback->return_codes[0] == mqtt::kSubscribeFailure) {
        co_return Failed("SUBSCRIBE refused", why);
      }
    }
    co_return true;
  }

  // The next packet, or nullopt with `*why` set when the connection ended or sent garbage.
  asio::awaitable<std::optional<mqtt::Packet>> Read(std::string* why) {
    for (;;) {
      mqtt::Packet packet;
      switch (decoder_.Next(&packet, why)) {
        case mqtt::DecodeStatus::kOk:
          co_return packet;
        case mqtt::DecodeStatus::kMalformed:
          co_return std::nullopt;
        case mqtt::DecodeStatus::kIncomplete:
          break;
      }
      boost::system::error_code ec;
      size_t n = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                  asio::redirect_error(use_awaitable, ec));
      if (ec) {
        *why = "read: " + ec.message();
        co_return std::nullopt;
      }
      decoder_.Feed(std::string_view(read_buffer_.data(), n));
    }
  }

  asio::awaitable<bool> Write(std::string bytes, std::string* why) {
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(bytes),
                               asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Failed("write: " + ec.message(), why);
    co_return true;
  }

  // Ends the connection at the TCP level (no DISCONNECT, no close_notify): a pending Read fails.
  void Close() {
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  // Telemetry state, used by Publish only.
  std::vector<SteadyClock::time_point> sent_at = std::vector<SteadyClock::time_point>(65536);
  uint16_t last_id = 0;
  int outstanding = 0;
  std::string queued;  // PUBLISHes not yet handed to the stream
  bool writing = false;

 private:
  static Stream MakeStream(asio::io_context& io, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(io, *tls);
    } else {
      return Stream(io);
    }
  }

  static bool Failed(std::string text, std::string* why) {
    *why = std::move(text);
    return false;
  }

  Stream stream_;
  DeviceEntry device_;
  mqtt::Decoder decoder_{kMaxPacket};
  std::array<char, 4096> read_buffer_{};
};

// Everything one event-loop thread owns.
template <class Stream>
struct Loop {
  asio::io_context io{1};
  std::vector<std::shared_ptr<Client<Stream>>> clients;
  Latencies latencies;
  int64_t acked_in_window = 0;
  int64_t acked_total = 0;
  int64_t published = 0;
};

template <class Stream>
class Run {
 public:
  Run(const Options& options, std::vector<DeviceEntry> devices)
      : options_(options),
        devices_(std::move(devices)),
        endpoint_(asio::ip::make_address(options.host), options.port) {
    if constexpr (Client<Stream>::kTls) {
      tls_.emplace(ssl::context::tls_client);
      if (!options.ca_file.empty()) {
        tls_->load_verify_file(options.ca_file);
        tls_->set_verify_mode(ssl::verify_peer);
      }
    }
    for (int i = 0; i < options.threads; ++i) loops_.push_back(std::make_unique<Loop<Stream>>());
  }

  JsonLine Idle() {
    JsonLine out;
    size_t n = std::min<size_t>(options_.connections, devices_.size());
    out.Add("connections_asked", static_cast<int64_t>(n));
    out.Add("rss_before_kib", RssKib(options_.broker_pid));
    double cpu_before = CpuSeconds(options_.broker_pid);
    auto start = SteadyClock::now();
    for (size_t t = 0; t < loops_.size(); ++t) {
      int workers = std::max(1, options_.concurrency / static_cast<int>(loops_.size()));
      for (int w = 0; w < workers; ++w) {
        asio::co_spawn(loops_[t]->io, Opener(*loops_[t], n, /*subscribe=*/true), asio::detached);
      }
    }
    StartThreads();
    while (shared_.opened + shared_.failed < static_cast<int64_t>(n))
      std::this_thread::sleep_for(20ms);
    double open_seconds = Seconds(SteadyClock::now() - start);
    std::fprintf(stderr, "mqtt_load: %lld open, %lld failed in %.1f s\n",
                 static_cast<long long>(shared_.opened.load()),
                 static_cast<long long>(shared_.failed.load()), open_seconds);
    std::this_thread::sleep_for(std::chrono::duration<double>(options_.settle));
    out.Add("connections_open", shared_.opened.load());
    out.Add("connections_failed", shared_.failed.load());
    out.Add("open_seconds", open_seconds);
    out.Add("rss_open_kib", RssKib(options_.broker_pid));
    out.Add("broker_cpu_open_s", CpuSeconds(options_.broker_pid) - cpu_before);
    out.Add("dropped_while_idle", shared_.dropped.load());
    CloseAll();
    std::this_thread::sleep_for(std::chrono::duration<double>(options_.settle));
    out.Add("rss_closed_kib", RssKib(options_.broker_pid));
    if (!shared_.first_error.empty()) out.Add("first_error", shared_.first_error);
    return out;
  }

  JsonLine Telemetry() {
    JsonLine out;
    size_t n = std::min<size_t>(options_.publishers, devices_.size());
    for (size_t t = 0; t < loops_.size(); ++t) {
      asio::co_spawn(loops_[t]->io, Opener(*loops_[t], n, /*subscribe=*/false), asio::detached);
    }
    StartThreads();
    while (shared_.opened + shared_.failed < static_cast<int64_t>(n))
      std::this_thread::sleep_for(20ms);
    out.Add("publishers", shared_.opened.load());
    out.Add("publishers_failed", shared_.failed.load());
    if (shared_.opened == 0) {
      CloseAll();
      out.Add("first_error", shared_.first_error);
      return out;
    }
    payload_.assign(static_cast<size_t>(options_.payload), 'x');
    auto now = SteadyClock::now();
    window_.begin = now + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(options_.warmup));
    window_.end = window_.begin + std::chrono::duration_cast<SteadyClock::duration>(
                                      std::chrono::duration<double>(options_.seconds));
    for (auto& loop : loops_) {
      asio::post(loop->io, [this, l = loop.get()] {
        for (auto& client : l->clients)
          asio::co_spawn(l->io, Publisher(*l, client), asio::detached);
      });
    }
    std::this_thread::sleep_until(window_.begin);
    double cpu_begin = CpuSeconds(options_.broker_pid);
    int64_t rss_begin = RssKib(options_.broker_pid);
    std::this_thread::sleep_until(window_.end);
    double cpu_end = CpuSeconds(options_.broker_pid);
    out.Add("broker_rss_begin_kib", rss_begin);
    out.Add("broker_rss_end_kib", RssKib(options_.broker_pid));
    // Publishers stop on their own once their outstanding PUBLISHes are acknowledged.
    auto deadline = SteadyClock::now() + 30s;
    while (publishing_ > 0 && SteadyClock::now() < deadline) std::this_thread::sleep_for(20ms);
    out.Add("unfinished_publishers", static_cast<int64_t>(publishing_.load()));
    CloseAll();
    Latencies all;
    int64_t acked = 0;
    int64_t acked_total = 0;
    int64_t published = 0;
    for (auto& loop : loops_) {
      all.Merge(loop->latencies);
      acked += loop->acked_in_window;
      acked_total += loop->acked_total;
      published += loop->published;
    }
    out.Add("seconds", options_.seconds);
    out.Add("acked_in_window", acked);
    out.Add("acked_total", acked_total);
    out.Add("published_total", published);
    out.Add("msgs_per_s", static_cast<double>(acked) / options_.seconds);
    out.Add("p50_ms", all.PercentileMs(50));
    out.Add("p99_ms", all.PercentileMs(99));
    out.Add("max_ms", all.PercentileMs(100));
    out.Add("broker_cpu_s", cpu_end - cpu_begin);
    out.Add("dropped", shared_.dropped.load());
    if (!shared_.first_error.empty()) out.Add("first_error", shared_.first_error);
    return out;
  }

 private:
  static double Seconds(SteadyClock::duration d) {
    return std::chrono::duration<double>(d).count();
  }

  void StartThreads() {
    for (auto& loop : loops_) {
      guards_.emplace_back(loop->io.get_executor());
      threads_.emplace_back([l = loop.get()] { l->io.run(); });
    }
  }

  // Closes every client on its own thread, then lets the threads finish.
  void CloseAll() {
    shared_.closing = true;
    for (auto& loop : loops_) {
      asio::post(loop->io, [l = loop.get()] {
        for (auto& client : l->clients) client->Close();
        l->clients.clear();
      });
    }
    guards_.clear();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // Takes the next device index until `n` are taken; opens each, then holds it (reads until the
  // connection ends, counting a broker-side close as dropped).
  asio::awaitable<void> Opener(Loop<Stream>& loop, size_t n, bool subscribe) {
    for (;;) {
      size_t index = shared_.next++;
      if (index >= n) co_return;
      auto client =
          std::make_shared<Client<Stream>>(loop.io, tls_ ? &*tls_ : nullptr, devices_[index]);
      std::string why;
      if (!co_await client->Open(options_, endpoint_, subscribe, &why)) {
        ++shared_.failed;
        shared_.Fail(devices_[index].id + ": " + why);
        continue;
      }
      loop.clients.push_back(client);
      ++shared_.opened;
      if (subscribe) asio::co_spawn(loop.io, Hold(client), asio::detached);
    }
  }

  asio::awaitable<void> Hold(std::shared_ptr<Client<Stream>> client) {
    std::string why;
    while (co_await client->Read(&why)) {
    }
    if (!shared_.closing) {
      ++shared_.dropped;
      shared_.Fail(client->device().id + " dropped: " + why);
    }
  }

  void QueuePublish(Loop<Stream>& loop, Client<Stream>& c) {
    c.last_id = c.last_id == 65535 ? 1 : static_cast<uint16_t>(c.last_id + 1);
    c.sent_at[c.last_id] = SteadyClock::now();
    mqtt::EncodePublish(false, 1, false, "devices/" + c.device().id + "/messages/events/",
                        c.last_id, payload_, &c.queued);
    ++c.outstanding;
    ++loop.published;
  }

  // Hands queued PUBLISHes to the stream, one write at a time (what arrives meanwhile is
  // batched into the next write).
  asio::awaitable<void> Flush(std::shared_ptr<Client<Stream>> client) {
    std::string why;
    while (!client->queued.empty()) {
      std::string bytes;
      bytes.swap(client->queued);
      if (!co_await client->Write(std::move(bytes), &why)) break;
    }
    client->writing = false;
  }

  void Kick(Loop<Stream>& loop, const std::shared_ptr<Client<Stream>>& client) {
    if (client->writing || client->queued.empty()) return;
    client->writing = true;
    asio::co_spawn(loop.io, Flush(client), asio::detached);
  }

  asio::awaitable<void> Publisher(Loop<Stream>& loop, std::shared_ptr<Client<Stream>> client) {
    ++publishing_;
    for (int i = 0; i < options_.window; ++i) QueuePublish(loop, *client);
    Kick(loop, client);
    std::string why;
    while (client->outstanding > 0) {
      std::optional<mqtt::Packet> packet = co_await client->Read(&why);
      if (!packet) {
        if (!shared_.closing) {
          ++shared_.dropped;
          shared_.Fail(client->device().id + ": " + why);
        }
        break;
      }
      const auto* ack = std::get_if<mqtt::PacketIdOnly>(&*packet);
      if (ack == nullptr || ack->type != mqtt::PacketType::kPuback) continue;
      auto now = SteadyClock::now();
      --client->outstanding;
      ++loop.acked_total;
      if (now >= window_.begin && now < window_.end) {
        ++loop.acked_in_window;
        auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
            now - client->sent_at[ack->packet_id]);
        loop.latencies.Add(static_cast<uint32_t>(micros.count()));
      }
      if (now < window_.end) {
        QueuePublish(loop, *client);
        Kick(loop, client);
      }
    }
    --publishing_;
  }

  Options options_;
  std::vector<DeviceEntry> devices_;
  tcp::endpoint endpoint_;
  std::optional<ssl::context> tls_;
  std::vector<std::unique_ptr<Loop<Stream>>> loops_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  Shared shared_;
  Window window_;
  std::string payload_;
  std::atomic<int> publishing_{0};
};

template <class Stream>
JsonLine RunMode(const Options& options, std::vector<DeviceEntry> devices) {
  Run<Stream> run(options, std::move(devices));
  return options.mode == "idle" ? run.Idle() : run.Telemetry();
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app("MQTT load generator: idle connections' memory, QoS 1 telemetry throughput");
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"idle", "telemetry"}));
  app.add_option("--host", o.host, "Broker address");
  app.add_option("--port", o.port, "Broker port");
  app.add_flag("--tls", o.tls, "Connect with TLS");
  app.add_option("--ca", o.ca_file, "CA (PEM) the broker's chain must verify against");
  app.add_option("--hub-host", o.hub_host, "iothub's --hostname (for keyed devices)");
  app.add_option("--devices", o.devices_file, "Lines of '<id> [<key>]'")->required();
  app.add_option("--broker-pid", o.broker_pid, "Process whose RSS and CPU are read")->required();
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 64));
  app.add_option("--connections", o.connections)->check(CLI::PositiveNumber);
  app.add_option("--concurrency", o.concurrency)->check(CLI::PositiveNumber);
  app.add_option("--keep-alive", o.keep_alive)->check(CLI::Range(0, 65535));
  app.add_option("--clean-session", o.clean_session);
  app.add_option("--settle", o.settle, "Seconds to wait before reading RSS");
  app.add_option("--publishers", o.publishers)->check(CLI::PositiveNumber);
  app.add_option("--window", o.window)->check(CLI::Range(1, 60000));
  app.add_option("--payload", o.payload)->check(CLI::Range(0, 256 * 1024));
  app.add_option("--seconds", o.seconds)->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup)->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  Result<std::vector<DeviceEntry>> devices = ReadDevices(o.devices_file);
  if (!devices) {
    std::fprintf(stderr, "mqtt_load: %s\n", devices.error().ToString().c_str());
    return 2;
  }
  JsonLine result = o.tls ? RunMode<ssl::stream<tcp::socket>>(o, std::move(*devices))
                          : RunMode<tcp::socket>(o, std::move(*devices));
  std::printf("%s\n", result.str().c_str());
  return 0;
}

}  // namespace
}  // namespace iothub::bench

int main(int argc, char** argv) { return iothub::bench::Main(argc, argv); }
