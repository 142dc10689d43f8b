// The device side of MQTT against a real iothubd, byte for byte with the hand-written client
// (mqtt_wire.h): telemetry property bags (system keys escaped or raw, application properties with
// `= & / space + %`) read back through the telemetry REST API; C2D delivered as QoS 1 PUBLISH with
// the exact topic and percent-encoded bag; PUBACK completing with Success feedback; queued
// messages on SUBSCRIBE; persistent sessions (no SUBSCRIBE after a reconnect) and DUP redelivery
// of what was not acknowledged; clean sessions forgetting their subscriptions. One hub for the
// suite (a WHOLE_SUITES entry); each test uses a device of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "tests/integration/mqtt_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;
using mqtt_wire::Connection;
using mqtt_wire::PublishView;
using mqtt_wire::RawPacket;
using mqtt_wire::ReadStatus;
using nlohmann::json;

class MqttDeviceTest : public SharedHubTest<MqttDeviceTest> {
 protected:
  void SetUp() override {
    ASSERT_EQ(*error_, "") << "cannot start iothubd";
    id_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string why;
    key_ = hub_->CreateDevice(id_, true, &why);
    ASSERT_NE(key_, "") << why;
  }

  std::unique_ptr<Connection> Connect(bool clean_session = true, bool tls = true) {
    int rc;
    auto c = hub_->ConnectDevice(id_, key_, &rc, clean_session, tls);
    EXPECT_TRUE(c);
    EXPECT_EQ(rc, 0) << Log();
    return rc == 0 ? std::move(c) : nullptr;
  }

  // SUBSCRIBE to the device's C2D filter; true when granted QoS 1.
  bool SubscribeC2d(Connection& c, uint16_t packet_id = 1) {
    c.Send(
        mqtt_wire::SubscribePacket(packet_id, {{"devices/" + id_ + "/messages/devicebound/#", 1}}));
    auto suback = c.ReadType(mqtt_wire::kSuback, 5s);
    return suback && suback->body.size() == 3 && suback->body[2] == 1;
  }

  // Connects with `clean` session, disconnects; the CONNACK's Session Present flag (-1: none).
  int SessionPresent(bool clean) {
    std::string error;
    auto c = hub_->OpenRaw(true, &error);
    EXPECT_TRUE(c) << error;
    if (!c) return -1;
    c->Send(mqtt_wire::ConnectPacket({.client_id = id_,
                                      .user_name = hub_->UserName(id_),
                                      .password = hub_->DeviceToken(id_, key_),
                                      .clean_session = clean}));
    auto connack = c->ReadType(mqtt_wire::kConnack, 5s);
    if (!connack || connack->body.size() != 2) return -1;
    c->Send(mqtt_wire::DisconnectPacket());
    c->WaitClosed(5s);
    return connack->body[0];
  }

  // The next PUBLISH within `limit`.
  std::optional<PublishView> NextPublish(Connection& c, std::chrono::milliseconds limit = 10s) {
    auto p = c.ReadType(mqtt_wire::kPublish, limit);
    if (!p) return std::nullopt;
    return mqtt_wire::ParsePublish(*p);
  }

  // The bag of a C2D topic (what follows `devices/<id>/messages/devicebound/`), or a failure.
  std::map<std::string, std::string> C2dBag(const PublishView& p) {
    std::string prefix = "devices/" + id_ + "/messages/devicebound/";
    EXPECT_EQ(p.topic.rfind(prefix, 0), 0u) << p.topic;
    if (p.topic.rfind(prefix, 0) != 0) return {};
    std::string bag = p.topic.substr(prefix.size());
    // The Node SDK takes split('/')[4] as the bag and splits pairs on '=' once: '/', ' ' and a
    // second '=' in a pair must be escaped.
    EXPECT_EQ(bag.find('/'), std::string::npos) << "raw '/' in the bag: " << bag;
    EXPECT_EQ(bag.find(' '), std::string::npos) << "raw space in the bag: " << bag;
    size_t start = 0;
    while (start <= bag.size()) {
      size_t amp = bag.find('&', start);
      std::string pair = bag.substr(start, amp == std::string::npos ? amp : amp - start);
      EXPECT_LE(std::count(pair.begin(), pair.end(), '='), 1) << "raw '=' in " << pair;
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
    return mqtt_wire::ParseBag(bag);
  }

  std::string id_;
  std::string key_;
};

TEST_F(MqttDeviceTest, TelemetryPropertyBagsBecomeSystemAndApplicationProperties) {
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string events = "devices/" + id_ + "/messages/events/";
  // The Node SDK's encoding (escaped keys), QoS 1. A raw '+' cannot appear: it is a wildcard,
  // illegal in a topic name.
  c->Send(mqtt_wire::PublishPacket(
      events +
          "%24.mid=m%201%2F%3D&%24.cid=c%261&%24.uid=u1&%24.ct=application%2Fjson&%24.ce=utf-8&"
          "k%20y=a%3Db%26c%2Fd%20e%2Bf%25&plus=a%2Bb",
      "{\"t\":1}", 1, 300));
  auto ack = c->ReadType(mqtt_wire::kPuback, 10s);
  ASSERT_TRUE(ack.has_value()) << "no PUBACK for QoS 1 telemetry" << Log();
  EXPECT_EQ(ack->body, std::string("\x01\x2c", 2)) << "PUBACK of another packet id";
  // Raw `$.` keys, QoS 0 (no PUBACK), then an empty bag.
  c->Send(mqtt_wire::PublishPacket(events + "$.mid=m2&color=red", "second", 0, 0));
  c->Send(mqtt_wire::PublishPacket(events, "", 1, 301));
  ASSERT_TRUE(c->ReadType(mqtt_wire::kPuback, 10s).has_value()) << Log();
  for (const RawPacket& p : c->skipped()) {
    EXPECT_NE(p.type(), mqtt_wire::kPuback) << "QoS 0 telemetry acknowledged";
  }

  json got = hub_->WaitTelemetry(id_, 3);
  ASSERT_EQ(got.size(), 3u) << got << Log();
  json first = got[0];
  EXPECT_EQ(first["bodyText"], "{\"t\":1}") << first;
  EXPECT_EQ(first["properties"], json({{"k y", "a=b&c/d e+f%"}, {"plus", "a+b"}})) << first;
  json system = first["systemProperties"];
  EXPECT_EQ(system["message-id"], "m 1/=") << first;
  EXPECT_EQ(system["correlation-id"], "c&1") << first;
  EXPECT_EQ(system["user-id"], "u1") << first;
  EXPECT_EQ(system["content-type"], "application/json") << first;
  EXPECT_EQ(system["content-encoding"], "utf-8") << first;
  EXPECT_EQ(system["iothub-connection-device-id"], id_) << first;
  EXPECT_TRUE(system["iothub-enqueuedtime"].is_string()) << first;
  EXPECT_TRUE(system["iothub-connection-auth-method"].is_string()) << first;

  EXPECT_EQ(got[1]["bodyText"], "second") << got[1];
  EXPECT_EQ(got[1]["systemProperties"]["message-id"], "m2") << got[1];
  EXPECT_EQ(got[1]["properties"], json({{"color", "red"}})) << got[1];

  EXPECT_EQ(got[2]["body"], "") << got[2];
  EXPECT_EQ(got[2].value("properties", json::object()), json::object()) << got[2];
}

TEST_F(MqttDeviceTest, C2dArrivesEncodedAndPubackGivesSuccessFeedback) {
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(SubscribeC2d(*c)) << Log();
  std::string expiry = FormatIso8601(SystemClock::Instance().Now() + std::chrono::hours(2));
  ASSERT_EQ(hub_->SendC2d(id_, "payload \x01 bytes",
                          {"IoTHub-MessageId: m 1/=", "IoTHub-CorrelationId: c&1",
                           "IoTHub-UserId: u/1", "IoTHub-Expiry: " + expiry, "IoTHub-Ack: full",
                           "iothub-app-k: a=b&c/d e", "iothub-app-plus: a+b%",
                           "Content-Type: application/json", "Content-Encoding: utf-8"}),
            201);
  auto p = NextPublish(*c);
  ASSERT_TRUE(p.has_value()) << "no C2D PUBLISH" << Log();
  EXPECT_EQ(p->qos, 1);
  EXPECT_FALSE(p->dup);
  EXPECT_FALSE(p->retain);
  EXPECT_EQ(p->payload, "payload \x01 bytes");
  auto bag = C2dBag(*p);
  EXPECT_EQ(bag["$.mid"], "m 1/=") << p->topic;
  EXPECT_EQ(bag["$.cid"], "c&1") << p->topic;
  EXPECT_EQ(bag["$.uid"], "u/1") << p->topic;
  EXPECT_EQ(bag["$.to"], "/devices/" + id_ + "/messages/deviceBound") << p->topic;
  EXPECT_EQ(bag["$.ct"], "application/json") << p->topic;
  EXPECT_EQ(bag["$.ce"], "utf-8") << p->topic;
  EXPECT_EQ(bag["iothub-ack"], "full") << p->topic;
  EXPECT_EQ(bag["k"], "a=b&c/d e") << p->topic;
  EXPECT_EQ(bag["plus"], "a+b%") << p->topic;
  // The same instant; the hub may write it with another number of fraction digits.
  EXPECT_EQ(bag["$.exp"].substr(0, 19), expiry.substr(0, 19)) << p->topic;

  EXPECT_TRUE(hub_->WaitFeedback("m 1/=", 1500ms).empty()) << "feedback before the PUBACK";
  c->Send(mqtt_wire::PubackPacket(p->packet_id));
  json feedback = hub_->WaitFeedback("m 1/=");
  ASSERT_EQ(feedback.size(), 1u) << "no feedback after the PUBACK" << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success") << feedback;
  EXPECT_EQ(feedback[0]["deviceId"], id_) << feedback;
}

TEST_F(MqttDeviceTest, QueuedC2dArrivesOnSubscribeInOrder) {
  for (const char* m : {"q1", "q2", "q3"}) {
    ASSERT_EQ(hub_->SendC2d(id_, m, {std::string("IoTHub-MessageId: ") + m}), 201);
  }
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(SubscribeC2d(*c)) << Log();
  for (const char* m : {"q1", "q2", "q3"}) {
    auto p = NextPublish(*c);
    ASSERT_TRUE(p.has_value()) << "missing " << m << Log();
    EXPECT_EQ(p->payload, m);
    EXPECT_EQ(C2dBag(*p)["$.mid"], m);
    c->Send(mqtt_wire::PubackPacket(p->packet_id));
  }
}

TEST_F(MqttDeviceTest, PersistentSessionKeepsTheSubscriptionAcrossReconnects) {
  {
    auto c = Connect(/*clean_session=*/false);
    ASSERT_TRUE(c);
    ASSERT_TRUE(SubscribeC2d(*c)) << Log();
    c->Send(mqtt_wire::DisconnectPacket());
    EXPECT_TRUE(c->WaitClosed(5s)) << "DISCONNECT did not close" << Log();
  }
  ASSERT_EQ(hub_->SendC2d(id_, "while offline", {"IoTHub-MessageId: off1"}), 201);
  int rc;
  auto c = hub_->Connect({.client_id = id_,
                          .user_name = hub_->UserName(id_),
                          .password = hub_->DeviceToken(id_, key_),
                          .clean_session = false},
                         &rc);
  ASSERT_TRUE(c);
  ASSERT_EQ(rc, 0) << Log();
  // No SUBSCRIBE: the session's subscription delivers.
  auto p = NextPublish(*c);
  ASSERT_TRUE(p.has_value()) << "the persistent session lost its subscription" << Log();
  EXPECT_EQ(p->payload, "while offline");
  c->Send(mqtt_wire::PubackPacket(p->packet_id));
}

TEST_F(MqttDeviceTest, SessionPresentAfterASessionWithASubscription) {
  EXPECT_EQ(SessionPresent(false), 0) << "first connection: no session yet";
  {
    auto c = Connect(/*clean_session=*/false);
    ASSERT_TRUE(c);
    ASSERT_TRUE(SubscribeC2d(*c)) << Log();
    c->Send(mqtt_wire::DisconnectPacket());
    c->WaitClosed(5s);
  }
  EXPECT_EQ(SessionPresent(false), 1) << "a session holding a subscription (MQTT-3.2.2-2)";
  EXPECT_EQ(SessionPresent(true), 0) << "clean session: Session Present 0 (MQTT-3.2.2-1)";
}

// MQTT 3.1.1 section 3.1.2.4: the session state includes "the existence of a Session, even if the
// rest of the Session state is empty"; MQTT-3.2.2-2 then asks for Session Present 1.
TEST_F(MqttDeviceTest, SessionPresentAfterAnEmptyPersistentSession) {
  EXPECT_EQ(SessionPresent(false), 0) << "first connection: no session yet";
  EXPECT_EQ(SessionPresent(false), 1) << "second: the (empty) session exists (MQTT-3.2.2-2)";
}

TEST_F(MqttDeviceTest, UnacknowledgedDeliveryIsResentWithDup) {
  {
    auto c = Connect(/*clean_session=*/false);
    ASSERT_TRUE(c);
    ASSERT_TRUE(SubscribeC2d(*c)) << Log();
    ASSERT_EQ(hub_->SendC2d(id_, "ack me later", {"IoTHub-MessageId: dup1", "IoTHub-Ack: full"}),
              201);
    auto p = NextPublish(*c);
    ASSERT_TRUE(p.has_value()) << Log();
    EXPECT_FALSE(p->dup);
    // Gone without a PUBACK (and without DISCONNECT).
  }
  auto c = Connect(/*clean_session=*/false);
  ASSERT_TRUE(c);
  auto again = NextPublish(*c);
  ASSERT_TRUE(again.has_value()) << "not redelivered after the reconnect" << Log();
  EXPECT_TRUE(again->dup) << "redelivery without DUP=1";
  EXPECT_EQ(again->payload, "ack me later");
  EXPECT_EQ(C2dBag(*again)["$.mid"], "dup1");
  c->Send(mqtt_wire::PubackPacket(again->packet_id));
  json feedback = hub_->WaitFeedback("dup1");
  ASSERT_EQ(feedback.size(), 1u) << Log();
  EXPECT_EQ(feedback[0]["statusCode"], "Success");
  // Nothing else comes: the message was completed once.
  RawPacket extra;
  EXPECT_NE(c->Read(&extra, 1500ms), ReadStatus::kPacket);
}

TEST_F(MqttDeviceTest, CleanSessionForgetsTheSubscriptionButNotTheQueue) {
  {
    auto c = Connect(/*clean_session=*/true);
    ASSERT_TRUE(c);
    ASSERT_TRUE(SubscribeC2d(*c)) << Log();
    c->Send(mqtt_wire::DisconnectPacket());
    c->WaitClosed(5s);
  }
  ASSERT_EQ(hub_->SendC2d(id_, "kept", {"IoTHub-MessageId: k1"}), 201);
  auto c = Connect(/*clean_session=*/true);
  ASSERT_TRUE(c);
  RawPacket p;
  EXPECT_NE(c->Read(&p, 1500ms), ReadStatus::kPacket) << "delivered without a subscription";
  ASSERT_TRUE(SubscribeC2d(*c)) << Log();
  auto delivered = NextPublish(*c);
  ASSERT_TRUE(delivered.has_value()) << "the queued message did not come on SUBSCRIBE" << Log();
  EXPECT_EQ(delivered->payload, "kept");
  c->Send(mqtt_wire::PubackPacket(delivered->packet_id));
}

TEST_F(MqttDeviceTest, RegistryConnectionStateFollowsTheConnection) {
  auto state = [&] {
    return hub_->Rest("GET", "/devices/" + id_).Json().value("connectionState", "");
  };
  EXPECT_EQ(state(), "Disconnected");
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(state(), "Connected") << Log();
  c->Send(mqtt_wire::DisconnectPacket());
  EXPECT_TRUE(c->WaitClosed(5s));
  std::string now;
  for (int i = 0; i < 20 && (now = state()) != "Disconnected"; ++i) {
    std::this_thread::sleep_for(100ms);  // the registry is updated as the session ends
  }
  EXPECT_EQ(now, "Disconnected") << Log();
}

TEST_F(MqttDeviceTest, TelemetryPubacksKeepThePublishOrder) {
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string topic = "devices/" + id_ + "/messages/events/";
  std::string burst;
  for (uint16_t id = 1; id <= 20; ++id) {
    burst += mqtt_wire::PublishPacket(topic + "n=" + std::to_string(id), "x", 1, id);
  }
  ASSERT_TRUE(c->Send(burst));  // in one write: the hub decodes them back to back
  for (uint16_t id = 1; id <= 20; ++id) {
    auto ack = c->ReadType(mqtt_wire::kPuback, 10s);
    ASSERT_TRUE(ack.has_value()) << "PUBACK " << id << " missing" << Log();
    EXPECT_EQ(ack->body, std::string({static_cast<char>(id >> 8), static_cast<char>(id & 0xff)}))
        << "PUBACK " << id << " out of order";
  }
  EXPECT_EQ(hub_->WaitTelemetry(id_, 20).size(), 20u);
}

TEST_F(MqttDeviceTest, RetainedTelemetryIsStoredWithMqttRetain) {
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string publish =
      mqtt_wire::PublishPacket("devices/" + id_ + "/messages/events/a=1", "kept?", 1, 9);
  publish[0] |= 0x01;  // RETAIN
  c->Send(publish);
  ASSERT_TRUE(c->ReadType(mqtt_wire::kPuback, 10s).has_value()) << Log();
  json events = hub_->WaitTelemetry(id_, 1);
  ASSERT_EQ(events.size(), 1u) << Log();
  EXPECT_EQ(events[0]["properties"], json({{"a", "1"}, {"mqtt-retain", "true"}})) << events[0];
}

TEST_F(MqttDeviceTest, InFlightC2dIsBoundedAndAPubackLetsTheNextOneOut) {
  // docs/mqtt.md: up to 16 deliveries per device await their PUBACK.
  for (int i = 1; i <= 18; ++i) {
    ASSERT_EQ(hub_->SendC2d(id_, "m" + std::to_string(i), {}), 201);
  }
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(SubscribeC2d(*c)) << Log();
  std::vector<PublishView> got;
  while (auto p = NextPublish(*c, 1500ms)) got.push_back(*p);
  ASSERT_EQ(got.size(), 16u) << "deliveries without any PUBACK" << Log();
  c->Send(mqtt_wire::PubackPacket(got[0].packet_id));
  auto next = NextPublish(*c, 5s);
  ASSERT_TRUE(next.has_value()) << "a PUBACK did not free a slot" << Log();
  EXPECT_EQ(next->payload, "m17");
  RawPacket extra;
  EXPECT_NE(c->Read(&extra, 1000ms), ReadStatus::kPacket) << "more than one slot freed";
}

TEST_F(MqttDeviceTest, PingreqIsAnswered) {
  auto c = Connect(true, /*tls=*/false);
  ASSERT_TRUE(c);
  c->Send(mqtt_wire::PingreqPacket());
  auto resp = c->ReadType(mqtt_wire::kPingresp, 5s);
  ASSERT_TRUE(resp.has_value()) << Log();
  EXPECT_EQ(resp->body, "");
}

}  // namespace
}  // namespace iothub::testing
