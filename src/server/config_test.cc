#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace iothub::server {
namespace {

Result<Invocation> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "iothubd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

Config ParseOk(std::vector<std::string> args) {
  auto r = Parse(std::move(args));
  EXPECT_TRUE(r) << r.error().ToString();
  if (!r) return {};
  EXPECT_FALSE(r->print_and_exit.has_value());
  return r->config;
}

std::string ParseError(std::vector<std::string> args) {
  auto r = Parse(std::move(args));
  if (r) return "(parsed)";
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  return r.error().message();
}

TEST(ConfigTest, DefaultsMatchTheDocumentation) {
  Config c = ParseOk({});
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.hostname, "localhost");
  EXPECT_EQ(c.bind_address, "127.0.0.1");
  EXPECT_EQ(c.mqtt_port, 8883);
  EXPECT_EQ(c.amqp_port, 5671);
  EXPECT_EQ(c.https_port, 443);
  EXPECT_EQ(c.plain_mqtt_port, 0);
  EXPECT_EQ(c.plain_amqp_port, 0);
  EXPECT_EQ(c.plain_http_port, 0);
  EXPECT_EQ(c.tls_cert, "");
  EXPECT_EQ(c.tls_key, "");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.shards, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(c.c2d_max_queue_depth, 50u);
  EXPECT_EQ(c.c2d_default_ttl_seconds, 3600u);
  EXPECT_EQ(c.c2d_max_ttl_seconds, 172800u);
  EXPECT_EQ(c.c2d_lock_timeout_seconds, 60u);
  EXPECT_EQ(c.c2d_max_delivery_count, 10u);
  EXPECT_FALSE(c.c2d_lock_expiry_counts_as_delivery);
  EXPECT_EQ(c.mqtt_session_expiry_seconds, 604800u);
  EXPECT_EQ(c.feedback_batch_size, 64u);
  EXPECT_EQ(c.feedback_batch_interval_ms, 15000u);
  EXPECT_EQ(c.telemetry_partitions, 4u);
  EXPECT_EQ(c.telemetry_retention_hours, 24u);
  EXPECT_EQ(c.telemetry_max_bytes_per_partition, uint64_t{1} << 30);
}

TEST(ConfigTest, EveryOptionIsSettable) {
  testing::TempDir dir;
  std::string cert = dir.str() + "/c.pem", key = dir.str() + "/k.pem";
  std::ofstream(cert) << "x";
  std::ofstream(key) << "x";
  Config c = ParseOk({"--data-dir",
                      "/var/lib/iothub",
                      "--hostname",
                      "hub.example.com",
                      "--bind",
                      "0.0.0.0",
                      "--mqtt-port",
                      "18883",
                      "--amqp-port",
                      "15671",
                      "--https-port",
                      "1443",
                      "--plain-mqtt-port",
                      "1883",
                      "--plain-amqp-port",
                      "5672",
                      "--plain-http-port",
                      "8080",
                      "--tls-cert",
                      cert,
                      "--tls-key",
                      key,
                      "--log-level",
                      "debug",
                      "--shards",
                      "3",
                      "--c2d-max-queue-depth",
                      "7",
                      "--c2d-default-ttl",
                      "60",
                      "--c2d-max-ttl",
                      "120",
                      "--c2d-lock-timeout",
                      "5",
                      "--c2d-max-delivery-count",
                      "100",
                      "--c2d-lock-expiry-counts-as-delivery",
                      "--mqtt-session-expiry",
                      "0",
                      "--feedback-batch-size",
                      "2",
                      "--feedback-batch-interval-ms",
                      "100",
                      "--telemetry-partitions",
                      "8",
                      "--telemetry-retention-hours",
                      "2",
                      "--telemetry-max-bytes-per-partition",
                      "0"});
  EXPECT_EQ(c.data_dir, "/var/lib/iothub");
  EXPECT_EQ(c.hostname, "hub.example.com");
  EXPECT_EQ(c.bind_address, "0.0.0.0");
  EXPECT_EQ(c.mqtt_port, 18883);
  EXPECT_EQ(c.amqp_port, 15671);
  EXPECT_EQ(c.https_port, 1443);
  EXPECT_EQ(c.plain_mqtt_port, 1883);
  EXPECT_EQ(c.plain_amqp_port, 5672);
  EXPECT_EQ(c.plain_http_port, 8080);
  EXPECT_EQ(c.tls_cert, cert);
  EXPECT_EQ(c.tls_key, key);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.shards, 3u);
  EXPECT_EQ(c.c2d_max_queue_depth, 7u);
  EXPECT_EQ(c.c2d_default_ttl_seconds, 60u);
  EXPECT_EQ(c.c2d_max_ttl_seconds, 120u);
  EXPECT_EQ(c.c2d_lock_timeout_seconds, 5u);
  EXPECT_EQ(c.c2d_max_delivery_count, 100u);
  EXPECT_TRUE(c.c2d_lock_expiry_counts_as_delivery);
  EXPECT_EQ(c.mqtt_session_expiry_seconds, 0u);
  EXPECT_EQ(c.feedback_batch_size, 2u);
  EXPECT_EQ(c.feedback_batch_interval_ms, 100u);
  EXPECT_EQ(c.telemetry_partitions, 8u);
  EXPECT_EQ(c.telemetry_retention_hours, 2u);
  EXPECT_EQ(c.telemetry_max_bytes_per_partition, 0u);
}

TEST(ConfigTest, ConfigFileSetsOptionsAndTheCommandLineWins) {
  testing::TempDir dir;
  std::string file = dir.str() + "/iothubd.toml";
  std::ofstream(file) << "# comment\nhostname = \"file.example.com\"\nmqtt-port = 1111\n"
                         "c2d-max-delivery-count = 3\nc2d-lock-expiry-counts-as-delivery = true\n";
  Config c = ParseOk({"--config", file, "--mqtt-port", "2222"});
  EXPECT_EQ(c.hostname, "file.example.com");
  EXPECT_EQ(c.mqtt_port, 2222);
  EXPECT_EQ(c.c2d_max_delivery_count, 3u);
  EXPECT_TRUE(c.c2d_lock_expiry_counts_as_delivery);
}

TEST(ConfigTest, ConfigFileValuesAreValidated) {
  testing::TempDir dir;
  std::string file = dir.str() + "/iothubd.toml";
  std::ofstream(file) << "c2d-max-delivery-count = 101\n";
  EXPECT_NE(ParseError({"--config", file}).find("--c2d-max-delivery-count"), std::string::npos);
}

TEST(ConfigTest, UnknownKeyInConfigFileIsAnError) {
  testing::TempDir dir;
  std::string file = dir.str() + "/iothubd.toml";
  std::ofstream(file) << "mqtt-prot = 1\n";
  EXPECT_NE(ParseError({"--config", file}).find("mqtt-prot"), std::string::npos);
}

TEST(ConfigTest, MissingConfigFileIsAnError) {
  std::string message = ParseError({"--config", "/nonexistent/iothubd.toml"});
  EXPECT_NE(message.find("/nonexistent/iothubd.toml"), std::string::npos) << message;
}

TEST(ConfigTest, UnknownOptionIsAnError) {
  EXPECT_EQ(ParseError({"--mqtt-prot", "1"}), "unknown option --mqtt-prot");
  EXPECT_EQ(ParseError({"--hostname", "h", "--x=1"}), "unknown option --x=1");
  EXPECT_EQ(ParseError({"stray"}), "unexpected argument 'stray'");
}

TEST(ConfigTest, PortOutOfRangeIsAnError) {
  std::string message = ParseError({"--mqtt-port", "70000"});
  EXPECT_NE(message.find("--mqtt-port"), std::string::npos) << message;
  EXPECT_NE(ParseError({"--https-port", "-1"}), "(parsed)");
  EXPECT_NE(ParseError({"--amqp-port", "abc"}), "(parsed)");
}

TEST(ConfigTest, SamePortTwiceIsAnError) {
  EXPECT_EQ(ParseError({"--plain-http-port", "8883"}),
            "--mqtt-port and --plain-http-port are both 8883");
  // Off ports never collide.
  ParseOk({"--mqtt-port", "0", "--amqp-port", "0"});
}

TEST(ConfigTest, LimitsAreChecked) {
  for (std::vector<std::string> bad :
       std::vector<std::vector<std::string>>{{"--c2d-max-delivery-count", "0"},
                                             {"--c2d-max-delivery-count", "101"},
                                             {"--c2d-max-ttl", "59"},
                                             {"--c2d-max-queue-depth", "0"},
                                             {"--c2d-lock-timeout", "0"},
                                             {"--shards", "0"},
                                             {"--telemetry-partitions", "0"},
                                             {"--feedback-batch-size", "0"},
                                             {"--log-level", "verbose"}}) {
    std::string message = ParseError(bad);
    EXPECT_NE(message.find(bad[0]), std::string::npos) << message;
  }
  EXPECT_EQ(ParseError({"--c2d-default-ttl", "200", "--c2d-max-ttl", "100"}),
            "--c2d-default-ttl (200) must not exceed --c2d-max-ttl (100)");
}

TEST(ConfigTest, HostNameMayBeANameOrAnAddress) {
  EXPECT_EQ(ParseOk({"--hostname", "my-hub.local"}).hostname, "my-hub.local");
  EXPECT_EQ(ParseOk({"--hostname", "127.0.0.23"}).hostname, "127.0.0.23");
  EXPECT_EQ(ParseOk({"--hostname", "::1"}).hostname, "::1");
  for (std::string bad : {"hub:443", "https://hub", "", "-hub", "a..b", "10.0.0.300"}) {
    std::string message = ParseError({"--hostname", bad});
    EXPECT_NE(message.find("--hostname"), std::string::npos) << bad << ": " << message;
  }
}

TEST(ConfigTest, BindMustBeAnAddress) {
  EXPECT_EQ(ParseOk({"--bind", "::"}).bind_address, "::");
  std::string message = ParseError({"--bind", "localhost"});
  EXPECT_NE(message.find("is not an IPv4 or IPv6 address"), std::string::npos) << message;
}

TEST(ConfigTest, TlsCertAndKeyComeTogether) {
  testing::TempDir dir;
  std::string cert = dir.str() + "/c.pem";
  std::ofstream(cert) << "x";
  EXPECT_EQ(ParseError({"--tls-cert", cert}), "--tls-cert requires --tls-key");
  EXPECT_EQ(ParseError({"--tls-key", cert}), "--tls-key requires --tls-cert");
  std::string message = ParseError({"--tls-cert", cert, "--tls-key", dir.str() + "/none.pem"});
  EXPECT_NE(message.find("--tls-key"), std::string::npos) << message;
}

TEST(ConfigTest, HelpListsEveryOptionWithItsDefault) {
  auto r = Parse({"--help"});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->print_and_exit.has_value());
  const std::string& help = *r->print_and_exit;
  for (const char* option : {"--config",
                             "--data-dir",
                             "--hostname",
                             "--bind",
                             "--mqtt-port",
                             "--amqp-port",
                             "--https-port",
                             "--plain-mqtt-port",
                             "--plain-amqp-port",
                             "--plain-http-port",
                             "--tls-cert",
                             "--tls-key",
                             "--log-level",
                             "--shards",
                             "--c2d-max-queue-depth",
                             "--c2d-default-ttl",
                             "--c2d-max-ttl",
                             "--c2d-lock-timeout",
                             "--c2d-max-delivery-count",
                             "--c2d-lock-expiry-counts-as-delivery",
                             "--feedback-batch-size",
                             "--feedback-batch-interval-ms",
                             "--telemetry-partitions",
                             "--telemetry-retention-hours",
                             "--telemetry-max-bytes-per-partition",
                             "--version"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
  for (const char* default_value : {"./data", "localhost", "127.0.0.1", "8883", "5671", "443",
                                    "172800", "15000", "1073741824"}) {
    EXPECT_NE(help.find(default_value), std::string::npos) << default_value;
  }
}

TEST(ConfigTest, VersionPrintsAndExits) {
  auto r = Parse({"--version"});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->print_and_exit.has_value());
  EXPECT_EQ(*r->print_and_exit, VersionText() + "\n");
}

}  // namespace
}  // namespace iothub::server
