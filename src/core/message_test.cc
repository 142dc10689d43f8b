#include "core/message.h"

#include <gtest/gtest.h>

namespace iothub::core {
namespace {

Message FullMessage() {
  Message m;
  m.body = std::string("hello\0world", 11);
  m.message_id = "mid";
  m.correlation_id = "cid";
  m.to = "/devices/d1/messages/deviceBound";
  m.user_id = "uid";
  m.content_type = "application/json";
  m.content_encoding = "utf-8";
  m.expiry = FromUnixMillis(1'700'000'100'000);
  m.ack = AckMode::kFull;
  m.sequence_number = 42;
  m.enqueued_time = FromUnixMillis(1'700'000'000'000);
  m.lock_token = "lock";
  m.delivery_count = 3;
  m.connection_device_id = "d1";
  m.connection_auth_method = "{}";
  m.connection_auth_generation_id = "gen";
  m.properties = {{"Property", "PropMsg_0"}, {"a b", "c=d&e"}};
  return m;
}

TEST(MessageCodecTest, RoundTripsEveryField) {
  Message m = FullMessage();
  auto decoded = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, m);
}

TEST(MessageCodecTest, RoundTripsEmptyMessage) {
  Message m;
  auto decoded = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, m);
}

TEST(MessageCodecTest, EveryTruncationIsCorruptionNotACrash) {
  std::string bytes = EncodeMessage(FullMessage());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = DecodeMessage(std::string_view(bytes).substr(0, n));
    // A prefix may end on a field boundary and decode to a partial message; it must never crash
    // and never decode to the full message.
    if (decoded.has_value()) {
      EXPECT_NE(*decoded, FullMessage());
    } else {
      EXPECT_EQ(decoded.error().code(), StatusCode::kCorruption);
    }
  }
}

TEST(MessageCodecTest, RejectsUnknownVersion) {
  std::string bytes = EncodeMessage(FullMessage());
  bytes[0] = 9;
  EXPECT_FALSE(DecodeMessage(bytes).has_value());
}

TEST(MessageTest, PropertiesReplaceInPlace) {
  Message m;
  m.SetProperty("a", "1");
  m.SetProperty("b", "2");
  m.SetProperty("a", "3");
  ASSERT_EQ(m.properties.size(), 2u);
  EXPECT_EQ(m.properties[0].second, "3");
  EXPECT_EQ(*m.FindProperty("b"), "2");
  EXPECT_EQ(m.FindProperty("c"), nullptr);
}

TEST(AckModeTest, ParsesCaseInsensitively) {
  AckMode mode;
  ASSERT_TRUE(ParseAckMode("Full", &mode));
  EXPECT_EQ(mode, AckMode::kFull);
  ASSERT_TRUE(ParseAckMode("", &mode));
  EXPECT_EQ(mode, AckMode::kNone);
  EXPECT_FALSE(ParseAckMode("sometimes", &mode));
}

}  // namespace
}  // namespace iothub::core
