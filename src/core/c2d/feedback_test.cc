#include "core/c2d/feedback.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace iothub::core {
namespace {

FeedbackRecord Sample() {
  return {.original_message_id = "m-1",
          .time = FromUnixMillis(1'700'000'000'123),
          .status = FeedbackStatus::kDeliveryCountExceeded,
          .device_id = "dev",
          .device_generation_id = "638000000000000000",
          .c2d_seq = 42};
}

TEST(FeedbackTest, AckModesAskForTheirStatuses) {
  const FeedbackStatus all[] = {FeedbackStatus::kSuccess, FeedbackStatus::kExpired,
                                FeedbackStatus::kDeliveryCountExceeded, FeedbackStatus::kRejected,
                                FeedbackStatus::kPurged};
  for (FeedbackStatus s : all) {
    EXPECT_FALSE(AckWants(AckMode::kNone, s));
    EXPECT_TRUE(AckWants(AckMode::kFull, s));
    EXPECT_EQ(AckWants(AckMode::kPositive, s), s == FeedbackStatus::kSuccess);
    EXPECT_EQ(AckWants(AckMode::kNegative, s), s != FeedbackStatus::kSuccess);
  }
}

TEST(FeedbackTest, NamesAndDescriptionsMatchIotHub) {
  EXPECT_EQ(FeedbackStatusName(FeedbackStatus::kSuccess), "Success");
  EXPECT_EQ(FeedbackStatusName(FeedbackStatus::kExpired), "Expired");
  EXPECT_EQ(FeedbackStatusName(FeedbackStatus::kDeliveryCountExceeded), "DeliveryCountExceeded");
  EXPECT_EQ(FeedbackStatusName(FeedbackStatus::kRejected), "Rejected");
  EXPECT_EQ(FeedbackStatusName(FeedbackStatus::kPurged), "Purged");
  EXPECT_EQ(FeedbackDescription(FeedbackStatus::kSuccess), "Success");
  EXPECT_EQ(FeedbackDescription(FeedbackStatus::kExpired), "Message expired");
  EXPECT_EQ(FeedbackDescription(FeedbackStatus::kDeliveryCountExceeded),
            "Message delivery count exceeded");
  EXPECT_EQ(FeedbackDescription(FeedbackStatus::kRejected), "Message rejected");
  EXPECT_EQ(FeedbackDescription(FeedbackStatus::kPurged), "Message purged");
}

TEST(FeedbackTest, RecordRoundTrips) {
  FeedbackRecord r = Sample();
  auto decoded = DecodeFeedbackRecord(EncodeFeedbackRecord(r));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, r);
}

TEST(FeedbackTest, MalformedRecordIsCorruption) {
  std::string bytes = EncodeFeedbackRecord(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeFeedbackRecord(bytes.substr(0, n)).error().code(), StatusCode::kCorruption)
        << n;
  }
  std::string bad_status = bytes;
  bad_status[1] = 9;
  EXPECT_FALSE(DecodeFeedbackRecord(bad_status).has_value());
  EXPECT_FALSE(DecodeFeedbackRecord(bytes + "x").has_value());
}

TEST(FeedbackTest, IdIsDeterministicPerOutcome) {
  FeedbackRecord a = Sample();
  FeedbackRecord b = Sample();
  b.time += std::chrono::minutes(5);
  EXPECT_EQ(a.Id(), b.Id());
  b.status = FeedbackStatus::kSuccess;
  EXPECT_NE(a.Id(), b.Id());
  b = Sample();
  b.c2d_seq = 43;
  EXPECT_NE(a.Id(), b.Id());
}

TEST(FeedbackTest, JsonBodyHasIotHubFields) {
  auto json = nlohmann::json::parse(FeedbackRecordsToJson({Sample()}));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 1u);
  const auto& r = json[0];
  EXPECT_EQ(r.size(), 6u);
  EXPECT_EQ(r["originalMessageId"], "m-1");
  EXPECT_EQ(r["enqueuedTimeUtc"], "2023-11-14T22:13:20.1230000Z");
  EXPECT_EQ(r["statusCode"], "DeliveryCountExceeded");
  EXPECT_EQ(r["description"], "Message delivery count exceeded");
  EXPECT_EQ(r["deviceId"], "dev");
  EXPECT_EQ(r["deviceGenerationId"], "638000000000000000");
  EXPECT_EQ(FeedbackRecordsToJson({}), "[]");
}

TEST(FeedbackTest, JsonSurvivesInvalidUtf8) {
  FeedbackRecord r = Sample();
  r.original_message_id = "\xff\xfe";
  EXPECT_NO_FATAL_FAILURE(nlohmann::json::parse(FeedbackRecordsToJson({r})));
}

}  // namespace
}  // namespace iothub::core
