// Issue 3's "Done means", end to end with the real programs: start iothubd; create a device with
// `iothub device create`; send it a C2D message with
// `iothub c2d send ... --ack full --wait-feedback` (left running in the background, as a user
// would in a second terminal); receive and complete it with the official Node device SDK over
// azure-iot-device-http (seed_http_device.js); the CLI prints the Success feedback record and
// exits 0. The reject path ends with a Rejected record and the CLI's negative-feedback exit code.
//
// The CLI is IOTHUB_CLI_PATH (a CMake definition; until it exists, the IOTHUB_CLI_PATH
// environment variable). The hub gets its own loopback address and HTTPS on port 443, which the
// Node SDK requires (node_sdk.h); the CLI finds the hub and trusts its CA through
// --data-dir, exactly as the CLI's README tells a user. Feedback batches are sent after 500 ms
// instead of 15 s to keep the test short; nothing else differs from the defaults.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/compat/node_sdk.h"
#include "tests/integration/hub_process.h"

namespace iothub::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kExitNegativeFeedback = 11;  // tools/iothub/README.md, "Exit codes"

// Why the walk-through cannot run here, or "" when it can.
std::string Problem() {
  std::string problem = CliProblem();
  return problem.empty() ? NodeSdkProblem({"azure-iot-device", "azure-iot-device-http"}) : problem;
}

// One hub for the suite; each test is one walk-through on a device of its own.
class SeedHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new SuiteHub(Problem(), {"--feedback-batch-interval-ms", "500"});
  }

  static void TearDownTestSuite() {
    EXPECT_EQ(suite_->Stop(), "");
    delete suite_;
  }

  void SetUp() override { ASSERT_EQ(suite_->error, "") << "cannot run the walk-through"; }

  // seed_http_device.js with the device's connection string: receives one message and settles
  // it with `action`. Returns its JSON output.
  static json RunDevice(const std::string& connection_string, const std::string& action,
                        const std::string& name) {
    NodeRun node = RunNodeScript("seed_http_device.js", {connection_string, action, "30000"},
                                 suite_->hub.ca(), suite_->Capture(name), 40s);
    EXPECT_EQ(node.exit, std::optional<int>(0)) << node.out << node.err;
    return node.json.is_object() ? node.json
                                 : json{{"ok", false}, {"unparsable", node.out + node.err}};
  }

  static inline SuiteHub* suite_ = nullptr;
};

TEST_F(SeedHttpTest, CompletedMessageYieldsSuccessFeedback) {
  std::string created = suite_->RunCli({"device", "create", "d1"}, "create-d1");
  EXPECT_NE(created.find("d1"), std::string::npos) << created;
  std::string connection_string = suite_->DeviceConnectionString("d1");
  ASSERT_NE(connection_string.find("DeviceId=d1;"), std::string::npos) << connection_string;

  auto send = suite_->StartCli({"c2d", "send", "d1", "hello", "--ack", "full", "--wait-feedback",
                                "--message-id", "m1", "--timeout", "60"},
                               "send-m1");
  json device = RunDevice(connection_string, "complete", "device-d1");
  EXPECT_EQ(device["ok"], true) << device;
  EXPECT_EQ(device["messageId"], "m1") << device;
  EXPECT_EQ(device["data"], "hello") << device;
  EXPECT_EQ(device["result"], "MessageCompleted") << device;

  std::optional<int> status = send->WaitForExit(30s);
  ASSERT_EQ(status, std::optional<int>(0)) << send->out() << send->err();
  ExpectCliSuccessFeedback(send->out(), "d1", "m1");
}

TEST_F(SeedHttpTest, RejectedMessageYieldsRejectedFeedbackAndExitCode) {
  suite_->RunCli({"device", "create", "d2"}, "create-d2");
  std::string connection_string = suite_->DeviceConnectionString("d2");
  ASSERT_NE(connection_string.find("DeviceId=d2;"), std::string::npos) << connection_string;

  auto send = suite_->StartCli({"--json", "c2d", "send", "d2", "refuse me", "--ack", "full",
                                "--wait-feedback", "--message-id", "m2", "--timeout", "60"},
                               "send-m2");
  json device = RunDevice(connection_string, "reject", "device-d2");
  EXPECT_EQ(device["messageId"], "m2") << device;
  EXPECT_EQ(device["data"], "refuse me") << device;
  EXPECT_EQ(device["result"], "MessageRejected") << device;

  std::optional<int> status = send->WaitForExit(30s);
  ASSERT_EQ(status, std::optional<int>(kExitNegativeFeedback)) << send->out() << send->err();
  json printed = json::parse(send->out(), nullptr, false);
  ASSERT_TRUE(printed.is_object()) << send->out();
  EXPECT_EQ(printed["sent"]["messageId"], "m2") << printed;
  EXPECT_EQ(printed["sent"]["deviceId"], "d2") << printed;
  json record = printed["feedback"];
  EXPECT_EQ(record["originalMessageId"], "m2") << printed;
  EXPECT_EQ(record["statusCode"], "Rejected") << printed;
  EXPECT_EQ(record["deviceId"], "d2") << printed;
  EXPECT_NE(send->err().find("Rejected"), std::string::npos) << send->err();
}

}  // namespace
}  // namespace iothub::testing
