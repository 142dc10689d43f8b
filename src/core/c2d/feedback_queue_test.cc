#include "core/c2d/feedback_queue.h"

#include <gtest/gtest.h>

#include "core/c2d/c2d_test_fixture.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {
namespace {

using namespace std::chrono_literals;

class FeedbackQueueTest : public C2dFixture {
 protected:
  // Sends a full-ack message to d1 and completes it: one Success record.
  void MakeRecord(const std::string& id) {
    SendOk("d1", Msg(id, AckMode::kFull, id));
    auto m = Receive("d1");
    ASSERT_TRUE(m);
    ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  }

  Status FeedbackComplete(std::string_view token) {
    return Settle([&](auto done) { feedback_->Complete(token, done); });
  }
  Status FeedbackAbandon(std::string_view token) {
    return Settle([&](auto done) { feedback_->Abandon(token, done); });
  }
  std::optional<Message> FeedbackReceive(std::optional<Duration> lock_timeout = {}) {
    auto m = feedback_->ReceiveAndLock(lock_timeout);
    executor_.RunAll();
    return m;
  }
};

TEST_F(FeedbackQueueTest, BatchesAtBatchSize) {
  feedback_limits_.batch_size = 3;
  Restart();
  bool available = false;
  feedback_->AddAvailableListener([&] { available = true; });
  MakeRecord("m1");
  MakeRecord("m2");
  EXPECT_EQ(feedback_->PendingRecords(), 2u);
  EXPECT_FALSE(FeedbackReceive());
  EXPECT_FALSE(available);
  MakeRecord("m3");
  EXPECT_EQ(feedback_->PendingRecords(), 0u);
  EXPECT_TRUE(available);
  EXPECT_EQ(store_.CountQueue(kFeedbackRecordQueue, kFeedbackKey).value(), 0u);

  auto m = FeedbackReceive();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->content_type, "application/vnd.microsoft.iothub.feedback.json");
  EXPECT_EQ(m->user_id, "testhub");
  EXPECT_EQ(m->message_id.size(), 36u);
  EXPECT_EQ(m->delivery_count, 0u);
  EXPECT_FALSE(m->lock_token.empty());
  auto records = ParseBody(m->body);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].original_message_id, "m1");
  EXPECT_EQ(records[2].original_message_id, "m3");
  EXPECT_FALSE(FeedbackReceive()) << "one message of three records, not three messages";
}

TEST_F(FeedbackQueueTest, BatchSizeSplitsLargeBacklogs) {
  feedback_limits_.batch_size = 2;
  feedback_limits_.batch_interval = 1h;
  Restart();
  for (int i = 0; i < 5; ++i) MakeRecord("m" + std::to_string(i));
  EXPECT_EQ(feedback_->PendingRecords(), 1u);
  EXPECT_EQ(feedback_->Depth(), 2u);
}

TEST_F(FeedbackQueueTest, BatchesWhenOldestRecordReachesInterval) {
  MakeRecord("m1");
  Timestamp first = clock_.Now();
  clock_.Advance(10s);
  MakeRecord("m2");
  EXPECT_EQ(feedback_->NextDeadline(), first + 15s);
  Advance(5s - 1ms);
  EXPECT_FALSE(FeedbackReceive());
  Advance(1ms);
  auto m = FeedbackReceive();
  ASSERT_TRUE(m);
  EXPECT_EQ(ParseBody(m->body).size(), 2u);
  EXPECT_EQ(feedback_->PendingRecords(), 0u);
}

TEST_F(FeedbackQueueTest, CompleteRemovesAndStaleTokensAreLockLost) {
  MakeRecord("m1");
  feedback_->Flush();
  executor_.RunAll();
  auto m = FeedbackReceive();
  ASSERT_TRUE(m);
  EXPECT_EQ(FeedbackComplete("bogus").reason(), "DeviceMessageLockLost");
  ASSERT_TRUE(FeedbackComplete(m->lock_token).ok());
  EXPECT_EQ(FeedbackComplete(m->lock_token).code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(feedback_->Depth(), 0u);
  EXPECT_EQ(store_.CountQueue(kFeedbackQueue, kFeedbackKey).value(), 0u);
}

TEST_F(FeedbackQueueTest, AbandonRedeliversAndDropsPastMaxDeliveryCount) {
  feedback_limits_.max_delivery_count = 2;
  Restart();
  MakeRecord("m1");
  feedback_->Flush();
  executor_.RunAll();
  for (uint32_t i = 0; i <= 2; ++i) {
    auto m = FeedbackReceive();
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m->delivery_count, i);
    ASSERT_TRUE(FeedbackAbandon(m->lock_token).ok());
  }
  EXPECT_FALSE(FeedbackReceive());
  EXPECT_EQ(feedback_->Depth(), 0u);
}

TEST_F(FeedbackQueueTest, LockExpiryMakesFeedbackVisibleAgain) {
  MakeRecord("m1");
  feedback_->Flush();
  executor_.RunAll();
  auto m = FeedbackReceive(10s);
  ASSERT_TRUE(m);
  EXPECT_FALSE(FeedbackReceive());
  EXPECT_EQ(feedback_->NextDeadline(), clock_.Now() + 10s);
  Advance(10s);
  auto again = FeedbackReceive();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->message_id, m->message_id);
  EXPECT_EQ(FeedbackComplete(m->lock_token).reason(), "DeviceMessageLockLost");
}

TEST_F(FeedbackQueueTest, TtlDropsFeedbackMessages) {
  MakeRecord("m1");
  feedback_->Flush();
  executor_.RunAll();
  auto m = FeedbackReceive();
  ASSERT_TRUE(m);
  Advance(feedback_limits_.ttl - 1ms);
  EXPECT_EQ(feedback_->Depth(), 1u);
  Advance(1ms);
  EXPECT_EQ(feedback_->Depth(), 0u);
  EXPECT_EQ(FeedbackComplete(m->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_EQ(store_.CountQueue(kFeedbackQueue, kFeedbackKey).value(), 0u);
}

TEST_F(FeedbackQueueTest, DuplicateRecordsAreEmittedOnce) {
  FeedbackRecord r{.original_message_id = "m1",
                   .time = clock_.Now(),
                   .status = FeedbackStatus::kSuccess,
                   .device_id = "d1",
                   .device_generation_id = "gen-1",
                   .c2d_seq = 7};
  storage::WriteBatch batch;
  batch.QueueAppend(kFeedbackRecordQueue, kFeedbackKey, EncodeFeedbackRecord(r));
  batch.QueueAppend(kFeedbackRecordQueue, kFeedbackKey, EncodeFeedbackRecord(r));
  auto committed = store_.CommitAndWait(std::move(batch), storage::Durability::kSync);
  ASSERT_TRUE(committed.has_value());
  feedback_->AddRecords({{committed->revisions_or_ids[0], r}, {committed->revisions_or_ids[1], r}});
  feedback_->AddRecords({{committed->revisions_or_ids[0], r}});  // the same seq again
  executor_.RunAll();
  EXPECT_EQ(feedback_->PendingRecords(), 1u);
  EXPECT_EQ(DrainFeedback().size(), 1u);
  EXPECT_EQ(store_.CountQueue(kFeedbackRecordQueue, kFeedbackKey).value(), 0u)
      << "the duplicate is deleted with the batch";
}

TEST_F(FeedbackQueueTest, FailedBatchKeepsRecordsPending) {
  MakeRecord("m1");
  store_.Close();
  Advance(15s);
  EXPECT_EQ(feedback_->PendingRecords(), 1u);
  EXPECT_EQ(feedback_->Depth(), 0u);
  EXPECT_EQ(feedback_->NextDeadline(), clock_.Now() + QueueCore::kRetryDelay);
}

}  // namespace
}  // namespace iothub::core
