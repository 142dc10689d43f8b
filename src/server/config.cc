#include "server/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <thread>
#include <vector>

#include "server/host_names.h"

namespace iothub::server {
namespace {

const CLI::Range kPortRange(0, 65535);

CLI::Validator HostNameValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (IsIpAddress(value) || IsDnsName(value)) return {};
        return "'" + value + "' is not a host name or IP address (give neither port nor scheme)";
      },
      "");
}

CLI::Validator IpAddressValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (IsIpAddress(value)) return {};
        return "'" + value + "' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::)";
      },
      "");
}

// An existing-file check that adds nothing to the option's type name in --help.
CLI::Validator ExistingFile() {
  CLI::Validator v = CLI::ExistingFile;
  v.description("");
  return v;
}

uint32_t DefaultShards() { return std::max(1u, std::thread::hardware_concurrency()); }

// Checks that need several options at once.
Status CheckCombinations(const Config& c) {
  if (c.c2d_default_ttl_seconds > c.c2d_max_ttl_seconds) {
    return InvalidArgument("--c2d-default-ttl (" + std::to_string(c.c2d_default_ttl_seconds) +
                           ") must not exceed --c2d-max-ttl (" +
                           std::to_string(c.c2d_max_ttl_seconds) + ")");
  }
  struct Port {
    const char* option;
    uint16_t port;
  };
  std::vector<Port> ports = {{"--mqtt-port", c.mqtt_port},
                             {"--amqp-port", c.amqp_port},
                             {"--https-port", c.https_port},
                             {"--plain-mqtt-port", c.plain_mqtt_port},
                             {"--plain-amqp-port", c.plain_amqp_port},
                             {"--plain-http-port", c.plain_http_port}};
  for (size_t i = 0; i < ports.size(); ++i) {
    for (size_t j = i + 1; j < ports.size(); ++j) {
      if (ports[i].port != 0 && ports[i].port == ports[j].port) {
        return InvalidArgument(std::string(ports[i].option) + " and " + ports[j].option +
                               " are both " + std::to_string(ports[i].port));
      }
    }
  }
  return Status::Ok();
}

void AddOptions(CLI::App& app, Config& c) {
  app.option_defaults()->always_capture_default();

  app.add_option("--data-dir", c.data_dir,
                 "Directory of the store, TLS files and connection-strings.json")
      ->type_name("DIR");
  app.add_option("--hostname", c.hostname,
                 "Host name (or IP address) clients connect to: HostName of the connection "
                 "strings and the server certificate's SAN")
      ->check(HostNameValidator())
      ->type_name("NAME");
  app.add_option("--bind", c.bind_address,
                 "Address to listen on; 127.0.0.1 is local-only, 0.0.0.0 or :: serves every "
                 "interface")
      ->check(IpAddressValidator())
      ->type_name("ADDR");

  auto port = [&](const char* name, uint16_t& field, const char* what) {
    app.add_option(name, field, std::string(what) + " (0: off)")
        ->check(kPortRange)
        ->type_name("PORT");
  };
  port("--mqtt-port", c.mqtt_port, "MQTT over TLS port");
  port("--amqp-port", c.amqp_port, "AMQP over TLS port");
  port("--https-port", c.https_port, "HTTPS port (REST, device HTTP, WebSockets)");
  port("--plain-mqtt-port", c.plain_mqtt_port, "Unencrypted MQTT port, for development");
  port("--plain-amqp-port", c.plain_amqp_port, "Unencrypted AMQP port, for development");
  port("--plain-http-port", c.plain_http_port, "Unencrypted HTTP port, for development");

  CLI::Option* cert = app.add_option(
      "--tls-cert", c.tls_cert,
      "Server certificate chain (PEM, leaf first) to use instead of generating a CA and "
      "certificate under DIR/tls");
  CLI::Option* key = app.add_option("--tls-key", c.tls_key, "Private key (PEM) of --tls-cert");
  cert->check(ExistingFile())->type_name("FILE")->needs(key);
  key->check(ExistingFile())->type_name("FILE")->needs(cert);

  app.add_option("--log-level", c.log_level, "Log level on stderr")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->type_name("LEVEL");
  c.shards = DefaultShards();
  app.add_option("--shards", c.shards, "Event-loop threads (default: the number of cores)")
      ->check(CLI::Range(1, 1024))
      ->type_name("N");

  app.add_option("--c2d-max-queue-depth", c.c2d_max_queue_depth,
                 "Messages a device's C2D queue may hold")
      ->check(CLI::Range(1, 100000))
      ->type_name("N");
  app.add_option("--c2d-default-ttl", c.c2d_default_ttl_seconds,
                 "C2D time to live (seconds) when the sender sets none")
      ->check(CLI::Range(1, 31536000))
      ->type_name("SECONDS");
  // At least IoT Hub's fixed minimum TTL of one minute, or no sender-set expiry could be valid.
  app.add_option("--c2d-max-ttl", c.c2d_max_ttl_seconds, "Longest C2D time to live (seconds)")
      ->check(CLI::Range(60, 31536000))
      ->type_name("SECONDS");
  app.add_option("--c2d-lock-timeout", c.c2d_lock_timeout_seconds,
                 "Seconds a received C2D message stays locked before it is redelivered")
      ->check(CLI::Range(1, 3600))
      ->type_name("SECONDS");
  app.add_option("--c2d-max-delivery-count", c.c2d_max_delivery_count,
                 "Deliveries before a C2D message is dead-lettered")
      ->check(CLI::Range(1, 100))
      ->type_name("N");
  app.add_flag("--c2d-lock-expiry-counts-as-delivery", c.c2d_lock_expiry_counts_as_delivery,
               "Count an expired lock as a delivery (as an abandon does)");

  app.add_option("--mqtt-session-expiry", c.mqtt_session_expiry_seconds,
                 "Seconds a persistent MQTT session (clean session 0) is kept while its device "
                 "stays away; 0 keeps it until the device is deleted")
      ->type_name("SECONDS");

  app.add_option("--feedback-batch-size", c.feedback_batch_size,
                 "Feedback records per feedback message")
      ->check(CLI::Range(1, 10000))
      ->type_name("N");
  app.add_option("--feedback-batch-interval-ms", c.feedback_batch_interval_ms,
                 "Longest wait (ms) before a partial feedback batch is sent")
      ->check(CLI::Range(1, 3600000))
      ->type_name("MS");

  app.add_option("--telemetry-partitions", c.telemetry_partitions,
                 "Partitions of the telemetry log")
      ->check(CLI::Range(1, 128))
      ->type_name("N");
  app.add_option("--telemetry-retention-hours", c.telemetry_retention_hours,
                 "Hours telemetry is kept")
      ->check(CLI::Range(1, 8760))
      ->type_name("HOURS");
  app.add_option("--telemetry-max-bytes-per-partition", c.telemetry_max_bytes_per_partition,
                 "Bytes a telemetry partition may hold before its oldest records go (0: no limit)")
      ->type_name("BYTES");
}

}  // namespace

std::string VersionText() { return "iothubd 0.1.0"; }

Result<Invocation> ParseCommandLine(int argc, const char* const* argv) {
  Invocation out;
  Config& c = out.config;
  CLI::App app("iothubd: a self-hosted IoT hub speaking Azure IoT Hub's protocols", "iothubd");
  app.set_config("--config", "",
                 "Read options from a TOML/INI file (keys are the long option names, e.g. "
                 "mqtt-port = 8883); the command line wins")
      ->type_name("FILE");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", VersionText());
  AddOptions(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.print_and_exit = app.help();
    return out;
  } catch (const CLI::CallForAllHelp&) {
    out.print_and_exit = app.help("", CLI::AppFormatMode::All);
    return out;
  } catch (const CLI::CallForVersion&) {
    out.print_and_exit = VersionText() + "\n";
    return out;
  } catch (const CLI::ExtrasError&) {
    // CLI11 lists every leftover (an unknown option's value too); name what the operator mistyped.
    std::vector<std::string> extras = app.remaining();
    auto option = std::find_if(extras.begin(), extras.end(),
                               [](const std::string& a) { return a.rfind("-", 0) == 0; });
    if (option != extras.end()) return InvalidArgument("unknown option " + *option);
    return InvalidArgument("unexpected argument '" + extras.front() + "'");
  } catch (const CLI::FileError& e) {
    return InvalidArgument(std::string("--config: ") + e.what());
  } catch (const CLI::ParseError& e) {
    return InvalidArgument(e.what());
  }
  HUB_RETURN_IF_ERROR(CheckCombinations(c));
  return out;
}

}  // namespace iothub::server
