// DecodePacket on whole packets: the spec's examples decode to what they say, every rule of
// 3.1.1 a receiver must enforce is enforced (one named row per malformed case).
#include <gtest/gtest.h>

#include "mqtt/packets.h"

namespace iothub::mqtt {
namespace {

using std::string_literals::operator""s;

// A packet: `first` (type and flags), then the Remaining Length of `body`, then `body`.
std::string Frame(uint8_t first, const std::string& body) {
  std::string out;
  EncodeFixedHeader(static_cast<PacketType>(first >> 4), first & 0x0f,
                    static_cast<uint32_t>(body.size()), &out);
  return out + body;
}

// A two-byte length and the bytes (spec 1.5.3).
std::string Str(const std::string& s) {
  return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} + s;
}

// The variable header of a CONNECT named "MQTT" level 4 with `flags` and keep alive 60.
std::string ConnectHeader(uint8_t flags) {
  return Str("MQTT") + "\x04"s + static_cast<char>(flags) + "\x00\x3c"s;
}

// Decodes exactly one packet from `bytes` through the Decoder; nullopt when it is malformed.
std::optional<Packet> DecodeOne(const std::string& bytes, std::string* why) {
  Decoder decoder(1 << 20);
  decoder.Feed(bytes);
  Packet packet;
  const DecodeStatus status = decoder.Next(&packet, why);
  if (status == DecodeStatus::kMalformed) return std::nullopt;
  EXPECT_EQ(status, DecodeStatus::kOk) << testing::PrintToString(bytes);
  EXPECT_EQ(decoder.buffered(), 0u);
  return packet;
}

template <typename T>
T DecodeAs(const std::string& bytes) {
  std::string why;
  std::optional<Packet> packet = DecodeOne(bytes, &why);
  EXPECT_TRUE(packet.has_value()) << why;
  if (!packet || !std::holds_alternative<T>(*packet)) {
    ADD_FAILURE() << "decoded another type";
    return T{};
  }
  return std::get<T>(*packet);
}

TEST(PacketsDecodeTest, ConnectOfTheSpecsVariableHeaderExample) {
  // Spec 3.1.2.10, figure 3.6: "MQTT", level 4, flags 0xCE (user name, password, will QoS 1,
  // will flag, clean session), keep alive 10; then the payload in the order of 3.1.3.
  const std::string body = "\x00\x04MQTT\x04\xce\x00\x0a"s + Str("dev1") + Str("will/t") +
                           Str("bye\x00\xff"s) + Str("user") + Str("pa\x00ss"s);
  const auto connect = DecodeAs<Connect>(Frame(0x10, body));
  EXPECT_EQ(connect.protocol_name, "MQTT");
  EXPECT_EQ(connect.protocol_level, 4);
  EXPECT_TRUE(connect.clean_session);
  EXPECT_EQ(connect.keep_alive, 10);
  EXPECT_EQ(connect.client_id, "dev1");
  ASSERT_TRUE(connect.will.has_value());
  EXPECT_EQ(connect.will->topic, "will/t");
  EXPECT_EQ(connect.will->message, "bye\x00\xff"s);
  EXPECT_EQ(connect.will->qos, 1);
  EXPECT_FALSE(connect.will->retain);
  EXPECT_EQ(connect.user_name, "user");
  EXPECT_EQ(connect.password, "pa\x00ss"s);
}

TEST(PacketsDecodeTest, MinimalConnectWithEmptyClientId) {
  // The session decides about an empty client id (spec 3.1.3.1); the codec accepts it.
  const auto connect = DecodeAs<Connect>(Frame(0x10, ConnectHeader(0x00) + Str("")));
  EXPECT_EQ(connect.client_id, "");
  EXPECT_FALSE(connect.clean_session);
  EXPECT_EQ(connect.keep_alive, 60);
  EXPECT_FALSE(connect.will.has_value());
  EXPECT_FALSE(connect.user_name.has_value());
  EXPECT_FALSE(connect.password.has_value());
}

TEST(PacketsDecodeTest, ConnectUserNameWithoutPasswordAndRetainedWill) {
  const auto connect = DecodeAs<Connect>(
      Frame(0x10, ConnectHeader(0xb4) + Str("c") + Str("w") + Str("") + Str("u")));
  ASSERT_TRUE(connect.will.has_value());
  EXPECT_EQ(connect.will->qos, 2);
  EXPECT_TRUE(connect.will->retain);
  EXPECT_EQ(connect.will->message, "");
  EXPECT_EQ(connect.user_name, "u");
  EXPECT_FALSE(connect.password.has_value());
}

TEST(PacketsDecodeTest, Mqtt31ProtocolNameDecodesForTheSessionToRefuse) {
  const auto connect =
      DecodeAs<Connect>(Frame(0x10, Str("MQIsdp") + "\x03\x02\x00\x00"s + Str("old")));
  EXPECT_EQ(connect.protocol_name, "MQIsdp");
  EXPECT_EQ(connect.protocol_level, 3);
  EXPECT_EQ(connect.client_id, "old");
}

TEST(PacketsDecodeTest, UnsupportedLevelDecodesForTheSessionToRefuse) {
  // CONNACK 1 is the session's answer (spec 3.1.2.2), so the level is not malformed here.
  const auto connect = DecodeAs<Connect>(Frame(0x10, Str("MQTT") + "\x05\x02\x00\x00"s + Str("")));
  EXPECT_EQ(connect.protocol_level, 5);
}

TEST(PacketsDecodeTest, PublishOfTheSpecsExample) {
  // Spec 3.3.2.3, figure 3.12: topic "a/b", packet id 10; QoS 1, DUP and RETAIN here.
  const auto publish = DecodeAs<Publish>(Frame(0x3b, "\x00\x03\x61\x2f\x62\x00\x0a"s + "hi"));
  EXPECT_TRUE(publish.dup);
  EXPECT_EQ(publish.qos, 1);
  EXPECT_TRUE(publish.retain);
  EXPECT_EQ(publish.topic, "a/b");
  EXPECT_EQ(publish.packet_id, 10);
  EXPECT_EQ(publish.payload, "hi");
}

TEST(PacketsDecodeTest, PublishQos0HasNoPacketIdAndMayBeEmpty) {
  const auto publish = DecodeAs<Publish>(Frame(0x30, Str("a/b")));
  EXPECT_EQ(publish.qos, 0);
  EXPECT_EQ(publish.packet_id, 0);
  EXPECT_EQ(publish.payload, "");
  // A binary payload whose first bytes would read as a packet id at QoS 0 stays payload.
  EXPECT_EQ(DecodeAs<Publish>(Frame(0x30, Str("t") + "\x00\x00\xff"s)).payload, "\x00\x00\xff"s);
}

TEST(PacketsDecodeTest, PublishTopicWithSpecsUtf8Example) {
  // Spec 1.5.3.1, figure 1.1: "A\u{2A6D4}" is 00 05 41 F0 AA 9B 94.
  const auto publish = DecodeAs<Publish>(Frame(0x34, "\x00\x05\x41\xf0\xaa\x9b\x94\x12\x34"s));
  EXPECT_EQ(publish.topic, "A\xf0\xaa\x9b\x94");
  EXPECT_EQ(publish.qos, 2);
  EXPECT_EQ(publish.packet_id, 0x1234);
}

TEST(PacketsDecodeTest, AcknowledgementsCarryTheirTypeAndId) {
  for (const uint8_t first : {0x40, 0x50, 0x62, 0x70, 0xb0}) {
    const auto ack = DecodeAs<PacketIdOnly>(Frame(first, "\xab\xcd"s));
    EXPECT_EQ(ack.type, static_cast<PacketType>(first >> 4));
    EXPECT_EQ(ack.packet_id, 0xabcd);
  }
}

TEST(PacketsDecodeTest, SubscribeOfTheSpecsExample) {
  // Spec 3.8.3, figure 3.22 and 3.8.2 figure 3.21: packet id 10, "a/b" QoS 1, "c/d" QoS 2.
  const auto subscribe =
      DecodeAs<Subscribe>(Frame(0x82, "\x00\x0a\x00\x03\x61\x2f\x62\x01\x00\x03\x63\x2f\x64\x02"s));
  EXPECT_EQ(subscribe.packet_id, 10);
  EXPECT_EQ(subscribe.subscriptions,
            (std::vector<Subscription>{{.filter = "a/b", .qos = 1}, {.filter = "c/d", .qos = 2}}));
}

TEST(PacketsDecodeTest, SubscribeWildcardFilters) {
  const auto subscribe = DecodeAs<Subscribe>(
      Frame(0x82, "\x00\x01"s + Str("#") + "\x00"s + Str("+") + "\x00"s + Str("a/+/b/#") + "\x00"s +
                      Str("+/+") + "\x01"s + Str("/") + "\x02"s + Str("a//b") + "\x00"s +
                      Str("$SYS/#") + "\x00"s));
  ASSERT_EQ(subscribe.subscriptions.size(), 7u);
  EXPECT_EQ(subscribe.subscriptions[2].filter, "a/+/b/#");
}

TEST(PacketsDecodeTest, SubackOfTheSpecsExample) {
  // Spec 3.9.3, figure 3.26: granted QoS 0, 1, 2 and failure.
  const auto suback = DecodeAs<Suback>(Frame(0x90, "\x00\x0a\x00\x01\x02\x80"s));
  EXPECT_EQ(suback.packet_id, 10);
  EXPECT_EQ(suback.return_codes, (std::vector<uint8_t>{0, 1, 2, kSubscribeFailure}));
}

TEST(PacketsDecodeTest, UnsubscribeOfTheSpecsExample) {
  // Spec 3.10.3, figure 3.30: "a/b" and "c/d".
  const auto unsubscribe =
      DecodeAs<Unsubscribe>(Frame(0xa2, "\x00\x0a\x00\x03\x61\x2f\x62\x00\x03\x63\x2f\x64"s));
  EXPECT_EQ(unsubscribe.packet_id, 10);
  EXPECT_EQ(unsubscribe.filters, (std::vector<std::string>{"a/b", "c/d"}));
}

TEST(PacketsDecodeTest, ConnackAndEmptyPackets) {
  const auto connack = DecodeAs<Connack>("\x20\x02\x01\x05"s);
  EXPECT_TRUE(connack.session_present);
  EXPECT_EQ(connack.return_code, ConnectReturnCode::kNotAuthorized);
  EXPECT_EQ(DecodeAs<Empty>("\xc0\x00"s).type, PacketType::kPingreq);
  EXPECT_EQ(DecodeAs<Empty>("\xd0\x00"s).type, PacketType::kPingresp);
  EXPECT_EQ(DecodeAs<Empty>("\xe0\x00"s).type, PacketType::kDisconnect);
}

TEST(PacketsDecodeTest, TypeOfEveryAlternative) {
  EXPECT_EQ(TypeOf(Connect{}), PacketType::kConnect);
  EXPECT_EQ(TypeOf(Connack{}), PacketType::kConnack);
  EXPECT_EQ(TypeOf(Publish{}), PacketType::kPublish);
  EXPECT_EQ(TypeOf(PacketIdOnly{.type = PacketType::kPubrel}), PacketType::kPubrel);
  EXPECT_EQ(TypeOf(Subscribe{}), PacketType::kSubscribe);
  EXPECT_EQ(TypeOf(Suback{}), PacketType::kSuback);
  EXPECT_EQ(TypeOf(Unsubscribe{}), PacketType::kUnsubscribe);
  EXPECT_EQ(TypeOf(Empty{.type = PacketType::kDisconnect}), PacketType::kDisconnect);
}

TEST(PacketsDecodeTest, DirectCallsCheckTheBodySizeAndTheHeaderFlags) {
  std::string why;
  FixedHeader header{.type = PacketType::kPuback, .flags = 0, .remaining_length = 2, .size = 2};
  EXPECT_TRUE(DecodePacket(header, "\x00\x01"s, &why).has_value());
  EXPECT_FALSE(DecodePacket(header, "\x00\x01\x02"s, &why).has_value());
  EXPECT_FALSE(why.empty());
  header.flags = 1;
  EXPECT_FALSE(DecodePacket(header, "\x00\x01"s, &why).has_value());
  header = {.type = PacketType::kPublish, .flags = 0b0110, .remaining_length = 3, .size = 2};
  EXPECT_FALSE(DecodePacket(header, "\x00\x01t"s, &why).has_value());  // QoS 3
  header = {.type = static_cast<PacketType>(15), .flags = 0, .remaining_length = 0, .size = 2};
  EXPECT_FALSE(DecodePacket(header, "", &why).has_value());
}

struct MalformedCase {
  const char* name;
  std::string bytes;
};

class MalformedPacketTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedPacketTest, IsRefusedWithAReason) {
  std::string why;
  EXPECT_FALSE(DecodeOne(GetParam().bytes, &why).has_value());
  EXPECT_FALSE(why.empty());
}

// A CONNECT payload of just a client id.
std::string ClientId() { return Str("client"); }

INSTANTIATE_TEST_SUITE_P(
    Spec, MalformedPacketTest,
    testing::Values(
        // CONNECT (spec 3.1).
        MalformedCase{"ConnectUnknownProtocolName",
                      Frame(0x10, Str("MQTX") + "\x04\x02\x00\x00"s + ClientId())},
        MalformedCase{"ConnectLowercaseProtocolName",
                      Frame(0x10, Str("mqtt") + "\x04\x02\x00\x00"s + ClientId())},
        MalformedCase{"ConnectReservedFlagSet", Frame(0x10, ConnectHeader(0x03) + ClientId())},
        MalformedCase{"ConnectWillQos3",
                      Frame(0x10, ConnectHeader(0x1e) + ClientId() + Str("w") + Str("m"))},
        MalformedCase{"ConnectWillQosWithoutWillFlag",
                      Frame(0x10, ConnectHeader(0x0a) + ClientId())},
        MalformedCase{"ConnectWillRetainWithoutWillFlag",
                      Frame(0x10, ConnectHeader(0x22) + ClientId())},
        MalformedCase{"ConnectPasswordWithoutUserName",
                      Frame(0x10, ConnectHeader(0x42) + ClientId() + Str("pw"))},
        MalformedCase{"ConnectTrailingBytes", Frame(0x10, ConnectHeader(0x02) + ClientId() + "x")},
        MalformedCase{"ConnectTruncatedVariableHeader", Frame(0x10, Str("MQTT") + "\x04\x02"s)},
        MalformedCase{"ConnectProtocolNameOverrunsPacket", Frame(0x10, "\x00\x09MQTT"s)},
        MalformedCase{"ConnectMissingClientId", Frame(0x10, ConnectHeader(0x02))},
        MalformedCase{"ConnectClientIdOverrunsPacket",
                      Frame(0x10, ConnectHeader(0x02) + "\x00\x07short"s)},
        MalformedCase{"ConnectClientIdWithNul", Frame(0x10, ConnectHeader(0x02) + Str("a\0b"s))},
        MalformedCase{"ConnectClientIdInvalidUtf8",
                      Frame(0x10, ConnectHeader(0x02) + Str("\xc3\x28"s))},
        MalformedCase{"ConnectWillFlagWithoutWillTopic",
                      Frame(0x10, ConnectHeader(0x06) + ClientId())},
        MalformedCase{"ConnectWillFlagWithoutWillMessage",
                      Frame(0x10, ConnectHeader(0x06) + ClientId() + Str("w"))},
        MalformedCase{"ConnectWillTopicWithWildcard",
                      Frame(0x10, ConnectHeader(0x06) + ClientId() + Str("w/#") + Str("m"))},
        MalformedCase{"ConnectEmptyWillTopic",
                      Frame(0x10, ConnectHeader(0x06) + ClientId() + Str("") + Str("m"))},
        MalformedCase{"ConnectUserNameFlagWithoutUserName",
                      Frame(0x10, ConnectHeader(0x82) + ClientId())},
        MalformedCase{"ConnectUserNameInvalidUtf8",
                      Frame(0x10, ConnectHeader(0x82) + ClientId() + Str("\xed\xa0\x80"s))},
        MalformedCase{"ConnectPasswordFlagWithoutPassword",
                      Frame(0x10, ConnectHeader(0xc2) + ClientId() + Str("u"))},
        MalformedCase{"ConnectFlagsInFixedHeader", Frame(0x11, ConnectHeader(0x02) + ClientId())},
        // CONNACK (spec 3.2).
        MalformedCase{"ConnackReservedFlags", "\x20\x02\x02\x00"s},
        MalformedCase{"ConnackReservedReturnCode", "\x20\x02\x00\x06"s},
        MalformedCase{"ConnackTooShort", "\x20\x01\x00"s},
        MalformedCase{"ConnackTooLong", "\x20\x03\x00\x00\x00"s},
        // PUBLISH (spec 3.3).
        MalformedCase{"PublishTopicWithPlus", Frame(0x30, Str("a/+/b"))},
        MalformedCase{"PublishTopicWithHash", Frame(0x30, Str("a/#"))},
        MalformedCase{"PublishEmptyTopic", Frame(0x30, Str("") + "payload")},
        MalformedCase{"PublishQos1PacketId0", Frame(0x32, Str("t") + "\x00\x00"s)},
        MalformedCase{"PublishQos2PacketId0", Frame(0x34, Str("t") + "\x00\x00"s)},
        MalformedCase{"PublishQos1TruncatedPacketId", Frame(0x32, Str("t") + "\x01"s)},
        MalformedCase{"PublishTopicOverrunsPacket", Frame(0x30, "\x00\x05top"s)},
        MalformedCase{"PublishTopicLengthTruncated", Frame(0x30, "\x00"s)},
        MalformedCase{"PublishTopicWithNul", Frame(0x30, Str("a\0b"s))},
        MalformedCase{"PublishTopicOverlongUtf8", Frame(0x30, Str("\xc0\xaf"s))},
        MalformedCase{"PublishTopicSurrogate", Frame(0x30, Str("\xed\xbf\xbf"s))},
        MalformedCase{"PublishTopicTruncatedUtf8", Frame(0x30, Str("ab\xe2\x82"s))},
        MalformedCase{"PublishQos3", Frame(0x36, Str("t") + "\x00\x01"s)},
        MalformedCase{"PublishDupWithQos0", Frame(0x38, Str("t"))},
        // PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (spec 3.4-3.7, 3.11).
        MalformedCase{"PubackPacketId0", "\x40\x02\x00\x00"s},
        MalformedCase{"PubackTooShort", "\x40\x01\x01"s},
        MalformedCase{"PubackTooLong", "\x40\x03\x00\x01\x00"s},
        MalformedCase{"PubackReservedFlags", "\x41\x02\x00\x01"s},
        MalformedCase{"PubrecPacketId0", "\x50\x02\x00\x00"s},
        MalformedCase{"PubrelWithoutFlag0010", "\x60\x02\x00\x01"s},
        MalformedCase{"PubrelTooLong", "\x62\x03\x00\x01\x00"s},
        MalformedCase{"PubcompEmpty", "\x70\x00"s},
        MalformedCase{"UnsubackTooLong", "\xb0\x03\x00\x01\x00"s},
        // SUBSCRIBE (spec 3.8).
        MalformedCase{"SubscribeWithoutFilters", "\x82\x02\x00\x01"s},
        MalformedCase{"SubscribePacketId0", Frame(0x82, "\x00\x00"s + Str("a") + "\x00"s)},
        MalformedCase{"SubscribeWithoutFlag0010", Frame(0x80, "\x00\x01"s + Str("a") + "\x00"s)},
        MalformedCase{"SubscribeRequestedQos3", Frame(0x82, "\x00\x01"s + Str("a") + "\x03"s)},
        MalformedCase{"SubscribeReservedQosBits", Frame(0x82, "\x00\x01"s + Str("a") + "\x41"s)},
        MalformedCase{"SubscribeQosByte0x80", Frame(0x82, "\x00\x01"s + Str("a") + "\x80"s)},
        MalformedCase{"SubscribeMissingQosByte", Frame(0x82, "\x00\x01"s + Str("a"))},
        MalformedCase{"SubscribeEmptyFilter", Frame(0x82, "\x00\x01"s + Str("") + "\x00"s)},
        MalformedCase{"SubscribeHashNotLast", Frame(0x82, "\x00\x01"s + Str("a/#/b") + "\x00"s)},
        MalformedCase{"SubscribeHashInsideLevel",
                      Frame(0x82, "\x00\x01"s + Str("sport/tennis#") + "\x00"s)},
        MalformedCase{"SubscribePlusInsideLevel",
                      Frame(0x82, "\x00\x01"s + Str("sport+") + "\x00"s)},
        MalformedCase{"SubscribeFilterInvalidUtf8",
                      Frame(0x82, "\x00\x01"s + Str("\xf4\x90\x80\x80"s) + "\x00"s)},
        MalformedCase{"SubscribeSecondFilterOverruns",
                      Frame(0x82, "\x00\x01"s + Str("a") + "\x00\x00\x09"s + "b")},
        // SUBACK (spec 3.9).
        MalformedCase{"SubackWithoutReturnCodes", "\x90\x02\x00\x01"s},
        MalformedCase{"SubackReservedReturnCode", "\x90\x03\x00\x01\x03"s},
        MalformedCase{"SubackPacketId0", "\x90\x03\x00\x00\x00"s},
        // UNSUBSCRIBE (spec 3.10).
        MalformedCase{"UnsubscribeWithoutFilters", "\xa2\x02\x00\x01"s},
        MalformedCase{"UnsubscribePacketId0", Frame(0xa2, "\x00\x00"s + Str("a"))},
        MalformedCase{"UnsubscribeWithoutFlag0010", Frame(0xa0, "\x00\x01"s + Str("a"))},
        MalformedCase{"UnsubscribeMalformedFilter", Frame(0xa2, "\x00\x01"s + Str("a/b#"))},
        MalformedCase{"UnsubscribeTruncatedFilter", Frame(0xa2, "\x00\x01"s + Str("a") + "\x00"s)},
        // PINGREQ, PINGRESP, DISCONNECT (spec 3.12-3.14).
        MalformedCase{"PingreqWithBody", "\xc0\x01\x00"s},
        MalformedCase{"PingrespWithBody", "\xd0\x01\x00"s},
        MalformedCase{"DisconnectWithBody", "\xe0\x01\x00"s},
        MalformedCase{"DisconnectReservedFlags", "\xe2\x00"s},
        // Reserved packet types (spec 2.2.1).
        MalformedCase{"ReservedType0", "\x00\x00"s}, MalformedCase{"ReservedType15", "\xf0\x00"s}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

}  // namespace
}  // namespace iothub::mqtt
