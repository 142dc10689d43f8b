#include "mqtt/fixed_header.h"

#include <gtest/gtest.h>

namespace iothub::mqtt {
namespace {

using std::string_literals::operator""s;

DecodeStatus Decode(const std::string& bytes, FixedHeader* out,
                    uint32_t limit = kMaxRemainingLength) {
  std::string why;
  return DecodeFixedHeader(bytes, limit, out, &why);
}

TEST(FixedHeaderTest, RemainingLengthBoundariesOfTheSpec) {
  // Spec 2.2.3, table 2.4: the first and last value of each encoded size.
  struct Case {
    uint32_t length;
    std::string encoded;
  };
  for (const Case& c :
       {Case{0, "\x00"s}, Case{127, "\x7f"s}, Case{128, "\x80\x01"s}, Case{16'383, "\xff\x7f"s},
        Case{16'384, "\x80\x80\x01"s}, Case{2'097'151, "\xff\xff\x7f"s},
        Case{2'097'152, "\x80\x80\x80\x01"s}, Case{268'435'455, "\xff\xff\xff\x7f"s}}) {
    std::string bytes;
    EncodeFixedHeader(PacketType::kPublish, 0b0010, c.length, &bytes);
    EXPECT_EQ(bytes, "\x32"s + c.encoded) << c.length;
    FixedHeader h;
    ASSERT_EQ(Decode(bytes, &h), DecodeStatus::kOk) << c.length;
    EXPECT_EQ(h.type, PacketType::kPublish);
    EXPECT_EQ(h.flags, 0b0010);
    EXPECT_EQ(h.remaining_length, c.length);
    EXPECT_EQ(h.size, 1 + c.encoded.size());
  }
}

TEST(FixedHeaderTest, PartialInputIsIncompleteByteAtATime) {
  std::string bytes;
  EncodeFixedHeader(PacketType::kConnect, 0, 2'097'152, &bytes);
  FixedHeader h;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(Decode(bytes.substr(0, n), &h), DecodeStatus::kIncomplete) << n;
  }
  ASSERT_EQ(Decode(bytes + "rest", &h), DecodeStatus::kOk);
  EXPECT_EQ(h.remaining_length, 2'097'152u);
  EXPECT_EQ(h.size, 5u);
}

TEST(FixedHeaderTest, MalformedHeadersAreRefusedWithAReason) {
  FixedHeader h;
  std::string why;
  for (const std::string& bytes :
       {"\x00\x00"s, "\xf0\x00"s,  // reserved types 0 and 15
        "\x36\x00"s,               // PUBLISH QoS 3
        "\x38\x00"s,               // PUBLISH DUP with QoS 0
        "\x80\x00"s, "\x11\x00"s,
        "\xc1\x00"s,                     // SUBSCRIBE without 0b0010, flags on CONNECT, PINGREQ
        "\x10\xff\xff\xff\xff\x01"s}) {  // Remaining Length of five bytes
    why.clear();
    EXPECT_EQ(DecodeFixedHeader(bytes, kMaxRemainingLength, &h, &why), DecodeStatus::kMalformed)
        << testing::PrintToString(bytes);
    EXPECT_FALSE(why.empty());
  }
}

TEST(FixedHeaderTest, PacketsOverTheLimitAreMalformed) {
  std::string bytes;
  EncodeFixedHeader(PacketType::kPublish, 0, 1025, &bytes);
  FixedHeader h;
  EXPECT_EQ(Decode(bytes, &h, 1024), DecodeStatus::kMalformed);
  EXPECT_EQ(Decode(bytes, &h, 1025), DecodeStatus::kOk);
}

TEST(FixedHeaderTest, FixedFlagsOfEachTypeAndValidPublishFlags) {
  FixedHeader h;
  EXPECT_EQ(Decode("\x82\x00"s, &h), DecodeStatus::kOk);  // SUBSCRIBE
  EXPECT_EQ(Decode("\xa2\x00"s, &h), DecodeStatus::kOk);  // UNSUBSCRIBE
  EXPECT_EQ(Decode("\x62\x00"s, &h), DecodeStatus::kOk);  // PUBREL
  EXPECT_EQ(Decode("\xe0\x00"s, &h), DecodeStatus::kOk);  // DISCONNECT
  EXPECT_EQ(Decode("\x3d\x00"s, &h), DecodeStatus::kOk);  // PUBLISH DUP, QoS 2, RETAIN
  EXPECT_EQ(h.flags, 0b1101);
  // A longer-than-needed length encoding is accepted (3.1.1 does not forbid it).
  ASSERT_EQ(Decode("\xc0\x80\x00"s, &h), DecodeStatus::kOk);
  EXPECT_EQ(h.remaining_length, 0u);
  EXPECT_EQ(h.size, 3u);
}

}  // namespace
}  // namespace iothub::mqtt
