#include "core/c2d/stored_formats.h"

#include <gtest/gtest.h>

namespace iothub::core {
namespace {

TEST(StoredFormatsTest, QueueMessageRoundTrips) {
  StoredQueueMessage m{.generation_id = "gen",
                       .expiry = FromUnixMillis(1'700'000'360'000),
                       .covered_records = {1, 300, 1ull << 40},
                       .message = {}};
  m.message.body = std::string("b\0dy", 4);
  m.message.message_id = "mid";
  m.message.ack = AckMode::kNegative;
  m.message.properties = {{"k", "v"}};
  auto decoded = DecodeStoredQueueMessage(EncodeStoredQueueMessage(m));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->generation_id, m.generation_id);
  EXPECT_EQ(decoded->expiry, m.expiry);
  EXPECT_EQ(decoded->covered_records, m.covered_records);
  EXPECT_EQ(decoded->message, m.message);
}

TEST(StoredFormatsTest, TruncatedQueueMessageIsCorruption) {
  StoredQueueMessage m{.generation_id = "gen", .covered_records = {5}, .message = {}};
  m.message.body = "hello";
  std::string bytes = EncodeStoredQueueMessage(m);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeStoredQueueMessage(bytes.substr(0, n)).error().code(), StatusCode::kCorruption)
        << n;
  }
  EXPECT_FALSE(DecodeStoredQueueMessage(bytes + "x").has_value());
}

TEST(StoredFormatsTest, HugeCoveredCountIsRejectedWithoutAllocating) {
  std::string bytes;
  bytes.push_back(1);                                    // version
  bytes.push_back(0);                                    // empty generation id
  bytes.append(8, '\0');                                 // expiry
  bytes.append("\xff\xff\xff\xff\xff\xff\xff\xff\x7f");  // covered count: ~2^63
  EXPECT_EQ(DecodeStoredQueueMessage(bytes).error().code(), StatusCode::kCorruption);
}

TEST(StoredFormatsTest, DeliveryStateRoundTrips) {
  DeliveryStateRecord s{.delivery_count = 7,
                        .lock_token = "0f8fad5b-d9cb-469f-a165-70867728950e",
                        .lock_deadline = FromUnixMillis(1'700'000'060'000)};
  auto decoded = DecodeDeliveryState(EncodeDeliveryState(s));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, s);
  EXPECT_EQ(DecodeDeliveryState(EncodeDeliveryState({})).value(), DeliveryStateRecord{});
  std::string bytes = EncodeDeliveryState(s);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeDeliveryState(bytes.substr(0, n)).has_value()) << n;
  }
}

TEST(StoredFormatsTest, StateKeysSortBySeqAndParseBack) {
  EXPECT_EQ(StateKey("dev", 0x1a), "dev/000000000000001a");
  EXPECT_LT(StateKey("dev", 9), StateKey("dev", 10));
  EXPECT_LT(StateKey("dev", 255), StateKey("dev", 256));
  uint64_t seq = 0;
  EXPECT_TRUE(ParseStateKey(StateKey("dev", 1ull << 63), "dev", &seq));
  EXPECT_EQ(seq, 1ull << 63);
}

TEST(StoredFormatsTest, ParseStateKeyRejectsOtherKeys) {
  uint64_t seq = 0;
  EXPECT_FALSE(ParseStateKey(StateKey("dev", 1), "de", &seq));
  EXPECT_FALSE(ParseStateKey(StateKey("dev/x", 1), "dev", &seq)) << "another key's prefix";
  EXPECT_FALSE(ParseStateKey("dev/000000000000001A", "dev", &seq)) << "upper case";
  EXPECT_FALSE(ParseStateKey("dev/00000000000001", "dev", &seq)) << "short";
  EXPECT_FALSE(ParseStateKey("dev-000000000000001a", "dev", &seq));
}

}  // namespace
}  // namespace iothub::core
