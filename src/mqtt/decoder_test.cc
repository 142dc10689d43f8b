// Decoder: streams split anywhere (byte at a time too), the packet size limit, a malformed stream
// stays malformed, the buffer is compacted and freed.
#include <gtest/gtest.h>

#include "mqtt/packets.h"

namespace iothub::mqtt {
namespace {

using std::string_literals::operator""s;

std::vector<Packet> SessionPackets() {
  return {
      Connect{.keep_alive = 30, .client_id = "d1", .user_name = "h/d1", .password = "sas"},
      Subscribe{.packet_id = 1, .subscriptions = {{.filter = "devices/d1/messages/devicebound/#"}}},
      Publish{.qos = 1,
              .topic = "devices/d1/messages/events/",
              .packet_id = 2,
              .payload = std::string(300, 'x')},
      PacketIdOnly{.type = PacketType::kPuback, .packet_id = 7},
      Empty{.type = PacketType::kPingreq},
      Publish{.topic = "devices/d1/messages/events/a=b", .payload = ""},
      Unsubscribe{.packet_id = 3, .filters = {"devices/d1/messages/devicebound/#"}},
      Empty{.type = PacketType::kDisconnect},
  };
}

std::string Encode(const std::vector<Packet>& packets) {
  std::string out;
  for (const Packet& p : packets) EncodePacket(p, &out);
  return out;
}

// Takes every packet the decoder has; fails the test on a malformed stream.
void Drain(Decoder& decoder, std::vector<Packet>* out) {
  Packet packet;
  std::string why;
  DecodeStatus status;
  while ((status = decoder.Next(&packet, &why)) == DecodeStatus::kOk) out->push_back(packet);
  EXPECT_EQ(status, DecodeStatus::kIncomplete) << why;
}

TEST(DecoderTest, WholeStreamInOneFeed) {
  Decoder decoder(4096);
  decoder.Feed(Encode(SessionPackets()));
  std::vector<Packet> got;
  Drain(decoder, &got);
  EXPECT_EQ(got, SessionPackets());
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(DecoderTest, StreamFedOneByteAtATime) {
  const std::string bytes = Encode(SessionPackets());
  Decoder decoder(4096);
  std::vector<Packet> got;
  for (const char c : bytes) {
    decoder.Feed(std::string_view(&c, 1));
    Drain(decoder, &got);
  }
  EXPECT_EQ(got, SessionPackets());
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(DecoderTest, StreamSplitInTwoAtEveryOffset) {
  const std::string bytes = Encode(SessionPackets());
  for (size_t split = 0; split <= bytes.size(); ++split) {
    Decoder decoder(4096);
    std::vector<Packet> got;
    decoder.Feed(std::string_view(bytes).substr(0, split));
    Drain(decoder, &got);
    decoder.Feed(std::string_view(bytes).substr(split));
    Drain(decoder, &got);
    ASSERT_EQ(got, SessionPackets()) << "split at " << split;
  }
}

TEST(DecoderTest, NothingIsReturnedBeforeThePacketIsWhole) {
  const std::string bytes = EncodePacket(Publish{.topic = "t", .payload = "abc"});
  Decoder decoder(4096);
  Packet packet;
  std::string why;
  decoder.Feed(bytes.substr(0, bytes.size() - 1));
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kIncomplete);
  EXPECT_EQ(decoder.buffered(), bytes.size() - 1);
  decoder.Feed(bytes.substr(bytes.size() - 1));
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kOk);
  EXPECT_EQ(std::get<Publish>(packet).payload, "abc");
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kIncomplete);
}

TEST(DecoderTest, LimitCountsTheWholePacketIncludingTheFixedHeader) {
  // 2 bytes of fixed header + 2 of topic length + 1 of topic + 95 of payload = 100.
  const std::string exact = EncodePacket(Publish{.topic = "t", .payload = std::string(95, 'p')});
  ASSERT_EQ(exact.size(), 100u);
  Packet packet;
  std::string why;
  Decoder at_limit(100);
  at_limit.Feed(exact);
  EXPECT_EQ(at_limit.Next(&packet, &why), DecodeStatus::kOk) << why;
  Decoder below(99);
  below.Feed(exact);
  EXPECT_EQ(below.Next(&packet, &why), DecodeStatus::kMalformed);
  EXPECT_NE(why.find("limit"), std::string::npos) << why;
}

TEST(DecoderTest, OversizedPacketIsMalformedAsSoonAsItsFixedHeaderIsIn) {
  Decoder decoder(1024);
  Packet packet;
  std::string why;
  decoder.Feed("\x30\xff"s);  // Remaining Length not finished yet
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kIncomplete);
  decoder.Feed("\xff\x7f"s);  // 2,097,151: no body needed to know it is too large
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kMalformed);
  EXPECT_FALSE(why.empty());
}

TEST(DecoderTest, MalformedStreamStaysMalformed) {
  Decoder decoder(4096);
  Packet packet;
  std::string why;
  decoder.Feed(EncodePacket(Empty{.type = PacketType::kPingreq}) + "\xc0\x01\x00"s);
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kOk);
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kMalformed);
  decoder.Feed(EncodePacket(Empty{.type = PacketType::kPingreq}));
  why.clear();
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kMalformed);
  EXPECT_FALSE(why.empty());
}

TEST(DecoderTest, MalformedFixedHeaderNeedsNoMoreBytes) {
  Decoder decoder(4096);
  Packet packet;
  std::string why;
  decoder.Feed("\xf0"s);  // reserved type 15: malformed before the Remaining Length
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kMalformed);
}

TEST(DecoderTest, ManyPacketsInOddChunksAreCompactedAndAllDecoded) {
  // 20,000 packets of different sizes fed in 4,099-byte chunks: packets straddle every chunk
  // boundary, so the buffer always holds a partial packet and must be compacted, not cleared.
  std::vector<Packet> sent;
  std::string bytes;
  for (int i = 0; i < 20'000; ++i) {
    sent.push_back(Publish{.qos = 1,
                           .topic = "t/" + std::to_string(i),
                           .packet_id = static_cast<uint16_t>(i % 65535 + 1),
                           .payload = std::string(i % 300, static_cast<char>(i))});
    EncodePacket(sent.back(), &bytes);
  }
  Decoder decoder(1024);
  std::vector<Packet> got;
  size_t max_buffered = 0;
  for (size_t at = 0; at < bytes.size(); at += 4099) {
    decoder.Feed(std::string_view(bytes).substr(at, 4099));
    max_buffered = std::max(max_buffered, decoder.buffered());
    Drain(decoder, &got);
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_LT(max_buffered, 4099u + 1024u);
}

TEST(DecoderTest, ShrinkIfIdleKeepsAPartialPacket) {
  const std::string bytes = EncodePacket(Publish{.topic = "t", .payload = std::string(5000, 'x')});
  Decoder decoder(8192);
  Packet packet;
  std::string why;
  decoder.Feed(bytes.substr(0, 3000));
  decoder.ShrinkIfIdle();  // not idle: nothing is dropped
  EXPECT_EQ(decoder.buffered(), 3000u);
  decoder.Feed(bytes.substr(3000));
  ASSERT_EQ(decoder.Next(&packet, &why), DecodeStatus::kOk) << why;
  EXPECT_EQ(std::get<Publish>(packet).payload.size(), 5000u);
  decoder.ShrinkIfIdle();
  EXPECT_EQ(decoder.buffered(), 0u);
  // Usable after shrinking.
  decoder.Feed(EncodePacket(Empty{.type = PacketType::kPingreq}));
  EXPECT_EQ(decoder.Next(&packet, &why), DecodeStatus::kOk);
  EXPECT_EQ(packet, Packet{Empty{.type = PacketType::kPingreq}});
}

}  // namespace
}  // namespace iothub::mqtt
