#include "mqtt/connection.h"

#include <gtest/gtest.h>

#include "mqtt/session_test_fixture.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

using std::chrono::seconds;

class ConnectionTest : public SessionTest {};

ConnectReturnCode ConnackCode(TestClient& client) {
  auto packets = client.Received();
  if (packets.size() != 1 || !std::holds_alternative<Connack>(packets[0])) {
    ADD_FAILURE() << "expected exactly one CONNACK, got " << packets.size() << " packets";
    return ConnectReturnCode::kAccepted;
  }
  return std::get<Connack>(packets[0]).return_code;
}

TEST_F(ConnectionTest, DeviceTokenConnectsAndMarksTheDeviceConnected) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  EXPECT_FALSE(client->closed());
  EXPECT_TRUE(client->connection().connected());
  auto stored = hub_->registry().Get("dev1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->connection_state, core::ConnectionState::kConnected);

  client->Send(Empty{.type = PacketType::kDisconnect});
  RunAll();
  EXPECT_TRUE(client->closed());
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
}

TEST_F(ConnectionTest, PersistentSessionIsPresentOnReconnectEvenWhenEmpty) {
  core::Device d = CreateDevice("dev1");
  bool present = true;
  auto first = Connected(d, /*clean=*/false, 0, &present);
  EXPECT_FALSE(present);  // the first connection ever
  first->Send(Empty{.type = PacketType::kDisconnect});
  RunAll();
  auto second = Connected(d, false, 0, &present);
  EXPECT_TRUE(present);  // MQTT-3.2.2-2
  second->Send(Empty{.type = PacketType::kDisconnect});
  RunAll();
  auto clean = Connected(d, /*clean=*/true, 0, &present);
  EXPECT_FALSE(present);  // MQTT-3.2.2-1
}

TEST_F(ConnectionTest, PolicyTokenWithDeviceConnectIsAccepted) {
  CreateDevice("dev1");
  auto client = NewClient();
  client->Send(SdkConnect("dev1", PolicyToken("device")));
  RunAll();
  EXPECT_EQ(ConnackCode(*client), ConnectReturnCode::kAccepted);
}

TEST_F(ConnectionTest, RefusedConnectsGetTheirCodeAndClose) {
  core::Device d = CreateDevice("dev1");
  core::Device off = CreateDevice("off", core::DeviceStatus::kDisabled);
  struct Case {
    std::string name;
    Connect connect;
    ConnectReturnCode code;
  };
  Connect level3 = SdkConnect("dev1", DeviceToken("dev1", d.primary_key));
  level3.protocol_name = "MQIsdp";
  level3.protocol_level = 3;
  Connect no_id = SdkConnect("", DeviceToken("dev1", d.primary_key));
  Connect no_password = SdkConnect("dev1", "");
  no_password.password.reset();
  Connect no_user = SdkConnect("dev1", DeviceToken("dev1", d.primary_key));
  no_user.user_name.reset();
  no_user.password.reset();
  Connect other_user = SdkConnect("dev1", DeviceToken("dev1", d.primary_key));
  other_user.user_name = std::string(kHost) + "/dev2/?api-version=2021-04-12";
  std::vector<Case> cases = {
      {"protocol level 3", level3, ConnectReturnCode::kUnacceptableProtocolVersion},
      {"empty client id", no_id, ConnectReturnCode::kIdentifierRejected},
      {"no password", no_password, ConnectReturnCode::kBadUserNameOrPassword},
      {"no user name", no_user, ConnectReturnCode::kBadUserNameOrPassword},
      {"user name of another device", other_user, ConnectReturnCode::kNotAuthorized},
      {"wrong key", SdkConnect("dev1", DeviceToken("dev1", off.primary_key)),
       ConnectReturnCode::kNotAuthorized},
      {"expired token", SdkConnect("dev1", DeviceToken("dev1", d.primary_key, seconds(-1))),
       ConnectReturnCode::kNotAuthorized},
      {"garbage token", SdkConnect("dev1", "SharedAccessSignature nonsense"),
       ConnectReturnCode::kNotAuthorized},
      {"disabled device", SdkConnect("off", DeviceToken("off", off.primary_key)),
       ConnectReturnCode::kNotAuthorized},
      {"unknown device", SdkConnect("ghost", DeviceToken("ghost", d.primary_key)),
       ConnectReturnCode::kNotAuthorized},
      {"token of another device", SdkConnect("off", DeviceToken("dev1", d.primary_key)),
       ConnectReturnCode::kNotAuthorized},
      {"service policy without DeviceConnect", SdkConnect("dev1", PolicyToken("service")),
       ConnectReturnCode::kNotAuthorized},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto client = NewClient();
    client->Send(c.connect);
    RunAll();
    EXPECT_EQ(ConnackCode(*client), c.code);
    EXPECT_TRUE(client->closed());
  }
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
}

TEST_F(ConnectionTest, FirstPacketOtherThanConnectClosesWithoutAnswer) {
  auto client = NewClient();
  client->Send(Empty{.type = PacketType::kPingreq});
  RunAll();
  EXPECT_TRUE(client->closed());
  EXPECT_TRUE(client->Received().empty());
}

TEST_F(ConnectionTest, GarbageClosesWithoutAnswer) {
  auto client = NewClient();
  client->SendBytes(std::string("\xff\xff\xff\xff\xff", 5));
  RunAll();
  EXPECT_TRUE(client->closed());
  EXPECT_TRUE(client->Received().empty());
}

TEST_F(ConnectionTest, SecondConnectCloses) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)));
  RunAll();
  EXPECT_TRUE(client->closed());
}

TEST_F(ConnectionTest, PingreqGetsPingresp) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);
  client->Send(Empty{.type = PacketType::kPingreq});
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(TypeOf(packets[0]), PacketType::kPingresp);
}

TEST_F(ConnectionTest, PacketsSentBeforeConnackAreServedAfterIt) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  std::string bytes = EncodePacket(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)));
  bytes +=
      EncodePacket(Subscribe{.packet_id = 7, .subscriptions = {{DeviceboundFilter("dev1"), 1}}});
  client->SendBytes(bytes);
  RunAll();
  auto packets = client->Received();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(TypeOf(packets[0]), PacketType::kConnack);
  ASSERT_EQ(TypeOf(packets[1]), PacketType::kSuback);
  EXPECT_EQ(std::get<Suback>(packets[1]).return_codes, std::vector<uint8_t>{1});
}

TEST_F(ConnectionTest, ReadingPausesWhileConnectIsChecked) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)));
  EXPECT_TRUE(client->paused());
  RunAll();
  EXPECT_FALSE(client->paused());
}

TEST_F(ConnectionTest, NoConnectWithinTheTimeoutCloses) {
  auto client = NewClient();
  client->SendBytes(std::string("\x10\x20\x00", 3));  // a CONNECT that never completes
  clock_.Advance(seconds(9));
  endpoint_->Tick(0);
  EXPECT_FALSE(client->closed());
  clock_.Advance(seconds(2));
  endpoint_->Tick(0);
  EXPECT_TRUE(client->closed());
}

TEST_F(ConnectionTest, SilenceBeyondOneAndAHalfKeepAlivesCloses) {
  core::Device d = CreateDevice("dev1");
  auto client = Connected(d);  // keep-alive 180 s: the limit is 270 s
  clock_.Advance(seconds(200));
  client->Send(Empty{.type = PacketType::kPingreq});
  RunAll();
  clock_.Advance(seconds(269));
  endpoint_->Tick(0);
  EXPECT_FALSE(client->closed());
  clock_.Advance(seconds(2));
  endpoint_->Tick(0);
  EXPECT_TRUE(client->closed());
  RunAll();
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
}

TEST_F(ConnectionTest, KeepAliveAboveIotHubsCapIsLoweredTo1177Seconds) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  Connect connect = SdkConnect("dev1", DeviceToken("dev1", d.primary_key));
  connect.keep_alive = 3000;  // would allow 4500 s of silence; capped: 1.5 x 1177 = 1765.5 s
  client->Send(connect);
  RunAll();
  clock_.Advance(seconds(1765));
  endpoint_->Tick(0);
  EXPECT_FALSE(client->closed());
  clock_.Advance(seconds(1));
  endpoint_->Tick(0);
  EXPECT_TRUE(client->closed());
}

TEST_F(ConnectionTest, TokenExpiryCloses) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key, seconds(100))));
  RunAll();
  EXPECT_EQ(ConnackCode(*client), ConnectReturnCode::kAccepted);
  for (int i = 0; i < 9; ++i) {
    clock_.Advance(seconds(10));
    client->Send(Empty{.type = PacketType::kPingreq});
    RunAll();
    endpoint_->Tick(0);
  }
  EXPECT_FALSE(client->closed());
  clock_.Advance(seconds(11));
  endpoint_->Tick(0);
  EXPECT_TRUE(client->closed());
}

TEST_F(ConnectionTest, ANewConnectionOfTheDeviceClosesTheOlder) {
  core::Device d = CreateDevice("dev1");
  auto first = Connected(d, false, 0);
  auto second = Connected(d, false, 1);
  EXPECT_TRUE(first->closed());
  EXPECT_FALSE(second->closed());
  // The older one's end does not mark the device disconnected.
  first->Drop();
  RunAll();
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kConnected);
}

TEST_F(ConnectionTest, DroppedWhileAuthenticatingLeavesNoSessionAttached) {
  core::Device d = CreateDevice("dev1");
  auto client = NewClient();
  client->Send(SdkConnect("dev1", DeviceToken("dev1", d.primary_key)));
  client->Drop();  // before the device's shard ran the attach
  RunAll();
  EXPECT_EQ(hub_->registry().Get("dev1")->connection_state, core::ConnectionState::kDisconnected);
}

}  // namespace
}  // namespace iothub::mqtt
