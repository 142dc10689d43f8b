#include <gtest/gtest.h>

#include <utility>
#include <variant>

#include "mqtt/session_test_fixture.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

class TelemetrySessionTest : public SessionTest {
 protected:
  // Every telemetry record of `device_id`'s partition.
  std::vector<core::Message> Stored(const std::string& device_id) {
    auto read = hub_->telemetry().Read(hub_->telemetry().PartitionOf(device_id), 0, 100);
    EXPECT_TRUE(read.has_value());
    return read.value_or(std::vector<core::Message>{});
  }
};

TEST_F(TelemetrySessionTest, Qos1PublishIsStoredWithItsPropertiesAndAcknowledged) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(Publish{.qos = 1,
                       .topic = "devices/dev1/messages/events/"
                                "%24.mid=m%201&%24.ct=application%2Fjson&k%20y=a%3Db%26c",
                       .packet_id = 5,
                       .payload = "hello"});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], Packet(PacketIdOnly{.type = PacketType::kPuback, .packet_id = 5}));
  auto stored = Stored("dev1");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "hello");
  EXPECT_EQ(stored[0].message_id, "m 1");
  EXPECT_EQ(stored[0].content_type, "application/json");
  ASSERT_NE(stored[0].FindProperty("k y"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("k y"), "a=b&c");
  EXPECT_EQ(stored[0].connection_device_id, "dev1");
  EXPECT_EQ(stored[0].connection_auth_generation_id, d.generation_id);
  EXPECT_NE(stored[0].connection_auth_method.find("\"scope\":\"device\""), std::string::npos);
}

TEST_F(TelemetrySessionTest, TelemetryMovesLastActivityTimeToTheSecond) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  auto publish = [&] {
    client->Send(Publish{.qos = 0, .topic = "devices/dev1/messages/events/", .payload = "x"});
    RunAll();
    return hub_->registry().Get("dev1")->last_activity_time;
  };
  Timestamp first = publish();
  EXPECT_EQ(first, clock_.Now());
  clock_.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(publish(), first);  // within the second: the registry is not touched again
  clock_.Advance(std::chrono::milliseconds(600));
  EXPECT_EQ(publish(), clock_.Now());
}

TEST_F(TelemetrySessionTest, Qos0PublishIsStoredWithoutAcknowledgement) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(Publish{.qos = 0, .topic = "devices/dev1/messages/events/", .payload = "x"});
  RunAll();
  EXPECT_TRUE(client->Received().empty());
  EXPECT_EQ(Stored("dev1").size(), 1u);
  EXPECT_FALSE(client->closed());
}

TEST_F(TelemetrySessionTest, RetainBecomesAProperty) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(Publish{.qos = 1,
                       .retain = true,
                       .topic = "devices/dev1/messages/events/",
                       .packet_id = 1,
                       .payload = "x"});
  RunAll();
  auto stored = Stored("dev1");
  ASSERT_EQ(stored.size(), 1u);
  ASSERT_NE(stored[0].FindProperty("mqtt-retain"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("mqtt-retain"), "true");
}

TEST_F(TelemetrySessionTest, ForbiddenPublishesCloseAndStoreNothing) {
  core::Device d = CreateDevice("dev1");
  CreateDevice("dev2");
  struct Case {
    const char* name;
    Publish publish;
  };
  std::vector<Case> cases = {
      {"QoS 2", Publish{.qos = 2, .topic = "devices/dev1/messages/events/", .packet_id = 1}},
      {"another device's events",
       Publish{.qos = 1, .topic = "devices/dev2/messages/events/", .packet_id = 1}},
      {"a devicebound topic",
       Publish{.qos = 1, .topic = "devices/dev1/messages/devicebound/", .packet_id = 1}},
      {"a foreign topic", Publish{.qos = 0, .topic = "sensors/temperature"}},
      {"a malformed property bag",
       Publish{.qos = 1, .topic = "devices/dev1/messages/events/k=%zz", .packet_id = 1}},
      {"a payload over the limit", Publish{.qos = 1,
                                           .topic = "devices/dev1/messages/events/",
                                           .packet_id = 1,
                                           .payload = std::string(256 * 1024 + 1, 'x')}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto client = Connected(d);
    client->Send(c.publish);
    RunAll();
    EXPECT_TRUE(client->closed());
    EXPECT_TRUE(client->Received().empty());
  }
  EXPECT_TRUE(Stored("dev1").empty());
  EXPECT_TRUE(Stored("dev2").empty());
}

// Twins are not served yet, but an unanswered twin request makes the Python and Node SDKs wait
// forever: each gets an error answer at once (the Python and C SDKs read its status, the Node SDK
// its body's errorCode).
TEST_F(TelemetrySessionTest, TwinRequestsAreAcknowledgedAndAnsweredWithAnError) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(
      Publish{.qos = 1, .topic = "$iothub/twin/GET/?$rid=1", .packet_id = 3, .payload = " "});
  client->Send(Publish{.qos = 0,
                       .topic = "$iothub/twin/PATCH/properties/reported/?$rid=abc&$version=2",
                       .payload = R"({"x":1})"});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(packets[0], Packet(PacketIdOnly{.type = PacketType::kPuback, .packet_id = 3}));
  for (auto [i, rid] : {std::pair{1, "1"}, std::pair{2, "abc"}}) {
    const auto* answer = std::get_if<Publish>(&packets[i]);
    ASSERT_NE(answer, nullptr) << i;
    EXPECT_EQ(answer->topic, std::string("$iothub/twin/res/501/?$rid=") + rid);
    EXPECT_EQ(answer->qos, 0);
    EXPECT_NE(answer->payload.find("\"errorCode\""), std::string::npos) << answer->payload;
  }
  EXPECT_FALSE(client->closed());
  EXPECT_TRUE(Stored("dev1").empty());
}

TEST_F(TelemetrySessionTest, MethodResponsesAreAcknowledgedAndDropped) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(Publish{
      .qos = 1, .topic = "$iothub/methods/res/200/?$rid=1", .packet_id = 4, .payload = "{}"});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0], Packet(PacketIdOnly{.type = PacketType::kPuback, .packet_id = 4}));
  EXPECT_FALSE(client->closed());
}

Connect WithWill(Connect c, std::string topic) {
  c.will = Will{.topic = std::move(topic), .message = "gone", .qos = 0, .retain = false};
  return c;
}

TEST_F(TelemetrySessionTest, WillIsStoredWhenTheConnectionDropsWithoutDisconnect) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  client->Send(WithWill(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)),
                        "devices/dev1/messages/events/reason=power"));
  RunAll();
  client->Drop();
  RunAll();
  auto stored = Stored("dev1");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "gone");
  ASSERT_NE(stored[0].FindProperty("iothub-MessageType"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("iothub-MessageType"), "Will");
  ASSERT_NE(stored[0].FindProperty("reason"), nullptr);
}

TEST_F(TelemetrySessionTest, WillIsDiscardedByDisconnectAndOffTelemetryTopics) {
  core::Device d = CreateDevice("dev1");
  auto polite = NewClient();
  polite->Send(WithWill(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)),
                        "devices/dev1/messages/events/"));
  RunAll();
  polite->Send(Empty{.type = PacketType::kDisconnect});
  polite->Drop();
  auto elsewhere = NewClient();
  elsewhere->Send(WithWill(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)), "lwt/dev1"));
  RunAll();
  EXPECT_FALSE(elsewhere->closed());
  elsewhere->Drop();
  RunAll();
  EXPECT_TRUE(Stored("dev1").empty());
}

}  // namespace
}  // namespace iothub::mqtt
