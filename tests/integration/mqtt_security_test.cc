// Issue 4's security list against a real iothubd, with a hand-written MQTT client (mqtt_wire.h)
// that can send what real clients never do: every refusal (wrong key, expired token, disabled or
// unknown device, missing credentials, another device's user name, empty client id, protocol
// level 3), another device's topics, a second connection for the same device, QoS 2, oversized
// packets, garbage, a slowloris CONNECT and a silent keep-alive — each refused or closed while
// other devices keep working. One hub serves the whole suite (a WHOLE_SUITES entry); each test
// uses devices of its own.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "base/crypto.h"
#include "tests/integration/mqtt_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using mqtt_wire::Connection;
using mqtt_wire::ConnectOptions;
using mqtt_wire::RawPacket;
using mqtt_wire::ReadStatus;

constexpr int kAccepted = 0, kBadProtocol = 1, kIdentifierRejected = 2, kBadUserNameOrPassword = 4,
              kNotAuthorized = 5;

class MqttSecurityTest : public SharedHubTest<MqttSecurityTest> {
 protected:
  void SetUp() override { ASSERT_EQ(*error_, "") << "cannot start iothubd"; }

  // A device of this test's own: "<TestName>-<suffix>"; its primary key.
  std::string NewDevice(const std::string& suffix, bool enabled = true) {
    std::string id = Id(suffix);
    std::string why;
    std::string key = hub_->CreateDevice(id, enabled, &why);
    EXPECT_NE(key, "") << "cannot create " << id << ": " << why;
    return key;
  }
  std::string Id(const std::string& suffix) const {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
           suffix;
  }

  // A valid key that is nobody's.
  static std::string Base64Key() { return Base64Encode(RandomBytes(32)); }

  // The hub's log, for failure messages (its last part).

  // Publishes QoS 1 telemetry as a fresh device and expects the PUBACK: the hub still serves.
  void ExpectOthersStillServed(const std::string& suffix) {
    std::string key = NewDevice(suffix);
    int rc;
    auto c = hub_->ConnectDevice(Id(suffix), key, &rc);
    ASSERT_TRUE(c);
    ASSERT_EQ(rc, kAccepted) << Log();
    ASSERT_TRUE(c->Send(mqtt_wire::PublishPacket("devices/" + Id(suffix) + "/messages/events/",
                                                 "still here", 1, 77)));
    auto ack = c->ReadType(mqtt_wire::kPuback, 10s);
    ASSERT_TRUE(ack.has_value()) << "no PUBACK for a healthy device" << Log();
    EXPECT_EQ(ack->body, std::string("\x00\x4d", 2));
  }

  // The refused CONNECT's return code and that the hub then closes the connection.
  void ExpectRefused(const ConnectOptions& options, int expected, bool tls = true) {
    int rc;
    auto c = hub_->Connect(options, &rc, tls);
    ASSERT_TRUE(c);
    EXPECT_EQ(rc, expected) << "CONNACK return code (-1: no CONNACK)" << Log();
    EXPECT_TRUE(c->WaitClosed(5s)) << "the hub kept a refused connection open" << Log();
  }

  ConnectOptions DeviceOptions(const std::string& id, const std::string& key,
                               std::chrono::seconds life = 1h) {
    return {.client_id = id,
            .user_name = hub_->UserName(id),
            .password = hub_->DeviceToken(id, key, life)};
  }
};

TEST_F(MqttSecurityTest, DeviceTokenIsAcceptedOverTlsAndPlain) {
  std::string key = NewDevice("a");
  for (bool tls : {true, false}) {
    int rc;
    auto c = hub_->Connect(DeviceOptions(Id("a"), key), &rc, tls);
    ASSERT_TRUE(c);
    EXPECT_EQ(rc, kAccepted) << (tls ? "TLS" : "plain") << Log();
    c->Send(mqtt_wire::DisconnectPacket());
    EXPECT_TRUE(c->WaitClosed(5s)) << "DISCONNECT must close the connection" << Log();
  }
}

TEST_F(MqttSecurityTest, PolicyTokensWithDeviceConnectAreAccepted) {
  NewDevice("a");
  std::string id = Id("a");
  for (auto [policy, resource] : {std::pair<std::string, std::string>{"device", ""},
                                  {"iothubowner", hub_->host() + "/devices/" + id}}) {
    std::string token = hub_->PolicyToken(policy, resource);
    ASSERT_NE(token, "") << policy;
    int rc;
    auto c =
        hub_->Connect({.client_id = id, .user_name = hub_->UserName(id), .password = token}, &rc);
    ASSERT_TRUE(c);
    EXPECT_EQ(rc, kAccepted) << policy << " token scoped to '" << resource << "'" << Log();
  }
  // The service policy has no DeviceConnect.
  ExpectRefused(
      {.client_id = id, .user_name = hub_->UserName(id), .password = hub_->PolicyToken("service")},
      kNotAuthorized);
}

TEST_F(MqttSecurityTest, WrongKeyIsNotAuthorized) {
  NewDevice("a");
  ExpectRefused(DeviceOptions(Id("a"), Base64Key()), kNotAuthorized);
  ExpectOthersStillServed("b");
}

TEST_F(MqttSecurityTest, ForgedSignatureIsNotAuthorized) {
  std::string key = NewDevice("a");
  std::string token = hub_->DeviceToken(Id("a"), key);
  size_t sig = token.find("sig=");
  ASSERT_NE(sig, std::string::npos);
  token[sig + 4] = token[sig + 4] == 'A' ? 'B' : 'A';
  ExpectRefused({.client_id = Id("a"), .user_name = hub_->UserName(Id("a")), .password = token},
                kNotAuthorized);
}

TEST_F(MqttSecurityTest, ExpiredTokenIsNotAuthorized) {
  std::string key = NewDevice("a");
  ExpectRefused(DeviceOptions(Id("a"), key, -60s), kNotAuthorized);
}

TEST_F(MqttSecurityTest, UnknownDeviceIsNotAuthorized) {
  ExpectRefused(DeviceOptions(Id("nobody"), Base64Key()), kNotAuthorized);
}

TEST_F(MqttSecurityTest, DisabledDeviceIsNotAuthorized) {
  std::string key = NewDevice("a", /*enabled=*/false);
  ExpectRefused(DeviceOptions(Id("a"), key), kNotAuthorized);
}

TEST_F(MqttSecurityTest, MissingCredentialsAreBadUserNameOrPassword) {
  std::string key = NewDevice("a");
  ConnectOptions no_password = DeviceOptions(Id("a"), key);
  no_password.password.reset();
  ExpectRefused(no_password, kBadUserNameOrPassword);
  ConnectOptions nothing;
  nothing.client_id = Id("a");
  ExpectRefused(nothing, kBadUserNameOrPassword);
}

TEST_F(MqttSecurityTest, UserNameOfAnotherDeviceIsNotAuthorized) {
  std::string key = NewDevice("a");
  NewDevice("b");
  ConnectOptions options = DeviceOptions(Id("a"), key);
  options.user_name = hub_->UserName(Id("b"));
  ExpectRefused(options, kNotAuthorized);
}

TEST_F(MqttSecurityTest, EmptyClientIdIsIdentifierRejected) {
  std::string key = NewDevice("a");
  ConnectOptions options = DeviceOptions(Id("a"), key);
  options.client_id = "";
  ExpectRefused(options, kIdentifierRejected);
}

TEST_F(MqttSecurityTest, ProtocolLevel3IsUnacceptable) {
  std::string key = NewDevice("a");
  ConnectOptions options = DeviceOptions(Id("a"), key);
  options.protocol_level = 3;
  ExpectRefused(options, kBadProtocol);
}

TEST_F(MqttSecurityTest, GarbageBytesAreClosedWithoutConnack) {
  for (bool tls : {true, false}) {
    std::string error;
    auto c = hub_->OpenRaw(tls, &error);
    ASSERT_TRUE(c) << error;
    static constexpr char kGarbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\xff\xfe\x00\x01garbage";
    c->Send(std::string(kGarbage, sizeof(kGarbage) - 1));  // with the NUL inside, without the last
    EXPECT_TRUE(c->WaitClosed(5s)) << (tls ? "TLS" : "plain") << Log();
    for (const RawPacket& p : c->skipped()) {
      EXPECT_NE(p.type(), mqtt_wire::kConnack) << "garbage answered with a CONNACK";
    }
  }
  ExpectOthersStillServed("b");
}

TEST_F(MqttSecurityTest, PacketBeforeConnectIsClosed) {
  std::string error;
  auto c = hub_->OpenRaw(true, &error);
  ASSERT_TRUE(c) << error;
  c->Send(mqtt_wire::PublishPacket("devices/x/messages/events/", "early", 0, 0));
  EXPECT_TRUE(c->WaitClosed(5s)) << Log();
}

TEST_F(MqttSecurityTest, SlowlorisConnectIsClosedWhileOthersKeepWorking) {
  std::string key = NewDevice("a");
  auto start = std::chrono::steady_clock::now();
  std::string error;
  auto silent = hub_->OpenRaw(true, &error);
  ASSERT_TRUE(silent) << error;
  auto partial = hub_->OpenRaw(false, &error);
  ASSERT_TRUE(partial) << error;
  std::string connect = mqtt_wire::ConnectPacket(DeviceOptions(Id("a"), key));
  partial->Send(connect.substr(0, 12));  // the rest never comes
  // Meanwhile the hub serves everybody else.
  ExpectOthersStillServed("b");
  std::this_thread::sleep_for(2s);  // a real client trickling: one more byte
  partial->Send(connect.substr(12, 1));
  EXPECT_TRUE(partial->WaitClosed(16s)) << "a partial CONNECT kept open 16 s" << Log();
  EXPECT_TRUE(silent->WaitClosed(2s)) << "a connection without CONNECT kept open" << Log();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 17s);
  for (const RawPacket& p : partial->skipped()) {
    EXPECT_NE(p.type(), mqtt_wire::kConnack) << "a partial CONNECT answered";
  }
}

TEST_F(MqttSecurityTest, SilenceBeyondOneAndAHalfKeepAlivesIsDropped) {
  std::string key = NewDevice("a");
  ConnectOptions options = DeviceOptions(Id("a"), key);
  options.keep_alive = 2;
  int rc;
  auto c = hub_->Connect(options, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  auto start = std::chrono::steady_clock::now();
  // A client that pings stays: PINGREQ within the keep-alive gets PINGRESP.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(c->Send(mqtt_wire::PingreqPacket()));
    EXPECT_TRUE(c->ReadType(mqtt_wire::kPingresp, 2s).has_value())
        << "no PINGRESP, ping " << i << Log();
  }
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c->WaitClosed(8s)) << "silent for 8 s with keep-alive 2 s, still open" << Log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2s) << "dropped before 1.5 x keep-alive";
}

TEST_F(MqttSecurityTest, SecondConnectionClosesTheFirst) {
  std::string key = NewDevice("a");
  int rc1, rc2;
  auto first = hub_->ConnectDevice(Id("a"), key, &rc1);
  ASSERT_TRUE(first);
  ASSERT_EQ(rc1, kAccepted) << Log();
  auto second = hub_->ConnectDevice(Id("a"), key, &rc2, true, /*tls=*/false);
  ASSERT_TRUE(second);
  ASSERT_EQ(rc2, kAccepted) << Log();
  EXPECT_TRUE(first->WaitClosed(5s)) << "the older connection stayed open" << Log();
  ASSERT_TRUE(second->Send(
      mqtt_wire::PublishPacket("devices/" + Id("a") + "/messages/events/", "x", 1, 5)));
  EXPECT_TRUE(second->ReadType(mqtt_wire::kPuback, 10s).has_value())
      << "the newer connection does not work" << Log();
}

TEST_F(MqttSecurityTest, PublishingOnAnotherDevicesTopicCloses) {
  std::string key = NewDevice("a");
  NewDevice("b");
  int rc;
  auto c = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  c->Send(mqtt_wire::PublishPacket("devices/" + Id("b") + "/messages/events/", "spoof", 1, 9));
  EXPECT_TRUE(c->WaitClosed(5s)) << Log();
  for (const RawPacket& p : c->skipped()) {
    EXPECT_NE(p.type(), mqtt_wire::kPuback) << "a spoofed publish was acknowledged";
  }
  EXPECT_EQ(hub_->Telemetry(Id("b")).size(), 0u) << "B's telemetry got A's message";
}

TEST_F(MqttSecurityTest, PublishingOnAForeignTopicCloses) {
  std::string key = NewDevice("a");
  for (std::string topic :
       {std::string("foo/bar"), "devices/" + Id("a") + "/messages/devicebound/x",
        std::string("$iothub/twin/PATCH/properties/reported/?$rid=1")}) {
    int rc;
    auto c = hub_->ConnectDevice(Id("a"), key, &rc);
    ASSERT_TRUE(c);
    ASSERT_EQ(rc, kAccepted) << Log();
    if (topic.rfind("$iothub/twin", 0) == 0) {
      // Twin publishes are not in issue 4: closing or ignoring both do; only check nothing breaks.
      c->Send(mqtt_wire::PublishPacket(topic, "{}", 0, 0));
      continue;
    }
    c->Send(mqtt_wire::PublishPacket(topic, "x", 1, 3));
    EXPECT_TRUE(c->WaitClosed(5s)) << "publish to " << topic << " not closed" << Log();
  }
  ExpectOthersStillServed("b");
}

TEST_F(MqttSecurityTest, SubscribingToAnotherDevicesTopicsIsRefused) {
  std::string key = NewDevice("a");
  NewDevice("b");
  int rc;
  auto c = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  uint16_t id = 1;
  for (std::string filter : {"devices/" + Id("b") + "/messages/devicebound/#", std::string("#"),
                             std::string("devices/+/messages/devicebound/#"),
                             "devices/" + Id("b") + "/messages/events/#"}) {
    ASSERT_TRUE(c->Send(mqtt_wire::SubscribePacket(id, {{filter, 1}})));
    auto suback = c->ReadType(mqtt_wire::kSuback, 5s);
    ASSERT_TRUE(suback.has_value()) << "no SUBACK for " << filter << Log();
    EXPECT_EQ(suback->body, std::string({0, static_cast<char>(id), static_cast<char>(0x80)}))
        << filter;
    ++id;
  }
  // B's messages never reach A.
  ASSERT_EQ(hub_->SendC2d(Id("b"), "for b only", {"IoTHub-MessageId: b1"}), 201);
  RawPacket p;
  EXPECT_NE(c->Read(&p, 1500ms), ReadStatus::kPacket) << "A got a packet after B's C2D";
  // A's own connection still works.
  ASSERT_TRUE(c->Send(mqtt_wire::PingreqPacket()));
  EXPECT_TRUE(c->ReadType(mqtt_wire::kPingresp, 5s).has_value()) << Log();
}

TEST_F(MqttSecurityTest, OwnC2dMethodsAndTwinFiltersAreGranted) {
  std::string key = NewDevice("a");
  int rc;
  auto c = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  struct Case {
    std::string filter;
    uint8_t requested, granted;
  };
  uint16_t id = 10;
  for (const Case& k : {Case{"devices/" + Id("a") + "/messages/devicebound/#", 1, 1},
                        Case{"$iothub/methods/POST/#", 0, 0}, Case{"$iothub/twin/res/#", 0, 0},
                        Case{"$iothub/twin/PATCH/properties/desired/#", 0, 0}}) {
    ASSERT_TRUE(c->Send(mqtt_wire::SubscribePacket(id, {{k.filter, k.requested}})));
    auto suback = c->ReadType(mqtt_wire::kSuback, 5s);
    ASSERT_TRUE(suback.has_value()) << "no SUBACK for " << k.filter << Log();
    EXPECT_EQ(suback->body, std::string({0, static_cast<char>(id), static_cast<char>(k.granted)}))
        << k.filter;
    ++id;
  }
}

TEST_F(MqttSecurityTest, Qos2PublishCloses) {
  std::string key = NewDevice("a");
  int rc;
  auto c = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  c->Send(mqtt_wire::PublishPacket("devices/" + Id("a") + "/messages/events/", "q2", 2, 4));
  EXPECT_TRUE(c->WaitClosed(5s)) << Log();
  for (const RawPacket& p : c->skipped()) {
    EXPECT_NE(p.type(), 5) << "QoS 2 answered with PUBREC";
  }
}

TEST_F(MqttSecurityTest, OversizedPublishClosesAndTheLimitItselfIsAccepted) {
  std::string key = NewDevice("a");
  std::string topic = "devices/" + Id("a") + "/messages/events/";
  int rc;
  auto c = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  // The limit itself (256 KiB of payload, docs/mqtt.md): accepted.
  ASSERT_TRUE(c->Send(mqtt_wire::PublishPacket(topic, std::string(256 * 1024, 'a'), 1, 1)));
  EXPECT_TRUE(c->ReadType(mqtt_wire::kPuback, 10s).has_value()) << "256 KiB refused" << Log();
  // Over it: closed, without reading the whole body first (only the header is needed).
  c->Send(mqtt_wire::PublishPacket(topic, std::string(256 * 1024 + 1024, 'b'), 1, 2));
  EXPECT_TRUE(c->WaitClosed(10s)) << Log();
  for (const RawPacket& p : c->skipped()) {
    EXPECT_NE(p.type(), mqtt_wire::kPuback) << "an oversized publish was acknowledged";
  }
  // A Remaining Length announcing 200 MB, nothing after it: closed at once.
  auto d = hub_->ConnectDevice(Id("a"), key, &rc);
  ASSERT_TRUE(d);
  ASSERT_EQ(rc, kAccepted) << Log();
  d->Send(std::string("\x32") + mqtt_wire::EncodeRemainingLength(200'000'000));
  EXPECT_TRUE(d->WaitClosed(5s)) << "a 200 MB announcement kept open" << Log();
  ExpectOthersStillServed("b");
}

TEST_F(MqttSecurityTest, TokenExpiryEndsTheConnection) {
  std::string key = NewDevice("a");
  int rc;
  auto c = hub_->Connect(DeviceOptions(Id("a"), key, 3s), &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, kAccepted) << Log();
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c->WaitClosed(10s)) << "still open 10 s after a 3 s token expired" << Log();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1s) << "closed long before the expiry";
}

}  // namespace
}  // namespace iothub::testing
