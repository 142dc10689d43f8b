// Debian's python3-paho-mqtt (1.6.1, installed by scripts/setup) against a real iothubd, through
// mqtt_paho_client.py: MQTT over TLS and MQTT over WebSockets (wss://<hub>/$iothub/websocket,
// subprotocol `mqtt`) publishing telemetry with properties and receiving C2D messages; a persistent
// session receiving what was sent while it was offline without subscribing again; and, with the
// script's raw client (paho always acknowledges), an unacknowledged delivery coming back with
// DUP=1 after a reconnect. One hub for the suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/mqtt_fixture.h"

#ifndef IOTHUB_INTEGRATION_DIR
#error "IOTHUB_INTEGRATION_DIR (the tests/integration folder) must be defined by CMake"
#endif

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Debian's interpreter, whose dist-packages hold paho (another python3 on PATH may not).
constexpr char kPython[] = "/usr/bin/python3";

std::string Problem() {
  if (std::system("/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1") != 0) {
    return "python3-paho-mqtt is not installed for /usr/bin/python3: run scripts/setup";
  }
  return "";
}

class MqttPahoTest : public SharedHubTest<MqttPahoTest> {
 public:  // read by SharedHubTest
  static std::string Prerequisite() { return Problem(); }

 protected:
  void SetUp() override {
    ASSERT_EQ(*error_, "");
    id_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string why;
    key_ = hub_->CreateDevice(id_, true, &why);
    ASSERT_NE(key_, "") << why;
  }

  // One mqtt_paho_client.py session as this test's device; its JSON output ({"error": ...} when
  // the script printed none).
  json Session(std::vector<std::string> args, const std::string& name,
               const std::string& transport = "tcp") {
    bool ws = transport == "websockets";
    std::vector<std::string> argv{
        kPython,       std::string(IOTHUB_INTEGRATION_DIR) + "/mqtt_paho_client.py",
        "--host",      hub_->address(),
        "--port",      std::to_string(ws ? hub_->https_port() : hub_->mqtt_port()),
        "--ca",        hub_->ca(),
        "--client-id", id_,
        "--username",  hub_->UserName(id_),
        "--password",  hub_->DeviceToken(id_, key_),
        "--transport", transport};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess p(std::move(argv), hub_->dir() + "/" + id_ + "-" + name);
    std::optional<int> exit = p.WaitForExit(60s);
    json out = json::parse(p.out(), nullptr, false);
    if (!out.is_object()) {
      return {{"error",
               "no JSON (exit " + std::to_string(exit.value_or(-1)) + "): " + p.out() + p.err()}};
    }
    return out;
  }

  std::string C2dFilter() const { return "devices/" + id_ + "/messages/devicebound/#"; }

  std::string id_, key_;
};

TEST_F(MqttPahoTest, TlsTelemetryKeepsItsProperties) {
  json out = Session(
      {"--publish", "devices/" + id_ + "/messages/events/%24.mid=p1&%24.ct=text%2Fplain&k=v%20w",
       "--payload", "from paho", "--qos", "1"},
      "pub");
  ASSERT_EQ(out["connack"], 0) << out << Log();
  ASSERT_EQ(out["published"].size(), 1u) << out;
  EXPECT_EQ(out["published"][0]["acked"], true) << out << Log();
  json events = hub_->WaitTelemetry(id_, 1);
  ASSERT_EQ(events.size(), 1u) << events << Log();
  EXPECT_EQ(events[0]["bodyText"], "from paho");
  EXPECT_EQ(events[0]["properties"], json({{"k", "v w"}})) << events[0];
  EXPECT_EQ(events[0]["systemProperties"]["message-id"], "p1") << events[0];
  EXPECT_EQ(events[0]["systemProperties"]["content-type"], "text/plain") << events[0];
}

TEST_F(MqttPahoTest, WebSocketsPublishAndReceiveC2d) {
  ASSERT_EQ(hub_->SendC2d(id_, "over ws",
                          {"IoTHub-MessageId: ws-1", "IoTHub-Ack: full", "iothub-app-a: b/c d"}),
            201);
  json out = Session(
      {"--subscribe", C2dFilter(), "--publish", "devices/" + id_ + "/messages/events/via=ws",
       "--payload", "ws telemetry", "--receive", "1", "--timeout", "15"},
      "ws", "websockets");
  ASSERT_EQ(out["connack"], 0) << out << Log();
  ASSERT_EQ(out["subscriptions"].size(), 1u) << out;
  EXPECT_EQ(out["subscriptions"][0]["granted"], 1) << out;
  ASSERT_EQ(out["published"].size(), 1u) << out;
  EXPECT_EQ(out["published"][0]["acked"], true) << out;
  ASSERT_EQ(out["messages"].size(), 1u) << out << Log();
  json m = out["messages"][0];
  EXPECT_EQ(m["payload"], "over ws");
  EXPECT_EQ(m["qos"], 1);
  std::string prefix = "devices/" + id_ + "/messages/devicebound/";
  std::string topic = m["topic"];
  ASSERT_EQ(topic.rfind(prefix, 0), 0u) << topic;
  auto bag = mqtt_wire::ParseBag(topic.substr(prefix.size()));
  EXPECT_EQ(bag["$.mid"], "ws-1") << topic;
  EXPECT_EQ(bag["a"], "b/c d") << topic;

  json events = hub_->WaitTelemetry(id_, 1);
  ASSERT_EQ(events.size(), 1u) << events << Log();
  EXPECT_EQ(events[0]["bodyText"], "ws telemetry");
  EXPECT_EQ(events[0]["properties"], json({{"via", "ws"}}));
  json feedback = hub_->WaitFeedback("ws-1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success");
}

TEST_F(MqttPahoTest, WebSocketsAndTlsRefuseAnotherDevicesFilter) {
  for (const char* transport : {"websockets", "tcp"}) {
    json out =
        Session({"--subscribe", "devices/someone-else/messages/devicebound/#", "--subscribe",
                 "$iothub/methods/POST/#@0", "--subscribe", "$iothub/twin/res/#@0", "--subscribe",
                 "$iothub/twin/PATCH/properties/desired/#@0", "--timeout", "0"},
                std::string("filters-") + transport, transport);
    ASSERT_EQ(out["connack"], 0) << out << Log();
    ASSERT_EQ(out["subscriptions"].size(), 4u) << out;
    EXPECT_EQ(out["subscriptions"][0]["granted"], 128) << transport << out;
    EXPECT_EQ(out["subscriptions"][1]["granted"], 0) << transport << out;
    EXPECT_EQ(out["subscriptions"][2]["granted"], 0) << transport << out;
    EXPECT_EQ(out["subscriptions"][3]["granted"], 0) << transport << out;
  }
}

TEST_F(MqttPahoTest, WrongTokenIsRefusedOverWebSockets) {
  key_ = "c2VjcmV0LW5vdC10aGUtZGV2aWNlcy1rZXktMTIzNDU2Nzg=";
  json out = Session({"--timeout", "0"}, "wrong", "websockets");
  EXPECT_EQ(out["connack"], 5) << out << Log();
}

TEST_F(MqttPahoTest, PersistentSessionReceivesOfflineMessagesWithoutResubscribing) {
  json first = Session({"--clean", "0", "--subscribe", C2dFilter(), "--timeout", "0"}, "first");
  ASSERT_EQ(first["connack"], 0) << first << Log();
  ASSERT_EQ(first["subscriptions"][0]["granted"], 1) << first;
  ASSERT_EQ(hub_->SendC2d(id_, "sent while offline", {"IoTHub-MessageId: off-1"}), 201);
  json second = Session({"--clean", "0", "--receive", "1", "--timeout", "15"}, "second");
  ASSERT_EQ(second["connack"], 0) << second << Log();
  EXPECT_EQ(second["sessionPresent"], true) << second;
  ASSERT_EQ(second["messages"].size(), 1u)
      << "nothing arrived without SUBSCRIBE" << second << Log();
  EXPECT_EQ(second["messages"][0]["payload"], "sent while offline");
}

TEST_F(MqttPahoTest, UnacknowledgedDeliveryComesBackWithDup) {
  ASSERT_EQ(hub_->SendC2d(id_, "unacked", {"IoTHub-MessageId: dup-1", "IoTHub-Ack: full"}), 201);
  json first = Session({"--client", "raw", "--clean", "0", "--subscribe", C2dFilter(), "--receive",
                        "1", "--timeout", "10", "--no-ack"},
                       "first");
  ASSERT_EQ(first["connack"], 0) << first << Log();
  ASSERT_EQ(first["messages"].size(), 1u) << first << Log();
  EXPECT_EQ(first["messages"][0]["dup"], false) << first;
  json second =
      Session({"--client", "raw", "--clean", "0", "--receive", "1", "--timeout", "15"}, "second");
  ASSERT_EQ(second["connack"], 0) << second << Log();
  ASSERT_EQ(second["messages"].size(), 1u) << "not redelivered" << second << Log();
  json m = second["messages"][0];
  EXPECT_EQ(m["dup"], true) << second;
  EXPECT_EQ(m["payload"], "unacked") << second;
  std::string topic = m["topic"];
  EXPECT_EQ(mqtt_wire::ParseBag(topic.substr(topic.rfind('/') + 1))["$.mid"], "dup-1") << topic;
  json feedback = hub_->WaitFeedback("dup-1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success");
}

// The Python SDK subscribes once per client and never again, whatever Session Present says
// (PROTOCOL.md): a persistent session's subscription survives a crash (kill -9) and restart of the
// hub, and a message sent after the restart reaches the client, connected, without a SUBSCRIBE.
TEST_F(MqttPahoTest, PersistentSubscriptionSurvivesAKillAndRestartOfTheHub) {
  json first = Session({"--clean", "0", "--subscribe", C2dFilter(), "--timeout", "0"}, "first");
  ASSERT_EQ(first["connack"], 0) << first << Log();
  ASSERT_EQ(first["subscriptions"][0]["granted"], 1) << first;
  ASSERT_EQ(hub_->KillAndRestart(), "");
  std::vector<std::string> argv{
      kPython,       std::string(IOTHUB_INTEGRATION_DIR) + "/mqtt_paho_client.py",
      "--host",      hub_->address(),
      "--port",      std::to_string(hub_->mqtt_port()),
      "--ca",        hub_->ca(),
      "--client-id", id_,
      "--username",  hub_->UserName(id_),
      "--password",  hub_->DeviceToken(id_, key_),
      "--clean",     "0",
      "--receive",   "1",
      "--timeout",   "20"};
  ChildProcess second(std::move(argv), hub_->dir() + "/" + id_ + "-second");
  // Connected by then (the script waits for the message once its CONNECT is answered).
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(hub_->SendC2d(id_, "sent after the restart", {"IoTHub-MessageId: restart-1"}), 201)
      << Log();
  std::optional<int> exit = second.WaitForExit(40s);
  json out = json::parse(second.out(), nullptr, false);
  ASSERT_TRUE(out.is_object()) << "exit " << exit.value_or(-1) << ": " << second.out()
                               << second.err();
  ASSERT_EQ(out["connack"], 0) << out << Log();
  EXPECT_EQ(out["sessionPresent"], true) << out;
  ASSERT_EQ(out["messages"].size(), 1u) << "the subscription did not survive" << out << Log();
  EXPECT_EQ(out["messages"][0]["payload"], "sent after the restart");
}

// A delivery the client had not acknowledged when the hub was killed comes again after the
// restart, with DUP=1 and its packet id, while its lock lasts.
TEST_F(MqttPahoTest, AnUnacknowledgedDeliveryComesBackWithDupAfterAKillAndRestart) {
  ASSERT_EQ(hub_->SendC2d(id_, "in flight", {"IoTHub-MessageId: inflight-1"}), 201);
  json first = Session({"--client", "raw", "--clean", "0", "--subscribe", C2dFilter(), "--receive",
                        "1", "--timeout", "10", "--no-ack"},
                       "first");
  ASSERT_EQ(first["connack"], 0) << first << Log();
  ASSERT_EQ(first["messages"].size(), 1u) << first << Log();
  // The session's in-flight record is written without a sync: a kill -9 leaves it to the OS.
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(hub_->KillAndRestart(), "");
  json second =
      Session({"--client", "raw", "--clean", "0", "--receive", "1", "--timeout", "15"}, "second");
  ASSERT_EQ(second["connack"], 0) << second << Log();
  EXPECT_EQ(second["sessionPresent"], true) << second;
  ASSERT_EQ(second["messages"].size(), 1u) << "not redelivered" << second << Log();
  EXPECT_EQ(second["messages"][0]["dup"], true) << second;
  EXPECT_EQ(second["messages"][0]["packetId"], first["messages"][0]["packetId"]) << second;
  EXPECT_EQ(second["messages"][0]["payload"], "in flight") << second;
}

}  // namespace
}  // namespace iothub::testing
