// Persistent (clean session 0) sessions survive a restart of the hub (MQTT 3.1.2.4): the Python
// SDK subscribes once per client and never again, so a forgotten subscription would mean no C2D
// message ever after.
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "mqtt/session_test_fixture.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

class DurableSessionTest : public SessionTest {
 protected:
  void Subscribe(TestClient& client, const std::string& device_id, uint8_t qos = 1) {
    client.Send(
        mqtt::Subscribe{.packet_id = 1, .subscriptions = {{DeviceboundFilter(device_id), qos}}});
    RunAll();
  }
  static std::vector<Publish> PublishesOf(const std::vector<Packet>& packets) {
    std::vector<Publish> out;
    for (const Packet& p : packets) {
      if (const auto* publish = std::get_if<Publish>(&p)) out.push_back(*publish);
    }
    return out;
  }
  core::Message C2d(const std::string& body) {
    core::Message m;
    m.body = body;
    return m;
  }
};

TEST_F(DurableSessionTest, ASubscriptionSurvivesARestartAndDeliversWithoutANewSubscribe) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
    auto packets = client->Received();
    ASSERT_EQ(packets.size(), 1u);
    EXPECT_EQ(TypeOf(packets[0]), PacketType::kSuback);
  }
  Restart();
  bool present = false;
  auto client = Connected(d, /*clean=*/false, 0, &present);
  EXPECT_TRUE(present) << "the session was stored";
  SendC2d("dev1", C2d("after the restart"));
  auto publishes = PublishesOf(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].payload, "after the restart");
  EXPECT_EQ(publishes[0].qos, 1);
}

// A delivery not acknowledged before the hub went down comes again, with DUP=1 and its packet id
// (MQTT 4.4), while its lock lasts: locks survive restarts in the C2D queue.
TEST_F(DurableSessionTest, AnUnacknowledgedDeliveryComesAgainWithDupAfterARestart) {
  core::Device d = CreateDevice("dev1");
  uint16_t packet_id = 0;
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
    client->Received();
    SendC2d("dev1", C2d("in flight"));
    auto publishes = PublishesOf(client->Received());
    ASSERT_EQ(publishes.size(), 1u);
    EXPECT_FALSE(publishes[0].dup);
    packet_id = publishes[0].packet_id;
  }
  Restart();
  clock_.Advance(std::chrono::seconds(10));
  auto client = Connected(d);
  auto publishes = PublishesOf(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_TRUE(publishes[0].dup);
  EXPECT_EQ(publishes[0].packet_id, packet_id);
  EXPECT_EQ(publishes[0].payload, "in flight");
  client->Send(PacketIdOnly{.type = PacketType::kPuback, .packet_id = packet_id});
  RunAll();
  size_t shard = hub_->ShardOf("dev1");
  EXPECT_EQ(hub_->c2d(shard).Depth("dev1"), 0u) << "the PUBACK completed it";
}

// Once the lock ran out while the hub was down, the message is a fresh delivery (DUP=0).
TEST_F(DurableSessionTest, ADeliveryWhoseLockRanOutComesAsANewOne) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
    client->Received();
    SendC2d("dev1", C2d("late"));
    ASSERT_EQ(PublishesOf(client->Received()).size(), 1u);
  }
  Restart();
  clock_.Advance(std::chrono::minutes(2));
  auto client = Connected(d);
  auto publishes = PublishesOf(client->Received());
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_FALSE(publishes[0].dup);
  EXPECT_EQ(publishes[0].payload, "late");
}

TEST_F(DurableSessionTest, ACleanSessionIsNotStoredAndEndsAStoredOne) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
  }
  {
    auto client = Connected(d, /*clean=*/true);
    Subscribe(*client, "dev1");
  }
  Restart();
  bool present = true;
  auto client = Connected(d, /*clean=*/false, 0, &present);
  EXPECT_FALSE(present);
  SendC2d("dev1", C2d("x"));
  EXPECT_TRUE(PublishesOf(client->Received()).empty()) << "no subscription survived";
}

TEST_F(DurableSessionTest, ADeletedDevicesSessionIsNotRestoredForItsSuccessor) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
  }
  RunAll();
  ASSERT_TRUE(hub_->registry().Delete("dev1", "").ok());
  core::Device again = CreateDevice("dev1");
  Restart();
  bool present = true;
  auto client = Connected(again, false, 0, &present);
  EXPECT_FALSE(present);
}

// SUBACK promises a persistent session's subscriptions are stored: when they cannot be, the
// SUBSCRIBE is refused (0x80) and nothing is delivered for it; an UNSUBSCRIBE that cannot be
// stored (UNSUBACK has no failure code) ends the connection.
TEST_F(DurableSessionTest, ASubscriptionThatCannotBeStoredIsRefused) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  SendC2d("dev1", C2d("waiting"));
  store_.Close();  // every later write fails
  Subscribe(*client, "dev1");
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  const auto* suback = std::get_if<Suback>(&packets[0]);
  ASSERT_NE(suback, nullptr);
  EXPECT_EQ(suback->return_codes, std::vector<uint8_t>{kSubscribeFailure});
  EXPECT_FALSE(client->closed());
  client->Send(mqtt::Unsubscribe{.packet_id = 2, .filters = {DeviceboundFilter("dev1")}});
  RunAll();
  EXPECT_TRUE(client->Received().empty());  // no UNSUBACK
  EXPECT_TRUE(client->closed());
}

class ExpiringSessionTest : public DurableSessionTest {
 protected:
  Duration SessionExpiry() const override { return std::chrono::hours(1); }
  // The daemon's periodic calls: the hub's timers (session expiry among them) and the endpoint's.
  void Tick() {
    for (size_t shard = 0; shard < 2; ++shard) {
      (shard == 0 ? shard0_ : shard1_).Post([this, shard] {
        hub_->ProcessTimers(shard);
        endpoint_->Tick(shard);
      });
    }
    RunAll();
  }
  size_t Sessions(const std::string& device_id) {
    return hub_->presence(hub_->ShardOf(device_id)).session_count();
  }
};

TEST_F(ExpiringSessionTest, ASessionWhoseDeviceStaysAwayExpiresInMemoryAndInTheStore) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
    client->Drop();  // the device goes away: its session starts ageing
  }
  RunAll();
  clock_.Advance(std::chrono::minutes(59));
  Tick();
  EXPECT_EQ(Sessions("dev1"), 1u);
  clock_.Advance(std::chrono::minutes(2));
  Tick();
  EXPECT_EQ(Sessions("dev1"), 0u);
  Restart();
  bool present = true;
  auto client = Connected(d, false, 0, &present);
  EXPECT_FALSE(present);
}

// A device that stays connected for longer than the expiry keeps its session across a crash: its
// record is written again now and then.
TEST_F(ExpiringSessionTest, ASessionOfADeviceConnectedForLongSurvivesACrashAfterTheExpiry) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key, std::chrono::hours(3))));
  RunAll();
  Subscribe(*client, "dev1");
  for (int minute = 0; minute < 90; ++minute) {
    clock_.Advance(std::chrono::minutes(1));
    client->Send(Empty{.type = PacketType::kPingreq});  // within its keep-alive
    Tick();
  }
  ASSERT_FALSE(client->closed());
  Restart();  // still connected when it crashed: 90 minutes after the SUBSCRIBE
  bool present = false;
  auto again = Connected(d, false, 0, &present);
  EXPECT_TRUE(present);
}

// A session stored and then left alone past the expiry while the hub was down is not restored.
TEST_F(ExpiringSessionTest, ASessionThatExpiredWhileTheHubWasDownIsNotRestored) {
  core::Device d = CreateDevice("dev1");
  {
    auto client = Connected(d);
    Subscribe(*client, "dev1");
  }
  RunAll();
  clock_.Advance(std::chrono::hours(2));
  Restart();
  EXPECT_EQ(Sessions("dev1"), 0u);
}

}  // namespace
}  // namespace iothub::mqtt
