// Issue 5's seed scenario, end to end with the tutorial's own apps (examples/node, run as they
// are, with the SDKs of tests/compat/node_modules through NODE_PATH, so the examples cannot rot):
//   1. CreateDeviceIdentity.js: azure-iothub's Registry creates the device; its primary key forms
//      the device connection string;
//   2. SimulatedDevice.js: an azure-iot-device Client opens, listens for messages, prints their
//      data, ids and custom properties and completes them;
//   3. SendCloudToDeviceMessage.js: an azure-iothub Client (AMQP over TLS on 5671) opens, gets the
//      feedback receiver, sends a message with messageId, correlationId, Property=PropMsg_0 and
//      ack = 'full';
//   4. the device prints it with every property intact; the sender prints a feedback batch whose
//      record has that originalMessageId, the deviceId, the deviceGenerationId and Success.
// Once per device transport: Mqtt (8883), MqttWs (443), Amqp (5671), AmqpWs (443).
//
// The hub runs on its own loopback address with HTTPS on 443, MQTT on 8883 and AMQP on 5671 (the
// only ports the SDKs know: node_sdk.h); feedback batches go out after 200 ms instead of 15 s.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
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

std::filesystem::path ExamplesDir() {
  return (CompatDir() / ".." / ".." / "examples" / "node").lexically_normal();
}

// The rest of each line of `out` that starts with `prefix`.
std::vector<std::string> LinesAfter(const std::string& out, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line.substr(prefix.size()));
  }
  return lines;
}

class SeedAmqpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new SuiteHub(NodeSdkProblem({"azure-iothub", "azure-iot-common", "azure-iot-device",
                                          "azure-iot-device-mqtt", "azure-iot-device-amqp"}),
                          {"--feedback-batch-interval-ms", "200"}, 8883, 5671);
    if (!suite_->error.empty()) return;
    json strings = suite_->hub.ConnectionStrings();
    if (!strings.is_object() || !strings.contains("iothubowner") || !strings.contains("service")) {
      suite_->error = "no iothubowner and service connection strings in " + suite_->hub.data();
    }
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(suite_->Stop(), "");
    delete suite_;
  }
  void SetUp() override { ASSERT_EQ(suite_->error, "") << "cannot run the seed scenario"; }

  // `node examples/node/<script> args...` in the background, trusting the hub's CA, with the
  // compat tests' SDKs (the examples' own node_modules is not installed here).
  static std::unique_ptr<ChildProcess> StartExample(const std::string& script,
                                                    std::vector<std::string> args,
                                                    const std::string& name) {
    args.insert(args.begin(), {"node", (ExamplesDir() / script).string()});
    return std::make_unique<ChildProcess>(
        std::move(args), suite_->Capture(name),
        ChildEnvironment{.set = {"NODE_EXTRA_CA_CERTS=" + suite_->hub.ca(),
                                 "NODE_PATH=" + (CompatDir() / "node_modules").string()},
                         .unset = {"IOTHUB_CONNECTION_STRING", "IOTHUB_DEVICE_ID",
                                   "IOTHUB_DEVICE_CONNECTION_STRING", "IOTHUB_DEVICE_TRANSPORT"}});
  }

  // The seed scenario with `transport` on the device side, for a device of its own.
  static void RunScenario(const std::string& transport, const std::string& device_id) {
    json strings = suite_->hub.ConnectionStrings();

    // 1. The registry creates the device and hands back its key.
    auto create =
        StartExample("CreateDeviceIdentity.js",
                     {strings["iothubowner"].get<std::string>(), device_id}, "create-" + device_id);
    ASSERT_EQ(create->WaitForExit(30s), std::optional<int>(0))
        << create->out() << create->err() << suite_->Log();
    std::vector<std::string> cs = LinesAfter(create->out(), "Device connection string: ");
    std::vector<std::string> generation = LinesAfter(create->out(), "Generation id: ");
    ASSERT_EQ(cs.size(), 1u) << create->out();
    ASSERT_EQ(generation.size(), 1u) << create->out();
    EXPECT_EQ(cs[0].rfind("HostName=" + suite_->hub.address() + ";DeviceId=" + device_id +
                              ";SharedAccessKey=",
                          0),
              0u)
        << cs[0];

    // 2. The device app connects and listens.
    auto device = StartExample("SimulatedDevice.js", {cs[0], transport}, "device-" + device_id);
    ASSERT_TRUE(device->WaitForStdout("waiting for cloud-to-device messages", 30s))
        << device->out() << device->err() << suite_->Log();

    // 3. The back-end sends one message with ack = 'full' and waits for its feedback.
    auto send = StartExample("SendCloudToDeviceMessage.js",
                             {strings["service"].get<std::string>(), device_id, "--timeout", "30"},
                             "send-" + device_id);
    std::optional<int> sent = send->WaitForExit(40s);
    EXPECT_EQ(sent, std::optional<int>(0)) << send->out() << send->err() << suite_->Log();
    EXPECT_NE(send->out().find("Send status: MessageEnqueued"), std::string::npos)
        << send->out() << send->err();

    // 4a. The device printed the message with every property, and completed it.
    EXPECT_TRUE(device->WaitForStdout("Completed message message_0", 10s))
        << device->out() << device->err() << suite_->Log();
    std::vector<std::string> received = LinesAfter(device->out(), "Message received: ");
    ASSERT_EQ(received.size(), 1u) << device->out();
    json message = json::parse(received[0], nullptr, false);
    EXPECT_EQ(message.value("messageId", ""), "message_0") << received[0];
    EXPECT_EQ(message.value("correlationId", ""), "correlation_0") << received[0];
    EXPECT_EQ(message.value("data", ""), "{\"message\":\"Cloud to device message 0\"}")
        << received[0];
    EXPECT_EQ(message.value("contentType", ""), "application/json") << received[0];
    EXPECT_EQ(message.value("contentEncoding", ""), "utf-8") << received[0];
    ASSERT_TRUE(message.contains("properties")) << received[0];
    EXPECT_EQ(message["properties"].value("Property", ""), "PropMsg_0") << received[0];

    // 4b. The sender printed a feedback batch with the message's Success record.
    std::optional<json> record;
    for (const std::string& batch : LinesAfter(send->out(), "Feedback received: ")) {
      json records = json::parse(batch, nullptr, false);
      if (!records.is_array()) continue;
      for (const json& r : records) {
        if (r.is_object() && r.value("originalMessageId", "") == "message_0" &&
            r.value("deviceId", "") == device_id) {
          EXPECT_FALSE(record.has_value()) << "a second record: " << r << " after " << *record;
          record = r;
        }
      }
    }
    ASSERT_TRUE(record.has_value()) << send->out() << send->err() << suite_->Log();
    EXPECT_EQ(record->value("statusCode", ""), "Success") << *record;
    EXPECT_EQ(record->value("deviceGenerationId", ""), generation[0]) << *record;
    EXPECT_FALSE(record->value("enqueuedTimeUtc", "").empty()) << *record;

    // Ctrl-C closes the device client cleanly.
    device->Signal(SIGINT);
    EXPECT_EQ(device->WaitForExit(15s), std::optional<int>(0)) << device->out() << device->err();
    EXPECT_NE(device->out().find("Disconnected after 1 message(s)"), std::string::npos)
        << device->out();
  }

  static inline SuiteHub* suite_ = nullptr;
};

TEST_F(SeedAmqpTest, MqttDeviceGetsTheMessageAndTheServiceGetsSuccessFeedback) {
  RunScenario("Mqtt", "seed-mqtt");
}

TEST_F(SeedAmqpTest, MqttWsDeviceGetsTheMessageAndTheServiceGetsSuccessFeedback) {
  RunScenario("MqttWs", "seed-mqttws");
}

TEST_F(SeedAmqpTest, AmqpDeviceGetsTheMessageAndTheServiceGetsSuccessFeedback) {
  RunScenario("Amqp", "seed-amqp");
}

TEST_F(SeedAmqpTest, AmqpWsDeviceGetsTheMessageAndTheServiceGetsSuccessFeedback) {
  RunScenario("AmqpWs", "seed-amqpws");
}

}  // namespace
}  // namespace iothub::testing
