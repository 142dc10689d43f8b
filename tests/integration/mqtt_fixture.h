#pragma once

// A real iothubd with its MQTT listeners, shared by the cases of one MQTT integration suite
// (mqtt_*_test.cc): MQTT over TLS, plain MQTT and HTTPS (REST and /$iothub/websocket), each on a
// free port of the hub's own loopback address. --hostname is that address, so the generated
// certificate carries it as an IP SAN and every client (mosquitto, paho, OpenSSL, curl) checks the
// certificate against the address it connects to. The helpers create devices, make SAS tokens,
// send C2D messages and read telemetry and feedback over the REST API with curl.
//
// Everything runs on the test's thread.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/hub_process.h"
#include "tests/integration/mqtt_wire.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {

// The API version every MQTT user name carries (what the SDKs send).
inline constexpr char kMqttApiVersion[] = "api-version=2021-04-12";

struct RestResult {
  int status = 0;
  std::string body;
  std::string headers;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
  // A response header ("" when absent), name matched case-insensitively.
  std::string Header(const std::string& name) const;
};

class MqttHub {
 public:
  // Starts iothubd (more options in `extra_args`) and waits until it is up; "" or why not. With
  // `amqp`, AMQP over TLS and plain AMQP listen too (on free ports), otherwise they are off.
  std::string Start(std::vector<std::string> extra_args = {}, bool amqp = false);
  // SIGTERM and wait; "" when it exited 0.
  std::string Stop();
  // kill -9, then iothubd again on the same address, ports and data directory: a crash and a
  // restart. "" when it is up again. The log of the run before is lost (the captures restart).
  std::string KillAndRestart();

  const std::string& host() const { return address_; }  // also the --hostname
  const std::string& address() const { return address_; }
  uint16_t mqtt_port() const { return mqtt_port_; }
  uint16_t plain_port() const { return plain_port_; }
  uint16_t https_port() const { return https_port_; }
  uint16_t amqp_port() const { return amqp_port_; }  // 0 unless started with `amqp`
  uint16_t plain_amqp_port() const { return plain_amqp_port_; }
  std::string data() const { return dir_.str() + "/data"; }
  std::string dir() const { return dir_.str(); }
  std::string ca() const { return data() + "/tls/ca.pem"; }
  // The hub's stderr so far (its log), for failure messages.
  std::string log() const { return process_ ? process_->err() : ""; }

  // The `iothubowner` policy's key (connection-strings.json) and a token of any policy.
  std::string PolicyToken(const std::string& policy, const std::string& resource = "") const;
  // A device token for `device_id`, signed with `key`, valid for `life` (negative: expired).
  std::string DeviceToken(const std::string& device_id, const std::string& key,
                          std::chrono::seconds life = std::chrono::hours(1)) const;
  // `<host>/<device>/?api-version=2021-04-12`.
  std::string UserName(const std::string& device_id) const;

  // Creates a device with a fresh primary key and returns it ("" on failure, with the answer in
  // `*why`).
  std::string CreateDevice(const std::string& device_id, bool enabled = true,
                           std::string* why = nullptr);

  // A REST call with the iothubowner policy (`body` sent verbatim; headers "Name: value").
  RestResult Rest(const std::string& method, const std::string& path, const std::string& body = {},
                  const std::vector<std::string>& headers = {});

  // POST /devices/{id}/messages/deviceBound; the HTTP status.
  int SendC2d(const std::string& device_id, const std::string& body,
              const std::vector<std::string>& headers);

  // Every telemetry event of `device_id` (all partitions), in each partition's order.
  nlohmann::json Telemetry(const std::string& device_id);
  // Polls until `count` events of `device_id` are in the log or `limit` passes.
  nlohmann::json WaitTelemetry(const std::string& device_id, size_t count,
                               std::chrono::milliseconds limit = std::chrono::seconds(10));

  // Polls the feedback queue (completing each batch) until a record about `message_id` appears
  // or `limit` passes; the records about it (other records are kept for later calls).
  nlohmann::json WaitFeedback(const std::string& message_id,
                              std::chrono::milliseconds limit = std::chrono::seconds(15));

  // An MQTT connection to the TLS listener (or the plain one), CONNECT sent with `options`, the
  // CONNACK's return code in `*return_code` (-1: none, the connection was closed or timed out).
  std::unique_ptr<mqtt_wire::Connection> Connect(const mqtt_wire::ConnectOptions& options,
                                                 int* return_code, bool tls = true);
  // Connect as `device_id` with a device token from `key`.
  std::unique_ptr<mqtt_wire::Connection> ConnectDevice(const std::string& device_id,
                                                       const std::string& key, int* return_code,
                                                       bool clean_session = true, bool tls = true);
  // Just the TCP/TLS connection, nothing sent.
  std::unique_ptr<mqtt_wire::Connection> OpenRaw(bool tls, std::string* error);

 private:
  TempDir dir_;
  std::unique_ptr<HubProcess> process_;
  std::vector<std::string> args_;  // of the running hub
  std::string address_;
  uint16_t mqtt_port_ = 0, plain_port_ = 0, https_port_ = 0, amqp_port_ = 0, plain_amqp_port_ = 0;
  std::string owner_key_;
  nlohmann::json feedback_records_ = nlohmann::json::array();
  int curl_count_ = 0;
};

// The base of the MQTT suites: one iothubd per suite, shared by its tests (each suite is one ctest
// entry, WHOLE_SUITES). A suite may define `static std::string Prerequisite()` naming a missing
// tool ("" when all is there); its tests then fail with that reason in their SetUp. It may also
// define `static std::vector<std::string> HubArgs()` (more iothubd options) and
// `static bool WithAmqp()` (true: the hub's AMQP listeners are on).
template <typename Suite>
class SharedHubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hub_ = new MqttHub();
    error_ = new std::string(Suite::Prerequisite());
    if (error_->empty()) *error_ = hub_->Start(Suite::HubArgs(), Suite::WithAmqp());
    started_ = error_->empty();
  }
  static void TearDownTestSuite() {
    if (started_) {
      EXPECT_EQ(hub_->Stop(), "");
    }
    delete hub_;
    delete error_;
  }
  static std::string Prerequisite() { return ""; }
  static std::vector<std::string> HubArgs() { return {}; }
  static bool WithAmqp() { return false; }

  // The tail of the hub's stderr, for failure messages.
  static std::string Log() { return HubLogTail(hub_->log()); }

  static inline MqttHub* hub_ = nullptr;
  static inline std::string* error_ = nullptr;
  static inline bool started_ = false;
};

}  // namespace iothub::testing
