#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"

namespace iothub::server {

// Everything iothubd can be told, with its default. Set from the command line and from a config
// file (`--config FILE`, TOML or INI with the long option names as keys; the command line wins).
// A port of 0 turns that listener off.
struct Config {
  std::string data_dir = "./data";
  std::string hostname = "localhost";  // HostName of connection strings and the certificate's SAN
  std::string bind_address = "127.0.0.1";  // local-only by default; "0.0.0.0" or "::" for all

  uint16_t mqtt_port = 8883;
  uint16_t amqp_port = 5671;
  uint16_t https_port = 443;
  uint16_t plain_mqtt_port = 0;  // development only, off unless asked for
  uint16_t plain_amqp_port = 0;
  uint16_t plain_http_port = 0;

  std::string tls_cert;  // externally provided chain (PEM, leaf first); empty: generate our own
  std::string tls_key;   // its private key; given together with tls_cert

  std::string log_level = "info";  // trace | debug | info | warn | error
  uint32_t shards = 0;             // after parsing: >= 1 (default: the number of cores)

  // C2D (ARCHITECTURE.md, "C2D semantics").
  uint32_t c2d_max_queue_depth = 50;
  uint32_t c2d_default_ttl_seconds = 3600;
  uint32_t c2d_max_ttl_seconds = 172800;
  uint32_t c2d_lock_timeout_seconds = 60;
  uint32_t c2d_max_delivery_count = 10;  // 1..100
  bool c2d_lock_expiry_counts_as_delivery = false;

  // MQTT: a persistent session whose device stays away this long is dropped (0: never).
  uint32_t mqtt_session_expiry_seconds = 7 * 24 * 3600;

  // Feedback batching.
  uint32_t feedback_batch_size = 64;
  uint32_t feedback_batch_interval_ms = 15000;

  // Telemetry log.
  uint32_t telemetry_partitions = 4;
  uint32_t telemetry_retention_hours = 24;
  uint64_t telemetry_max_bytes_per_partition = uint64_t{1} << 30;  // 0: no size limit
};

// What the command line asks for: run with a configuration, or print a text and exit 0.
struct Invocation {
  Config config;                              // meaningful when print_and_exit is empty
  std::optional<std::string> print_and_exit;  // --help / --version: print to stdout, exit 0
};

// Parses iothubd's command line (and the file named by --config). On a bad option, value or
// combination returns InvalidArgument with one line fit for the operator, e.g.
// "--mqtt-port: Value 70000 not in range 0 to 65535" or "--tls-cert requires --tls-key".
// Pure: reads the config file if one is named, touches nothing else.
Result<Invocation> ParseCommandLine(int argc, const char* const* argv);

// "iothubd 0.1.0"
std::string VersionText();

}  // namespace iothub::server
