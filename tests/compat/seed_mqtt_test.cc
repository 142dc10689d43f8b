// Issue 4's "Done means", end to end with the real programs: start iothubd; create a device with
// `iothub device create`; run a device app on the official Node SDK over MQTT on port 8883
// (seed_mqtt_device.js, azure-iot-device-mqtt) that prints each C2D message's data and custom
// properties; send it messages with `iothub c2d send ... --property ... --ack full --wait-feedback`
// (as a user would in a second terminal): the app prints them, and the CLI prints the Success
// feedback and exits 0. A message sent while the device is offline is delivered when it comes
// online, and its sender sees Success too.
//
// The hub gets its own loopback address with HTTPS on 443 (the CLI's default port) and MQTT/TLS on
// 8883 (the only port of the SDK's Mqtt transport) — node_sdk.h. Feedback batches go out after
// 500 ms instead of 15 s; nothing else differs from the defaults.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/compat/node_sdk.h"
#include "tests/integration/hub_process.h"

namespace iothub::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string Problem() {
  std::string problem = CliProblem();
  return problem.empty() ? NodeSdkProblem({"azure-iot-device", "azure-iot-device-mqtt"}) : problem;
}

// The JSON lines a device app printed whose "event" is `event`.
std::vector<json> Lines(const std::string& out, const std::string& event) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == event) lines.push_back(j);
  }
  return lines;
}

class SeedMqttTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new SuiteHub(Problem(), {"--feedback-batch-interval-ms", "500"}, 8883);
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(suite_->Stop(), "");
    delete suite_;
  }
  void SetUp() override { ASSERT_EQ(suite_->error, "") << "cannot run the walk-through"; }

  // A new device's connection string.
  static std::string ConnectionString(const std::string& device_id) {
    suite_->RunCli({"device", "create", device_id}, "create-" + device_id);
    return suite_->DeviceConnectionString(device_id);
  }
  // The device app, in the background, expecting `count` messages.
  static std::unique_ptr<ChildProcess> StartDevice(const std::string& connection_string, int count,
                                                   const std::string& name) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{"node", (CompatDir() / "seed_mqtt_device.js").string(),
                                 connection_string, std::to_string(count), "60000"},
        suite_->Capture(name),
        ChildEnvironment{.set = {"NODE_EXTRA_CA_CERTS=" + suite_->hub.ca()}});
  }
  // `c2d send` in the background with two custom properties.
  static std::unique_ptr<ChildProcess> Send(const std::string& device_id, const std::string& body,
                                            const std::string& message_id) {
    return suite_->StartCli(
        {"c2d", "send", device_id, body, "--message-id", message_id, "--property", "color=blue",
         "--property", "note=a=b&c/d e", "--ack", "full", "--wait-feedback", "--timeout", "60"},
        "send-" + message_id);
  }
  // The sender's feedback line says Success for the message.
  static void ExpectSuccessFeedback(ChildProcess& send, const std::string& device_id,
                                    const std::string& message_id) {
    std::optional<int> status = send.WaitForExit(40s);
    ASSERT_EQ(status, std::optional<int>(0)) << send.out() << send.err() << suite_->Log();
    ExpectCliSuccessFeedback(send.out(), device_id, message_id);
  }

  static inline SuiteHub* suite_ = nullptr;
};

TEST_F(SeedMqttTest, DeviceAppPrintsEachMessageAndTheSenderSeesSuccess) {
  std::string cs = ConnectionString("seed-mqtt-1");
  ASSERT_NE(cs.find("DeviceId=seed-mqtt-1;"), std::string::npos) << cs;
  auto device = StartDevice(cs, 2, "device-1");
  ASSERT_TRUE(device->WaitForStdout("\"opened\"", 30s))
      << device->out() << device->err() << suite_->Log();
  for (const char* id : {"seed-m1", "seed-m2"}) {
    auto send = Send("seed-mqtt-1", std::string("{\"setpoint\":\"") + id + "\"}", id);
    ExpectSuccessFeedback(*send, "seed-mqtt-1", id);
  }
  ASSERT_EQ(device->WaitForExit(30s), std::optional<int>(0)) << device->out() << device->err();
  std::vector<json> messages = Lines(device->out(), "message");
  ASSERT_EQ(messages.size(), 2u) << device->out();
  for (size_t i = 0; i < 2; ++i) {
    std::string id = i == 0 ? "seed-m1" : "seed-m2";
    EXPECT_EQ(messages[i]["messageId"], id) << messages[i];
    EXPECT_EQ(messages[i]["data"], "{\"setpoint\":\"" + id + "\"}") << messages[i];
    EXPECT_EQ(messages[i]["properties"]["color"], "blue") << messages[i];
    EXPECT_EQ(messages[i]["properties"]["note"], "a=b&c/d e") << messages[i];
    EXPECT_EQ(messages[i]["completed"], "MessageCompleted") << messages[i];
  }
}

TEST_F(SeedMqttTest, MessageSentWhileOfflineArrivesWhenTheDeviceConnects) {
  std::string cs = ConnectionString("seed-mqtt-2");
  auto send = Send("seed-mqtt-2", "queued", "seed-offline");
  // The CLI has sent it (and now waits for feedback) before the device exists on the wire.
  ASSERT_TRUE(send->WaitForStdout("Sent message", 20s)) << send->out() << send->err();
  auto device = StartDevice(cs, 1, "device-2");
  ExpectSuccessFeedback(*send, "seed-mqtt-2", "seed-offline");
  ASSERT_EQ(device->WaitForExit(30s), std::optional<int>(0)) << device->out() << device->err();
  std::vector<json> messages = Lines(device->out(), "message");
  ASSERT_EQ(messages.size(), 1u) << device->out();
  EXPECT_EQ(messages[0]["data"], "queued");
  EXPECT_EQ(messages[0]["properties"]["note"], "a=b&c/d e") << messages[0];
}

}  // namespace
}  // namespace iothub::testing
