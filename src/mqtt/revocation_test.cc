// Device presence and revocation through the MQTT endpoint: the core decides which connection
// serves a device, and ends it when the device is deleted, disabled or re-keyed (PROTOCOL.md,
// "Revocation") or when a newer connection of any protocol takes over.
#include <gtest/gtest.h>

#include <variant>
#include <vector>

#include "core/hub/presence.h"
#include "mqtt/session_test_fixture.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

class RevocationTest : public SessionTest {
 protected:
  void Subscribe(TestClient& client, const std::string& device_id) {
    client.Send(
        mqtt::Subscribe{.packet_id = 1, .subscriptions = {{DeviceboundFilter(device_id), 1}}});
    RunAll();
    client.Received();
  }
  static size_t PublishCount(const std::vector<Packet>& packets) {
    size_t n = 0;
    for (const Packet& p : packets) n += std::holds_alternative<Publish>(p) ? 1 : 0;
    return n;
  }
  core::Message C2d(const std::string& body) {
    core::Message m;
    m.body = body;
    return m;
  }
  // A CONNECT with `token`; returns the CONNACK's code (or 255 when none came).
  int ConnectCode(const std::string& id, const std::string& token) {
    auto client = NewClient();
    client->Send(SdkConnect(id, token));
    RunAll();
    auto packets = client->Received();
    if (packets.empty() || !std::holds_alternative<Connack>(packets[0])) return 255;
    return static_cast<int>(std::get<Connack>(packets[0]).return_code);
  }
};

TEST_F(RevocationTest, DisablingTheDeviceClosesItsConnectionAndDeliversNothingMore) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  core::Device disabled = d;
  disabled.status = core::DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Replace(disabled, "").has_value());
  RunAll();
  EXPECT_TRUE(client->closed());
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
  // Sending to a disabled device is accepted and queued (as IoT Hub does); nothing is delivered.
  SendC2d("dev1", C2d("while disabled"));
  EXPECT_EQ(PublishCount(client->Received()), 0u);
  EXPECT_EQ(ConnectCode("dev1", DeviceToken("dev1", d.primary_key)), 5);
  // Enabled again, the device gets what was queued meanwhile.
  ASSERT_TRUE(hub_->registry().Replace(d, "").has_value());
  auto again = Connected(d);
  EXPECT_EQ(PublishCount(again->Received()), 1u) << "its persistent session subscribed";
}

TEST_F(RevocationTest, NewKeysCloseTheConnectionAndTheOldKeyIsRefused) {
  core::Device d = CreateDevice("dev1");
  std::string old_token = DeviceToken("dev1", d.primary_key);
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  core::Device rekeyed = d;
  rekeyed.primary_key = "c2VjcmV0LWtleS1udW1iZXItdHdvLTMyLWJ5dGVzLWxvbmch";
  ASSERT_TRUE(hub_->registry().Replace(rekeyed, "").has_value());
  RunAll();
  EXPECT_TRUE(client->closed());
  SendC2d("dev1", C2d("after the new keys"));
  EXPECT_EQ(PublishCount(client->Received()), 0u);
  EXPECT_EQ(ConnectCode("dev1", old_token), 5);
  EXPECT_EQ(ConnectCode("dev1", DeviceToken("dev1", rekeyed.primary_key)), 0);
}

// Authenticated on the connection's shard, then revoked before the attach reached the device's
// shard: the CONNECT is refused there (CONNACK 5), never accepted and closed later.
TEST_F(RevocationTest, ARevocationBetweenTheCheckAndTheAttachRefusesTheConnect) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient(0);
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)));
  // The attach is posted to the device's shard, not run yet.
  core::Device disabled = d;
  disabled.status = core::DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Replace(disabled, "").has_value());
  RunAll();
  auto packets = client->Received();
  ASSERT_FALSE(packets.empty());
  ASSERT_TRUE(std::holds_alternative<Connack>(packets[0]));
  EXPECT_EQ(std::get<Connack>(packets[0]).return_code, ConnectReturnCode::kNotAuthorized);
  EXPECT_TRUE(client->closed());
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
}

// A link of another protocol (here a stand-in, as an AMQP connection registers itself) replaces
// the MQTT connection: the core ends it, and the device stays connected through the newer one.
TEST_F(RevocationTest, ANewerConnectionOfAnotherProtocolReplacesTheMqttOne) {
  struct OtherProtocol : core::DeviceLink {
    void End(core::LinkEnd, const std::string&) override { ++ended; }
    void Deliver(std::vector<core::Message> messages) override { delivered += messages.size(); }
    int ended = 0;
    size_t delivered = 0;
  };
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  Subscribe(*client, "dev1");
  auto principal = hub_->authenticator().Authenticate(DeviceToken("dev1", d.primary_key));
  ASSERT_TRUE(principal.has_value());
  auto other = std::make_shared<OtherProtocol>();
  std::optional<bool> attached;
  hub_->ConnectDevice("dev1", *principal, other, core::SessionMode::kNone, shard0_,
                      [&](Result<core::SessionView> s) { attached = s.has_value(); });
  RunAll();
  ASSERT_TRUE(attached.value_or(false));
  EXPECT_TRUE(client->closed());
  EXPECT_EQ(other->ended, 0);
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kConnected);
  SendC2d("dev1", C2d("for the newer connection"));
  EXPECT_EQ(PublishCount(client->Received()), 0u);
  hub_->GrantC2d("dev1", other, 1);
  RunAll();
  EXPECT_EQ(other->delivered, 1u);  // the newer link takes the device's messages
  // And the other way round: a new MQTT connection replaces the other protocol's.
  auto next = Connected(d);
  EXPECT_EQ(other->ended, 1);
}

}  // namespace
}  // namespace iothub::mqtt
