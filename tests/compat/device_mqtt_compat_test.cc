// The MQTT device endpoint of a real iothubd as the official device SDK sees it (azure-iot-device
// Client + azure-iot-device-mqtt `Mqtt` and `MqttWs`, pinned in package.json):
// device_mqtt_compat.js opens, sends telemetry with system and custom properties, receives C2D
// messages sent with the `iothub` CLI (every property intact, `= & / space` included), completes
// them (the CLI's --wait-feedback sees Success), rides the token-renewal reconnect and still
// receives C2D, and records the SDK's view of refusals. The tests judge its output.
//
// The SDK's Mqtt transport speaks only to port 8883 and MqttWs only to 443, so the hub runs on a
// loopback address of its own with HTTPS on 443 and MQTT/TLS on 8883 (node_sdk.h, Port443Hub).
// Feedback batches go out after 200 ms instead of 15 s.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/compat/node_sdk.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class DeviceMqttCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { error_ = new std::string(Run()); }
  static void TearDownTestSuite() {
    delete error_;
    delete results_;
    delete log_;
  }
  void SetUp() override {
    ASSERT_EQ(*error_, "") << "cannot run the Node device SDK over MQTT against iothubd";
  }

  // Runs the hub and the script once; "" when the output can be judged.
  static std::string Run() {
    results_ = new json(json::object());
    log_ = new std::string();
    if (std::string problem = CliProblem(); !problem.empty()) return problem;
    std::string problem =
        NodeSdkProblem({"azure-iot-device", "azure-iot-device-mqtt", "azure-iothub"});
    if (!problem.empty()) return problem;
    TempDir dir;
    Port443Hub hub;
    std::string error =
        hub.Start(dir.str(), {"--shards", "2", "--feedback-batch-interval-ms", "200"}, 8883);
    if (!error.empty()) return error;
    json strings = hub.ConnectionStrings();
    if (!strings.is_object() || !strings.contains("iothubowner")) {
      return "no iothubowner connection string in " + hub.data();
    }
    std::string config = dir.str() + "/config.json";
    std::ofstream(config) << json{
        {"owner", strings["iothubowner"]},
        {"cli", CliPath()},
        {"dataDir", hub.data()}}.dump();
    NodeRun node = RunNodeScript("device_mqtt_compat.js", {config}, hub.ca(), dir.str() + "/node",
                                 std::chrono::minutes(4));
    *log_ = hub.process().err();
    std::string stopped = hub.Stop();
    if (!node.json.is_object() || node.json.contains("fatal")) {
      return "device_mqtt_compat.js failed (exit " +
             (node.exit ? std::to_string(*node.exit) : "none") + "): " + node.out + node.err +
             "\nhub stderr: " + *log_;
    }
    *results_ = std::move(node.json);
    return stopped;
  }

  static json R(const std::string& step) {
    auto it = results_->find(step);
    return it == results_->end() ? json{{"ok", false}, {"error", "step missing"}} : *it;
  }
  static std::string Log() { return HubLogTail(*log_, 6000); }

  static inline std::string* error_ = nullptr;
  static inline json* results_ = nullptr;
  static inline std::string* log_ = nullptr;
};

const char* const kTransports[] = {"Mqtt", "MqttWs"};

std::string DeviceOf(const std::string& transport) {
  return transport == "Mqtt" ? "mqtt-dev-1" : "mqttws-dev-1";
}

TEST_F(DeviceMqttCompatTest, OpenSendEventAndCloseSucceed) {
  for (std::string t : kTransports) {
    EXPECT_EQ(R(t + ".open")["ok"], true) << t << ": " << R(t + ".open") << Log();
    for (const char* s : {".sendEvent", ".sendEventPlain"}) {
      EXPECT_EQ(R(t + s)["result"], "MessageEnqueued") << t << s << ": " << R(t + s);
    }
    EXPECT_EQ(R(t + ".close")["ok"], true) << t << ": " << R(t + ".close");
  }
}

TEST_F(DeviceMqttCompatTest, TelemetryKeepsSystemAndCustomProperties) {
  for (std::string t : kTransports) {
    json events = R(t + ".telemetry").value("events", json::array());
    ASSERT_EQ(events.size(), 2u) << t << ": " << R(t + ".telemetry") << Log();
    json e = events[0];
    EXPECT_EQ(e["deviceId"], DeviceOf(t)) << e;
    EXPECT_EQ(e["bodyText"], "{\"via\":\"" + t + "\"}") << e;
    EXPECT_EQ(e["properties"], json({{"k y", "a=b&c/d e+f%"}, {"color", "red"}})) << t << e;
    json system = e["systemProperties"];
    EXPECT_EQ(system["message-id"], t + " evt/1=") << e;
    EXPECT_EQ(system["correlation-id"], "corr&1") << e;
    EXPECT_EQ(system["user-id"], "user-1") << e;
    EXPECT_EQ(system["content-type"], "application/json") << e;
    EXPECT_EQ(system["content-encoding"], "utf-8") << e;
    EXPECT_EQ(system["iothub-connection-device-id"], DeviceOf(t)) << e;
    EXPECT_EQ(events[1]["bodyText"], "plain") << events[1];
    EXPECT_EQ(events[1].value("properties", json::object()), json::object()) << events[1];
  }
}

TEST_F(DeviceMqttCompatTest, C2dFromTheCliArrivesWithEveryProperty) {
  for (std::string t : kTransports) {
    json step = R(t + ".c2d");
    json m = step["received"];
    ASSERT_TRUE(m.is_object()) << t << ": nothing arrived: " << step << Log();
    EXPECT_EQ(m["data"], "{\"hello\":\"" + t + "\"}") << m;
    EXPECT_EQ(m["messageId"], t + "-c2d-1") << m;
    EXPECT_EQ(m["correlationId"], "corr " + t + "-c2d-1") << m;
    EXPECT_EQ(m["to"], "/devices/" + DeviceOf(t) + "/messages/deviceBound") << m;
    EXPECT_EQ(m["contentType"], "application/json") << m;
    EXPECT_EQ(m["contentEncoding"], "utf-8") << m;
    EXPECT_TRUE(m["expiryTimeUtc"].is_string()) << m;
    json props = m["properties"];
    EXPECT_EQ(props["k"], "a=b&c/d e") << t << m;
    EXPECT_EQ(props["plus"], "a+b%") << t << m;
    EXPECT_EQ(props["path"], "/x/y") << t << m;
  }
}

TEST_F(DeviceMqttCompatTest, CompletionGivesSuccessFeedbackToTheSender) {
  for (std::string t : kTransports) {
    json step = R(t + ".c2d");
    EXPECT_EQ(step["complete"], "MessageCompleted") << t << ": " << step;
    json cli = step["cli"];
    ASSERT_EQ(cli["exit"], 0) << t << ": " << cli << Log();
    EXPECT_EQ(cli["json"]["feedback"]["statusCode"], "Success") << cli;
    EXPECT_EQ(cli["json"]["feedback"]["deviceId"], DeviceOf(t)) << cli;
    EXPECT_EQ(cli["json"]["feedback"]["originalMessageId"], t + "-c2d-1") << cli;
  }
}

TEST_F(DeviceMqttCompatTest, TokenRenewalReconnectStillReceivesC2d) {
  EXPECT_EQ(R("renewal.open")["ok"], true) << R("renewal.open") << Log();
  json before = R("renewal.before");
  ASSERT_TRUE(before["received"].is_object()) << before << Log();
  EXPECT_EQ(before["received"]["data"], "before");
  json after = R("renewal.after");
  // The renewals did happen (each one a DISCONNECT and a CONNECT without SUBSCRIBE) ...
  EXPECT_GE(after.value("renewalsBeforeSend", 0), before.value("renewals", 0) + 2) << after;
  // ... and the session kept its subscription.
  ASSERT_TRUE(after["received"].is_object()) << "C2D lost after the renewal: " << after << Log();
  EXPECT_EQ(after["received"]["data"], "after");
  EXPECT_EQ(after["received"]["properties"]["k"], "a=b&c/d e") << after;
  EXPECT_EQ(after["sendEventAfter"], "MessageEnqueued") << after;
  EXPECT_EQ(after["cli"]["json"]["feedback"]["statusCode"], "Success") << after;
  EXPECT_EQ(R("renewal.close")["ok"], true) << R("renewal.close");
}

TEST_F(DeviceMqttCompatTest, WrongKeyOrUnknownDeviceIsUnauthorizedError) {
  for (const char* step : {"wrongKey.Mqtt", "wrongKey.MqttWs", "unknownDevice.Mqtt"}) {
    json refused = R(step);
    EXPECT_EQ(refused["ok"], false) << step << ": " << refused;
    EXPECT_EQ(refused["error"], "UnauthorizedError") << step << ": " << refused;
  }
}

}  // namespace
}  // namespace iothub::testing
