#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mqtt/session_test_fixture.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

using std::chrono::seconds;

class C2dSessionTest : public SessionTest {
 protected:
  core::Message C2d(std::string body, core::AckMode ack = core::AckMode::kNone) {
    core::Message m;
    m.body = std::move(body);
    m.message_id = "mid-" + m.body;
    m.ack = ack;
    return m;
  }

  void Subscribe(TestClient& client, const std::string& device_id, uint8_t qos = 1) {
    client.Send(
        mqtt::Subscribe{.packet_id = 1, .subscriptions = {{DeviceboundFilter(device_id), qos}}});
    RunAll();
  }

  static std::vector<Publish> Publishes(const std::vector<Packet>& packets) {
    std::vector<Publish> out;
    for (const Packet& p : packets) {
      if (auto* publish = std::get_if<Publish>(&p)) out.push_back(*publish);
    }
    return out;
  }

  // The statusCode of every feedback record the service would receive now.
  std::vector<std::string> FeedbackStatuses() {
    std::vector<std::string> out;
    hub_->feedback().Flush();
    RunAll();
    while (auto m = hub_->feedback().ReceiveAndLock()) {
      for (const auto& record : nlohmann::json::parse(m->body)) out.push_back(record["statusCode"]);
    }
    return out;
  }
};

TEST_F(C2dSessionTest, QueuedMessageIsDeliveredOnSubscribeAndPubackCompletesWithFeedback) {
  core::Device d = CreateDevice("dev1");
  core::Message m = C2d("hello", core::AckMode::kFull);
  m.correlation_id = "c&1";
  m.SetProperty("k y", "a=b&c/d e");
  SendC2d("dev1", m);
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0], Packet(Suback{.packet_id = 1, .return_codes = {1}}));
  auto publishes = Publishes(packets);
  ASSERT_EQ(publishes.size(), 1u);
  const Publish& p = publishes[0];
  EXPECT_EQ(p.qos, 1);
  EXPECT_FALSE(p.dup);
  EXPECT_EQ(p.payload, "hello");
  EXPECT_EQ(p.topic.rfind("devices/dev1/messages/devicebound/", 0), 0u) << p.topic;
  for (const char* part :
       {"%24.mid=mid-hello", "%24.cid=c%261", "iothub-ack=full", "k%20y=a%3Db%26c%2Fd%20e",
        "%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound"}) {
    EXPECT_NE(p.topic.find(part), std::string::npos) << part << " in " << p.topic;
  }
  size_t shard = hub_->ShardOf("dev1");
  EXPECT_EQ(hub_->c2d(shard).Locked("dev1").size(), 1u);

  client->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = p.packet_id});
  RunAll();
  EXPECT_EQ(hub_->c2d(shard).Locked("dev1").size(), 0u);
  EXPECT_EQ(hub_->c2d(shard).Depth("dev1"), 0u);
  EXPECT_EQ(FeedbackStatuses(), std::vector<std::string>{"Success"});
}

TEST_F(C2dSessionTest, NewMessageReachesASubscribedDevice) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  client->Received();
  SendC2d("dev1", C2d("later"));
  auto publishes = Publishes(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].payload, "later");
}

TEST_F(C2dSessionTest, NothingIsDeliveredWithoutSubscription) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  SendC2d("dev1", C2d("x"));
  EXPECT_TRUE(client->Received().empty());
}

TEST_F(C2dSessionTest, SubscriptionsOutsideTheDevicesTopicsAndBeyondFiveAreRefused) {
  core::Device d = CreateDevice("dev1");
  CreateDevice("dev2");
  auto client = Connected(d);
  client->Send(mqtt::Subscribe{.packet_id = 2,
                               .subscriptions = {{DeviceboundFilter("dev2"), 1},
                                                 {"#", 0},
                                                 {"$iothub/methods/POST/#", 0},
                                                 {"$iothub/twin/res/#", 0},
                                                 {"$iothub/twin/PATCH/properties/desired/#", 0},
                                                 {DeviceboundFilter("dev1"), 2}}});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0],
            Packet(Suback{.packet_id = 2,
                          .return_codes = {kSubscribeFailure, kSubscribeFailure, 0, 0, 0, 1}}));
  // dev2's messages never reach dev1.
  SendC2d("dev2", C2d("not yours"));
  EXPECT_TRUE(client->Received().empty());
}

class SubscriptionLimitTest : public C2dSessionTest {
 protected:
  MqttOptions Options() const override {
    MqttOptions o;
    o.max_subscriptions = 2;  // the default, 5, exceeds the four filters a device may hold
    return o;
  }
};

TEST_F(SubscriptionLimitTest, SubscriptionsBeyondTheLimitAreRefusedAndRepeatsReplace) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(mqtt::Subscribe{.packet_id = 3,
                               .subscriptions = {{"$iothub/methods/POST/#", 0},
                                                 {"$iothub/methods/POST/#", 1},
                                                 {"$iothub/twin/res/#", 0},
                                                 {DeviceboundFilter("dev1"), 1}}});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<Suback>(packets[0]).return_codes,
            (std::vector<uint8_t>{0, 1, 0, kSubscribeFailure}));
}

TEST_F(C2dSessionTest, PersistentSessionDeliversAfterReconnectWithoutSubscribe) {
  core::Device d = CreateDevice("dev1");
  auto first = Connected(d);
  Subscribe(*first, "dev1");
  first->Send(Empty{.type = PacketType::kDisconnect});  // the SDK's token renewal
  RunAll();
  SendC2d("dev1", C2d("while away"));
  bool present = false;
  auto second = Connected(d, false, 1, &present);
  EXPECT_TRUE(present);
  RunAll();
  auto publishes = Publishes(second->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].payload, "while away");
}

TEST_F(C2dSessionTest, UnacknowledgedDeliveryIsSentAgainWithDupOnReconnect) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("once", core::AckMode::kFull));
  auto first = Connected(d);
  Subscribe(*first, "dev1");
  auto original = Publishes(first->Received());
  ASSERT_EQ(original.size(), 1u);
  first->Drop();
  RunAll();
  auto second = Connected(d, false, 1);
  RunAll();
  auto again = Publishes(second->Received());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].dup);
  EXPECT_EQ(again[0].packet_id, original[0].packet_id);
  EXPECT_EQ(again[0].topic, original[0].topic);
  second->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = again[0].packet_id});
  RunAll();
  EXPECT_EQ(FeedbackStatuses(), std::vector<std::string>{"Success"});
}

TEST_F(C2dSessionTest, LockExpiryWhileDisconnectedReturnsTheMessageToTheQueue) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("expiring"));
  auto first = Connected(d);
  Subscribe(*first, "dev1");
  ASSERT_EQ(Publishes(first->Received()).size(), 1u);
  first->Drop();
  RunAll();
  clock_.Advance(seconds(61));
  size_t shard = hub_->ShardOf("dev1");
  hub_->ProcessTimers(shard);
  RunAll();
  auto second = Connected(d, false, 1);
  RunAll();
  auto again = Publishes(second->Received());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].dup);  // a fresh delivery under a new lock
  EXPECT_EQ(again[0].payload, "expiring");
}

// A connected device that never acknowledges: once the locks of the deliveries filling its window
// run out, their places are free again and the queue hands the messages out again, under new
// locks and their own packet ids.
TEST_F(C2dSessionTest, LockExpiryWhileConnectedFreesTheWindowAndDeliversAfresh) {
  core::Device d = CreateDevice("dev1");
  for (int i = 0; i < 16; ++i) SendC2d("dev1", C2d(std::to_string(i)));
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  auto first = Publishes(client->Received());
  ASSERT_EQ(first.size(), 16u);  // the window is full
  clock_.Advance(seconds(61));
  hub_->ProcessTimers(hub_->ShardOf("dev1"));
  RunAll();
  EXPECT_TRUE(Publishes(client->Received()).empty());  // no place in the window yet
  endpoint_->Tick(0);                                  // the connection's shard
  RunAll();
  auto again = Publishes(client->Received());
  ASSERT_EQ(again.size(), 16u);
  // The same messages under new locks, with their packet ids: redeliveries (DUP).
  EXPECT_TRUE(again[0].dup);
  EXPECT_EQ(again[0].packet_id, first[0].packet_id);
  EXPECT_EQ(again[0].payload, "0");
  EXPECT_FALSE(client->closed());
  // Acknowledging the redelivery completes the message.
  client->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = again[0].packet_id});
  RunAll();
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("dev1")).Depth("dev1"), 15u);
}

TEST_F(C2dSessionTest, InflightWindowBoundsDeliveriesUntilAcknowledged) {
  core::Device d = CreateDevice("dev1");
  for (int i = 0; i < 20; ++i) SendC2d("dev1", C2d(std::to_string(i)));
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  auto first = Publishes(client->Received());
  ASSERT_EQ(first.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(first[i].payload, std::to_string(i));
  client->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = first[0].packet_id});
  RunAll();
  auto next = Publishes(client->Received());
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload, "16");
}

TEST_F(C2dSessionTest, Qos0SubscriptionCompletesOnSend) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("fire and forget", core::AckMode::kFull));
  auto client = Connected(d);
  Subscribe(*client, "dev1", 0);
  auto publishes = Publishes(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].qos, 0);
  RunAll();
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("dev1")).Depth("dev1"), 0u);
  EXPECT_EQ(FeedbackStatuses(), std::vector<std::string>{"Success"});
}

TEST_F(C2dSessionTest, CleanSessionForgetsSubscriptionsAndReturnsDeliveries) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("one"));
  auto first = Connected(d, /*clean=*/true);
  Subscribe(*first, "dev1");
  ASSERT_EQ(Publishes(first->Received()).size(), 1u);
  first->Send(Empty{.type = PacketType::kDisconnect});
  RunAll();
  bool present = true;
  auto second = Connected(d, false, 0, &present);
  EXPECT_FALSE(present);
  RunAll();
  EXPECT_TRUE(second->Received().empty());  // no subscription survived
  Subscribe(*second, "dev1");
  auto publishes = Publishes(second->Received());
  ASSERT_EQ(publishes.size(), 1u);  // abandoned at once, not after the lock timeout
  EXPECT_EQ(publishes[0].payload, "one");
}

TEST_F(C2dSessionTest, UnsubscribeStopsDeliveries) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  client->Send(mqtt::Unsubscribe{.packet_id = 9, .filters = {DeviceboundFilter("dev1")}});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[1], Packet(PacketIdOnly{.type = PacketType::kUnsuback, .packet_id = 9}));
  SendC2d("dev1", C2d("x"));
  EXPECT_TRUE(client->Received().empty());
}

TEST_F(C2dSessionTest, MessageWhoseTopicMqttCannotCarryIsRejected) {
  core::Device d = CreateDevice("dev1");
  core::Message huge = C2d("too many properties", core::AckMode::kFull);
  huge.SetProperty("k", std::string(30000, '&'));  // 90000 bytes once percent-encoded
  SendC2d("dev1", huge);
  SendC2d("dev1", C2d("fine"));
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  auto publishes = Publishes(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].payload, "fine");
  EXPECT_EQ(FeedbackStatuses(), std::vector<std::string>{"Rejected"});
}

TEST_F(C2dSessionTest, ALaterSubscribeSendsNothingTwice) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("once"));
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  ASSERT_EQ(Publishes(client->Received()).size(), 1u);
  // The SDK's onDeviceMethod or getTwin subscribes again while the delivery is unacknowledged.
  client->Send(mqtt::Subscribe{.packet_id = 4, .subscriptions = {{"$iothub/methods/POST/#", 0}}});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(TypeOf(packets[0]), PacketType::kSuback);
}

// A newer clean connection takes over while a delivery is unacknowledged: the message comes again
// under the same packet id (derived from its sequence number), and the older connection's late
// PUBACK, arriving on a connection that is closed, completes nothing.
TEST_F(C2dSessionTest, APubackOfAnEarlierConnectionCompletesNothing) {
  core::Device d = CreateDevice("dev1");
  SendC2d("dev1", C2d("a"));
  size_t shard = hub_->ShardOf("dev1");
  auto first = Connected(d, /*clean=*/true);
  Subscribe(*first, "dev1");
  auto sent = Publishes(first->Received());
  ASSERT_EQ(sent.size(), 1u);
  auto second = Connected(d, /*clean=*/true);
  EXPECT_TRUE(first->closed());
  Subscribe(*second, "dev1");
  auto again = Publishes(second->Received());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].packet_id, sent[0].packet_id);
  EXPECT_FALSE(again[0].dup);  // a clean session starts empty: a new delivery
  first->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = sent[0].packet_id});
  RunAll();
  EXPECT_EQ(hub_->c2d(shard).Depth("dev1"), 1u);
  second->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = again[0].packet_id});
  RunAll();
  EXPECT_EQ(hub_->c2d(shard).Depth("dev1"), 0u);
}

TEST_F(C2dSessionTest, DeletingTheDeviceEndsItsConnectionAndSession) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  ASSERT_TRUE(hub_->registry().Delete("dev1", "").ok());
  RunAll();
  EXPECT_TRUE(client->closed());
  EXPECT_EQ(hub_->presence(hub_->ShardOf("dev1")).session_count(), 0u);
  // Re-created with the same id, it starts without a session.
  core::Device again = CreateDevice("dev1");
  bool present = true;
  auto next = Connected(again, false, 0, &present);
  EXPECT_FALSE(present);
}

}  // namespace
}  // namespace iothub::mqtt
