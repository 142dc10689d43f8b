// EncodePacket and EncodePublish: golden bytes for the server's packets, and every type survives
// encode -> decode unchanged.
#include <gtest/gtest.h>

#include "mqtt/packets.h"

namespace iothub::mqtt {
namespace {

using std::string_literals::operator""s;

std::optional<Packet> Decode(const std::string& bytes) {
  Decoder decoder(kMaxRemainingLength);
  decoder.Feed(bytes);
  Packet packet;
  std::string why;
  const DecodeStatus status = decoder.Next(&packet, &why);
  EXPECT_EQ(status, DecodeStatus::kOk) << why;
  EXPECT_EQ(decoder.buffered(), 0u);
  if (status != DecodeStatus::kOk) return std::nullopt;
  return packet;
}

TEST(PacketsEncodeTest, ServerPacketsGoldenBytes) {
  EXPECT_EQ(EncodePacket(Connack{}), "\x20\x02\x00\x00"s);
  EXPECT_EQ(EncodePacket(Connack{.session_present = true,
                                 .return_code = ConnectReturnCode::kBadUserNameOrPassword}),
            "\x20\x02\x01\x04"s);
  EXPECT_EQ(EncodePacket(PacketIdOnly{.type = PacketType::kPuback, .packet_id = 0x0102}),
            "\x40\x02\x01\x02"s);
  EXPECT_EQ(EncodePacket(PacketIdOnly{.type = PacketType::kPubrec, .packet_id = 7}),
            "\x50\x02\x00\x07"s);
  // PUBREL carries the flags 0b0010 (spec 3.6.1).
  EXPECT_EQ(EncodePacket(PacketIdOnly{.type = PacketType::kPubrel, .packet_id = 7}),
            "\x62\x02\x00\x07"s);
  EXPECT_EQ(EncodePacket(PacketIdOnly{.type = PacketType::kPubcomp, .packet_id = 7}),
            "\x70\x02\x00\x07"s);
  EXPECT_EQ(EncodePacket(PacketIdOnly{.type = PacketType::kUnsuback, .packet_id = 10}),
            "\xb0\x02\x00\x0a"s);
  // Spec 3.9.3, figure 3.26.
  EXPECT_EQ(EncodePacket(Suback{.packet_id = 10, .return_codes = {0, 1, 2, kSubscribeFailure}}),
            "\x90\x06\x00\x0a\x00\x01\x02\x80"s);
  EXPECT_EQ(EncodePacket(Empty{.type = PacketType::kPingresp}), "\xd0\x00"s);
}

TEST(PacketsEncodeTest, PublishGoldenBytes) {
  std::string out;
  // Spec 3.3.2.3, figure 3.12: topic "a/b", packet id 10.
  EncodePublish(false, 1, false, "a/b", 10, "hi", &out);
  EXPECT_EQ(out, "\x32\x09\x00\x03\x61\x2f\x62\x00\x0a\x68\x69"s);
  out.clear();
  EncodePublish(true, 2, true, "t", 1, "", &out);
  EXPECT_EQ(out, "\x3d\x05\x00\x01t\x00\x01"s);
  out.clear();
  // QoS 0 has no packet id, whatever is passed.
  EncodePublish(false, 0, false, "t", 99, "p", &out);
  EXPECT_EQ(out, "\x30\x04\x00\x01tp"s);
}

TEST(PacketsEncodeTest, ClientPacketsGoldenBytes) {
  // Spec 3.8.3 figure 3.22, 3.10.3 figure 3.30, and 3.1.2.10 figure 3.6 (without a will).
  EXPECT_EQ(EncodePacket(Subscribe{
                .packet_id = 10,
                .subscriptions = {{.filter = "a/b", .qos = 1}, {.filter = "c/d", .qos = 2}}}),
            "\x82\x0e\x00\x0a\x00\x03\x61\x2f\x62\x01\x00\x03\x63\x2f\x64\x02"s);
  EXPECT_EQ(EncodePacket(Unsubscribe{.packet_id = 10, .filters = {"a/b", "c/d"}}),
            "\xa2\x0c\x00\x0a\x00\x03\x61\x2f\x62\x00\x03\x63\x2f\x64"s);
  EXPECT_EQ(EncodePacket(Connect{.keep_alive = 10, .client_id = "c", .user_name = "u"}),
            "\x10\x10\x00\x04MQTT\x04\x82\x00\x0a\x00\x01\x63\x00\x01u"s);
  EXPECT_EQ(EncodePacket(Empty{.type = PacketType::kPingreq}), "\xc0\x00"s);
  EXPECT_EQ(EncodePacket(Empty{.type = PacketType::kDisconnect}), "\xe0\x00"s);
}

TEST(PacketsEncodeTest, EncodeAppendsToWhatIsThere) {
  std::string out = "prefix";
  EncodePacket(Empty{.type = PacketType::kPingresp}, &out);
  EncodePublish(false, 0, false, "t", 0, "", &out);
  EXPECT_EQ(out, "prefix\xd0\x00\x30\x03\x00\x01t"s);
}

TEST(PacketsEncodeTest, EncodePublishEqualsEncodingAPublish) {
  const std::string big(20'000, 'x');  // a three-byte Remaining Length
  for (const Publish& p :
       {Publish{.topic = "a", .payload = "b"},
        Publish{.dup = true,
        .qos = 1,
        .topic = "devices/d/messages/devicebound/%24.to=x",
        .packet_id = 65535,
        .payload = "\x00\x01\x02"s},
        Publish{.qos = 2, .retain = true, .topic = "t", .packet_id = 1, .payload = big}}) {
    std::string direct;
    EncodePublish(p.dup, p.qos, p.retain, p.topic, p.packet_id, p.payload, &direct);
    EXPECT_EQ(direct, EncodePacket(p));
  }
}

class RoundTripTest : public testing::TestWithParam<Packet> {};

TEST_P(RoundTripTest, DecodesToWhatWasEncoded) {
  const std::string bytes = EncodePacket(GetParam());
  std::optional<Packet> decoded = Decode(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, GetParam());
  EXPECT_EQ(EncodePacket(*decoded), bytes);
}

INSTANTIATE_TEST_SUITE_P(
    EveryType, RoundTripTest,
    testing::Values(
        Packet{Connect{}},
        Packet{Connect{
            .clean_session = false,
            .keep_alive = 65535,
            .client_id = "device-1",
            .will = Will{.topic = "w/t", .message = "\x00gone\xff"s, .qos = 2, .retain = true},
            .user_name = "hub.example/device-1/?api-version=2021-04-12",
            .password = "SharedAccessSignature sr=x\x00"s}},
        Packet{Connect{.client_id = "c", .will = Will{.topic = "t"}, .user_name = ""}},
        Packet{Connect{.client_id = "c", .user_name = "u", .password = ""}},
        Packet{Connect{.protocol_name = "MQIsdp", .protocol_level = 3, .client_id = "old"}},
        Packet{Connack{}},
        Packet{
            Connack{.session_present = true, .return_code = ConnectReturnCode::kServerUnavailable}},
        Packet{Publish{.topic = "devices/d/messages/events/", .payload = "{\"t\":1}"}},
        Packet{Publish{.dup = true,
                       .qos = 1,
                       .retain = true,
                       .topic = "a/\xc3\xa9",
                       .packet_id = 1,
                       .payload = std::string(200, '\0')}},
        Packet{Publish{
            .qos = 2, .topic = "/", .packet_id = 65535, .payload = std::string(70'000, 'p')}},
        Packet{PacketIdOnly{.type = PacketType::kPuback, .packet_id = 1}},
        Packet{PacketIdOnly{.type = PacketType::kPubrec, .packet_id = 2}},
        Packet{PacketIdOnly{.type = PacketType::kPubrel, .packet_id = 3}},
        Packet{PacketIdOnly{.type = PacketType::kPubcomp, .packet_id = 4}},
        Packet{PacketIdOnly{.type = PacketType::kUnsuback, .packet_id = 5}},
        Packet{Subscribe{.packet_id = 9,
                         .subscriptions = {{.filter = "devices/d/messages/devicebound/#", .qos = 1},
                                           {.filter = "$iothub/methods/POST/#"},
                                           {.filter = "+/+/#", .qos = 2}}}},
        Packet{Suback{.packet_id = 9, .return_codes = {1, kSubscribeFailure, 0, 2}}},
        Packet{Unsubscribe{.packet_id = 65535, .filters = {"#", "a/+", "x"}}},
        Packet{Empty{.type = PacketType::kPingreq}}, Packet{Empty{.type = PacketType::kPingresp}},
        Packet{Empty{.type = PacketType::kDisconnect}}));

}  // namespace
}  // namespace iothub::mqtt
