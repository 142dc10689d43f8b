// Revocation through the official Node SDKs on every device transport (PROTOCOL.md,
// "Revocation"): revocation_compat.js connects a device app over Mqtt, MqttWs, Amqp, AmqpWs and
// Http, lets it receive one C2D message, then deletes the device, deletes and re-creates it,
// disables it, or gives it new keys with azure-iothub's Registry; each test here judges one case:
// the app hears that its connection ended (an UnauthorizedError, not endless reconnecting),
// receives nothing sent after the change, and cannot send telemetry any more.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/compat/node_sdk.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

class RevocationCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_ = new std::string();
    run_ = new SuiteRun(
        RunSuiteScript("revocation_compat.js",
                       {"azure-iothub", "azure-iot-common", "azure-iot-device",
                        "azure-iot-device-mqtt", "azure-iot-device-amqp", "azure-iot-device-http"},
                       {"--shards", "2"}, {{"owner", "iothubowner"}, {"service", "service"}},
                       /*mqtt_port=*/8883, /*amqp_port=*/5671, std::chrono::minutes(2), log_));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete log_;
  }
  void SetUp() override {
    ASSERT_EQ(run_->error, "") << "cannot run the revocation cases against iothubd";
    ASSERT_EQ(run_->Step("open")["ok"], true) << run_->Step("open") << Log();
  }
  static std::string Log() { return HubLogTail(*log_); }

  // Every case of one change, on each transport.
  void ForEachTransport(const char* change, const std::function<void(const json&)>& check) {
    for (const char* transport : {"Mqtt", "MqttWs", "Amqp", "AmqpWs", "Http"}) {
      std::string name = std::string(transport) + "-" + change;
      SCOPED_TRACE(name);
      json r = run_->Step(name.c_str());
      ASSERT_EQ(r["ok"], true) << r << Log();
      // The device app took the message sent before the change, and nothing after it.
      EXPECT_EQ(r["received"], json::array({"before"})) << r;
      // Its connection ended within a second of the change: the transport says so. (HTTP holds
      // no connection: its next request is refused, below.)
      json ended;
      for (const json& e : r["events"]) {
        if (e.value("event", "") == "transport disconnect") {
          ended = e;
          break;
        }
      }
      if (std::string(transport) != "Http") {
        ASSERT_TRUE(ended.is_object()) << r;
        EXPECT_LT(ended.value("ms", 1e9), 1000) << r;
      }
      // Over AMQP the SDK is told UnauthorizedError (amqp:unauthorized-access), and stops.
      if (std::string(transport).starts_with("Amqp")) {
        EXPECT_EQ(ended.value("error", ""), "UnauthorizedError") << r;
      }
      // Telemetry after the change is refused as unauthorized: the SDK does not reconnect forever.
      EXPECT_EQ(r["telemetry"].value("error", ""), "UnauthorizedError") << r;
      check(r);
    }
  }

  static inline SuiteRun* run_ = nullptr;
  static inline std::string* log_ = nullptr;
};

TEST_F(RevocationCompatTest, DeletingTheDeviceEndsItsConnectionOnEveryTransport) {
  ForEachTransport("delete", [](const json& r) {
    EXPECT_EQ(r["sentAfter"].value("error", ""), "DeviceNotFoundError") << r;
  });
}

// A device created again under the same id is a new identity: the old app's connection ends and
// never sees the new device's messages.
TEST_F(RevocationCompatTest, ReCreatingTheDeviceEndsTheOldIdentitysConnection) {
  ForEachTransport("recreate", [](const json& r) {
    EXPECT_EQ(r["sentAfter"].value("result", ""), "MessageEnqueued") << r;
  });
}

// A disabled device's connection ends; a C2D message sent to it is accepted and queued, as IoT
// Hub does, and not delivered.
TEST_F(RevocationCompatTest, DisablingTheDeviceEndsItsConnectionAndQueuesWhatIsSent) {
  ForEachTransport("disable", [](const json& r) {
    EXPECT_EQ(r["sentAfter"].value("result", ""), "MessageEnqueued") << r;
  });
}

TEST_F(RevocationCompatTest, NewKeysEndTheConnectionMadeWithTheOldKey) {
  ForEachTransport("rekey", [](const json& r) {
    EXPECT_EQ(r["sentAfter"].value("result", ""), "MessageEnqueued") << r;
  });
}

}  // namespace
}  // namespace iothub::testing
