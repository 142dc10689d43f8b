// Debian's mosquitto_pub / mosquitto_sub (package mosquitto-clients, installed by scripts/setup)
// against a real iothubd over MQTT/TLS, checking the hub's CA and its address: telemetry with a
// property bag read back through the telemetry REST API; a persistent-session subscriber (-c)
// receiving C2D messages (queued and live) whose properties hold `= & / space`, its PUBACK giving
// Success feedback; and the refusals a plain client sees (another device's filter, a wrong key).
// One hub for the suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/mqtt_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct ToolRun {
  std::optional<int> exit;
  std::string out, err;
};

class MqttMosquittoTest : public SharedHubTest<MqttMosquittoTest> {
 public:  // read by SharedHubTest
  static std::string Prerequisite() {
    return std::system("command -v mosquitto_pub >/dev/null 2>&1") != 0
               ? "mosquitto_pub is not installed: run scripts/setup (package mosquitto-clients)"
               : "";
  }

 protected:
  void SetUp() override {
    ASSERT_EQ(*error_, "");
    id_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string why;
    key_ = hub_->CreateDevice(id_, true, &why);
    ASSERT_NE(key_, "") << why;
  }

  // mosquitto_pub/_sub's connection options for device `id` with key `key`, over TLS.
  std::vector<std::string> Args(const std::string& tool, const std::string& id,
                                const std::string& key) {
    return {tool,
            "-h",
            hub_->address(),
            "-p",
            std::to_string(hub_->mqtt_port()),
            "--cafile",
            hub_->ca(),
            "-V",
            "mqttv311",
            "-i",
            id,
            "-u",
            hub_->UserName(id),
            "-P",
            hub_->DeviceToken(id, key)};
  }

  std::unique_ptr<ChildProcess> Start(std::vector<std::string> argv, const std::string& name) {
    return std::make_unique<ChildProcess>(std::move(argv), hub_->dir() + "/" + id_ + "-" + name);
  }

  ToolRun Run(std::vector<std::string> argv, const std::string& name,
              std::chrono::milliseconds limit = 30s) {
    auto p = Start(std::move(argv), name);
    ToolRun r;
    r.exit = p->WaitForExit(limit);
    r.out = p->out();
    r.err = p->err();
    return r;
  }

  std::string id_, key_;
};

TEST_F(MqttMosquittoTest, PublishedTelemetryKeepsItsProperties) {
  std::string topic = "devices/" + id_ +
                      "/messages/events/%24.mid=mos-1&%24.cid=corr%201&%24.ct=text%2Fplain&"
                      "%24.ce=utf-8&color=red&k%20y=a%3Db%26c%2Fd%20e";
  auto args = Args("mosquitto_pub", id_, key_);
  args.insert(args.end(), {"-q", "1", "-t", topic, "-m", "hello from mosquitto"});
  ToolRun pub = Run(args, "pub1");
  ASSERT_EQ(pub.exit, std::optional<int>(0)) << pub.out << pub.err << Log();

  args = Args("mosquitto_pub", id_, key_);
  args.insert(args.end(),
              {"-q", "0", "-t", "devices/" + id_ + "/messages/events/n=2", "-m", "qos zero"});
  pub = Run(args, "pub2");
  ASSERT_EQ(pub.exit, std::optional<int>(0)) << pub.out << pub.err << Log();

  json events = hub_->WaitTelemetry(id_, 2);
  ASSERT_EQ(events.size(), 2u) << events << Log();
  json e = events[0];
  EXPECT_EQ(e["bodyText"], "hello from mosquitto") << e;
  EXPECT_EQ(e["properties"], json({{"color", "red"}, {"k y", "a=b&c/d e"}})) << e;
  EXPECT_EQ(e["systemProperties"]["message-id"], "mos-1") << e;
  EXPECT_EQ(e["systemProperties"]["correlation-id"], "corr 1") << e;
  EXPECT_EQ(e["systemProperties"]["content-type"], "text/plain") << e;
  EXPECT_EQ(e["systemProperties"]["content-encoding"], "utf-8") << e;
  EXPECT_EQ(e["systemProperties"]["iothub-connection-device-id"], id_) << e;
  EXPECT_EQ(events[1]["bodyText"], "qos zero") << events[1];
  EXPECT_EQ(events[1]["properties"], json({{"n", "2"}})) << events[1];
}

TEST_F(MqttMosquittoTest, SubscriberReceivesC2dWithPropertiesAndFeedbackIsSuccess) {
  // Queued before the subscriber exists: delivered on SUBSCRIBE.
  ASSERT_EQ(hub_->SendC2d(id_, "first",
                          {"IoTHub-MessageId: mos-c2d-1", "IoTHub-Ack: full",
                           "iothub-app-k: a=b&c/d e", "IoTHub-CorrelationId: c 1"}),
            201);
  auto args = Args("mosquitto_sub", id_, key_);
  args.insert(args.end(), {"-c", "-q", "1", "-t", "devices/" + id_ + "/messages/devicebound/#",
                           "-v", "-C", "1", "-W", "30"});
  ToolRun sub = Run(args, "sub1", 40s);
  ASSERT_EQ(sub.exit, std::optional<int>(0)) << sub.out << sub.err << Log();
  // "<topic> <payload>"
  std::string prefix = "devices/" + id_ + "/messages/devicebound/";
  ASSERT_EQ(sub.out.rfind(prefix, 0), 0u) << sub.out;
  size_t space = sub.out.find(' ');
  ASSERT_NE(space, std::string::npos) << sub.out;
  std::string bag = sub.out.substr(prefix.size(), space - prefix.size());
  EXPECT_EQ(sub.out.substr(space + 1), "first\n");
  auto props = mqtt_wire::ParseBag(bag);
  EXPECT_EQ(props["$.mid"], "mos-c2d-1") << bag;
  EXPECT_EQ(props["$.cid"], "c 1") << bag;
  EXPECT_EQ(props["k"], "a=b&c/d e") << bag;
  EXPECT_EQ(props["iothub-ack"], "full") << bag;
  EXPECT_EQ(props["$.to"], "/devices/" + id_ + "/messages/deviceBound") << bag;
  json feedback = hub_->WaitFeedback("mos-c2d-1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success") << feedback;

  // Live: the persistent session (-c, same client id) is subscribed; the message is sent while
  // the subscriber waits (-d prints the CONNACK).
  // stdbuf: mosquitto's stdout is a file here, which stdio would otherwise buffer until exit.
  args = Args("mosquitto_sub", id_, key_);
  args.insert(args.begin(), {"stdbuf", "-oL"});
  args.insert(args.end(),
              {"-c", "-d", "-q", "1", "-t", "devices/" + id_ + "/messages/devicebound/#", "-v",
               "-C", "1", "-W", "30"});
  auto live = Start(args, "sub2");
  ASSERT_TRUE(live->WaitForStdout("CONNACK", 10s)) << live->out() << live->err() << Log();
  ASSERT_EQ(hub_->SendC2d(id_, "second", {"IoTHub-MessageId: mos-c2d-2", "IoTHub-Ack: positive"}),
            201);
  ASSERT_EQ(live->WaitForExit(40s), std::optional<int>(0)) << live->out() << live->err() << Log();
  EXPECT_NE(live->out().find(" second\n"), std::string::npos) << live->out();
  EXPECT_NE(live->out().find("%24.mid=mos-c2d-2"), std::string::npos) << live->out();
  feedback = hub_->WaitFeedback("mos-c2d-2");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success") << feedback;
}

TEST_F(MqttMosquittoTest, SubscribingToAnotherDevicesMessagesIsDenied) {
  std::string why;
  ASSERT_NE(hub_->CreateDevice(id_ + "-other", true, &why), "") << why;
  auto args = Args("mosquitto_sub", id_, key_);
  args.insert(args.end(), {"-q", "1", "-t", "devices/" + id_ + "-other/messages/devicebound/#",
                           "-C", "1", "-W", "10"});
  ToolRun sub = Run(args, "sub-other", 20s);
  EXPECT_NE((sub.out + sub.err).find("All subscription requests were denied"), std::string::npos)
      << "exit " << sub.exit.value_or(-1) << "\n"
      << sub.out << sub.err << Log();
}

TEST_F(MqttMosquittoTest, WrongKeyIsRefused) {
  // Signed with a key that is not the device's.
  auto args = Args("mosquitto_pub", id_, "c2VjcmV0LW5vdC10aGUtZGV2aWNlcy1rZXktMTIzNDU2Nzg=");
  args.insert(args.end(), {"-q", "1", "-t", "devices/" + id_ + "/messages/events/", "-m", "x"});
  ToolRun pub = Run(args, "pub-wrong");
  EXPECT_NE(pub.exit, std::optional<int>(0)) << pub.out << pub.err;
  EXPECT_NE((pub.out + pub.err).find("not authori"), std::string::npos)
      << pub.out << pub.err << Log();
  EXPECT_EQ(hub_->Telemetry(id_).size(), 0u);
}

}  // namespace
}  // namespace iothub::testing
