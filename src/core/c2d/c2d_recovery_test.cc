#include <gtest/gtest.h>

#include "core/c2d/c2d_queues.h"
#include "core/c2d/c2d_test_fixture.h"
#include "core/c2d/feedback_queue.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {
namespace {

using namespace std::chrono_literals;

// Restart recovery: new C2dQueues / FeedbackQueue objects over the same store.
class C2dRecoveryTest : public C2dFixture {};

TEST_F(C2dRecoveryTest, QueuedMessagesSurviveRestart) {
  Message a = Msg("a", AckMode::kFull, "m-a");
  a.properties = {{"k", "v"}};
  a.correlation_id = "corr";
  a.expiry = clock_.Now() + 2h;
  Timestamp sent_at = clock_.Now();
  uint64_t seq_a = SendOk("d1", a);
  uint64_t seq_b = SendOk("d1", Msg("b"));
  SendOk("d2", Msg("c"));
  Restart();

  EXPECT_EQ(queues_->Depth("d1"), 2u);
  EXPECT_EQ(queues_->Depth("d2"), 1u);
  EXPECT_EQ(queues_->NextDeadline(), sent_at + 1h) << "b's and c's default TTL";
  auto got = Receive("d1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->sequence_number, seq_a);
  EXPECT_EQ(got->body, "a");
  EXPECT_EQ(got->message_id, "m-a");
  EXPECT_EQ(got->correlation_id, "corr");
  EXPECT_EQ(got->properties, a.properties);
  EXPECT_EQ(got->expiry, a.expiry);
  EXPECT_EQ(got->enqueued_time, sent_at);
  EXPECT_EQ(got->ack, AckMode::kFull);
  EXPECT_EQ(Receive("d1")->sequence_number, seq_b);
  EXPECT_GT(SendOk("d1", Msg("later")), seq_b);
}

TEST_F(C2dRecoveryTest, ValidLockSurvivesRestartAndIsCompletable) {
  SendOk("d1", Msg("x", AckMode::kPositive, "m-x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  Timestamp deadline = clock_.Now() + limits_.lock_timeout;
  clock_.Advance(10s);
  Restart();
  EXPECT_FALSE(Receive("d1")) << "still locked";
  EXPECT_EQ(queues_->NextDeadline(), deadline);
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"Success"});
}

// A persistent MQTT session sends its unacknowledged deliveries again after a restart: they are
// the device's messages still locked, with their lock tokens and deadlines.
TEST_F(C2dRecoveryTest, ALockedMessageIsListedAfterRestartUntilTheLockGoes) {
  SendOk("d1", Msg("x", AckMode::kNone, "m-x"));
  SendOk("d1", Msg("y", AckMode::kNone, "m-y"));  // visible, not locked: not listed
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  Timestamp deadline = clock_.Now() + limits_.lock_timeout;
  Restart();
  std::vector<Message> locked = queues_->Locked("d1");
  ASSERT_EQ(locked.size(), 1u);
  EXPECT_EQ(locked[0].body, "x");
  EXPECT_EQ(locked[0].message_id, "m-x");
  EXPECT_EQ(locked[0].lock_token, m->lock_token);
  EXPECT_EQ(locked[0].sequence_number, m->sequence_number);
  EXPECT_EQ(locked[0].lock_deadline, deadline);
  EXPECT_TRUE(queues_->Locked("d2").empty()) << "another device's";
  Advance(limits_.lock_timeout);
  EXPECT_TRUE(queues_->Locked("d1").empty()) << "the lock ran out";
}

TEST_F(C2dRecoveryTest, LockThatExpiredDuringDowntimeReturnsToEnqueued) {
  SendOk("d1", Msg("x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  clock_.Advance(2min);
  Restart();
  EXPECT_EQ(Complete("d1", m->lock_token).reason(), "DeviceMessageLockLost");
  auto again = Receive("d1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->delivery_count, 0u);
}

TEST_F(C2dRecoveryTest, LockExpiryDuringDowntimeCountsWhenConfigured) {
  limits_.lock_expiry_counts_as_delivery = true;
  Restart();
  SendOk("d1", Msg("x"));
  ASSERT_TRUE(Receive("d1"));
  clock_.Advance(2min);
  Restart();
  auto again = Receive("d1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->delivery_count, 1u);
}

TEST_F(C2dRecoveryTest, MessagesExpiredDuringDowntimeAreDeadLettered) {
  SendOk("d1", Msg("queued", AckMode::kFull, "m-q"));
  SendOk("d1", Msg("locked", AckMode::kNegative, "m-l"));
  SendOk("d1", Msg("silent", AckMode::kPositive, "m-s"));
  ASSERT_TRUE(Receive("d1"));
  clock_.Advance(2h);
  Restart();
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(store_.CountQueue(kC2dQueue, "d1").value(), 0u);
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].original_message_id, "m-q");
  EXPECT_EQ(records[1].original_message_id, "m-l");
  for (const auto& r : records) EXPECT_EQ(r.status_code, "Expired");
}

TEST_F(C2dRecoveryTest, DeliveryCountsSurviveRestart) {
  SendOk("d1", Msg("x"));
  for (int i = 0; i < 3; ++i) {
    auto m = Receive("d1");
    ASSERT_TRUE(m);
    ASSERT_TRUE(Abandon("d1", m->lock_token).ok());
  }
  Restart();
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->delivery_count, 3u);
}

TEST_F(C2dRecoveryTest, DepthLimitHoldsAfterRestart) {
  limits_.max_queue_depth = 2;
  Restart();
  SendOk("d1", Msg("1"));
  SendOk("d1", Msg("2"));
  Restart();
  EXPECT_EQ(Send("d1", Msg("3")).error().reason(), "DeviceMaximumQueueDepthExceeded");
}

TEST_F(C2dRecoveryTest, PendingFeedbackRecordsSurviveRestart) {
  SendOk("d1", Msg("x", AckMode::kFull, "m-x"));
  auto m = Receive("d1");
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  EXPECT_EQ(feedback_->PendingRecords(), 1u);
  Restart();
  EXPECT_EQ(feedback_->PendingRecords(), 1u);
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].original_message_id, "m-x");
  EXPECT_EQ(records[0].device_generation_id, "gen-1");
  EXPECT_EQ(records[0].status_code, "Success");
}

TEST_F(C2dRecoveryTest, OldPendingRecordsAreBatchedAtRecovery) {
  SendOk("d1", Msg("x", AckMode::kFull));
  auto m = Receive("d1");
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  clock_.Advance(20s);
  Restart();
  EXPECT_EQ(feedback_->PendingRecords(), 0u);
  EXPECT_EQ(feedback_->Depth(), 1u);
}

TEST_F(C2dRecoveryTest, FeedbackMessagesAndTheirLocksSurviveRestart) {
  SendOk("d1", Msg("x", AckMode::kFull));
  auto m = Receive("d1");
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  feedback_->Flush();
  executor_.RunAll();
  auto fb = feedback_->ReceiveAndLock();
  ASSERT_TRUE(fb);
  executor_.RunAll();
  Restart();
  EXPECT_EQ(feedback_->Depth(), 1u);
  EXPECT_FALSE(feedback_->ReceiveAndLock()) << "still locked";
  std::optional<Status> done;
  feedback_->Complete(fb->lock_token, [&](Status s) { done = s; });
  executor_.RunAll();
  ASSERT_TRUE(done && done->ok());
  EXPECT_EQ(feedback_->Depth(), 0u);
}

TEST_F(C2dRecoveryTest, CrashBetweenRecordAndDeletionIsHarmless) {
  uint64_t seq = SendOk("d1", Msg("x", AckMode::kFull, "m-x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  // The completion's batch got as far as its feedback record, not to the deletion.
  FeedbackRecord record{.original_message_id = "m-x",
                        .time = clock_.Now(),
                        .status = FeedbackStatus::kSuccess,
                        .device_id = "d1",
                        .device_generation_id = "gen-1",
                        .c2d_seq = seq};
  storage::WriteBatch batch;
  batch.QueueAppend(kFeedbackRecordQueue, kFeedbackKey, EncodeFeedbackRecord(record));
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  clock_.Advance(2min);
  Restart();

  // The record proves the completion was decided: recovery finishes it, without a second record.
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_FALSE(Receive("d1"));
  EXPECT_EQ(store_.CountQueue(kC2dQueue, "d1").value(), 0u);
  EXPECT_TRUE(store_.Scan(kC2dStateTable, StateKeyPrefix("d1"), "", 10).value().empty());
  EXPECT_EQ(Complete("d1", m->lock_token).reason(), "DeviceMessageLockLost");
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, "Success");
  EXPECT_EQ(store_.CountQueue(kFeedbackRecordQueue, kFeedbackKey).value(), 0u);
}

TEST_F(C2dRecoveryTest, RecordFromARecoveredBatchIsEmittedOnceOnRedelivery) {
  // Without the settled lookup (e.g. the record was already batched and deleted) the message is
  // delivered again: at least once. A second outcome while the first record is pending is
  // emitted once.
  uint64_t seq = SendOk("d1", Msg("x", AckMode::kFull, "m-x"));
  FeedbackRecord record{.original_message_id = "m-x",
                        .time = clock_.Now(),
                        .status = FeedbackStatus::kSuccess,
                        .device_id = "d1",
                        .device_generation_id = "gen-1",
                        .c2d_seq = seq};
  storage::WriteBatch batch;
  batch.QueueAppend(kFeedbackRecordQueue, kFeedbackKey, EncodeFeedbackRecord(record));
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  executor_.RunAll();
  queues_.reset();
  feedback_.reset();
  feedback_ = std::make_unique<FeedbackQueue>(store_, clock_, executor_, "testhub");
  ASSERT_TRUE(feedback_->Recover().ok());
  queues_ = std::make_unique<C2dQueues>(store_, clock_, executor_, [](std::string_view) {
    return std::optional<DeviceInfo>(DeviceInfo{"gen-1"});
  });
  queues_->SetFeedbackCallback(
      [this](std::vector<StoredFeedbackRecord> r) { feedback_->AddRecords(std::move(r)); });
  ASSERT_TRUE(queues_->Recover().ok());  // no settled lookup
  executor_.RunAll();
  auto again = Receive("d1");
  ASSERT_TRUE(again);
  ASSERT_TRUE(Complete("d1", again->lock_token).ok());
  EXPECT_EQ(DrainFeedback().size(), 1u);
}

TEST_F(C2dRecoveryTest, CrashBetweenFeedbackMessageAndRecordDeletionIsHarmless) {
  SendOk("d1", Msg("x", AckMode::kFull, "m-x"));
  auto m = Receive("d1");
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  auto stored_records = store_.ReadQueue(kFeedbackRecordQueue, kFeedbackKey, 0, 10).value();
  ASSERT_EQ(stored_records.size(), 1u);
  // The batch got as far as the feedback message, not to the records' deletion.
  FeedbackRecord record = DecodeFeedbackRecord(stored_records[0].value).value();
  StoredQueueMessage fb{.generation_id = {},
                        .expiry = clock_.Now() + 1h,
                        .covered_records = {stored_records[0].seq},
                        .message = {}};
  fb.message.body = FeedbackRecordsToJson({record});
  fb.message.content_type = std::string(kFeedbackContentType);
  storage::WriteBatch batch;
  batch.QueueAppend(kFeedbackQueue, kFeedbackKey, EncodeStoredQueueMessage(fb));
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  Restart();

  EXPECT_EQ(feedback_->PendingRecords(), 0u);
  EXPECT_EQ(store_.CountQueue(kFeedbackRecordQueue, kFeedbackKey).value(), 0u);
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u) << "batched once, not twice";
  EXPECT_EQ(records[0].original_message_id, "m-x");
}

TEST_F(C2dRecoveryTest, OrphanStateRecordsAreDeleted) {
  uint64_t seq = SendOk("d1", Msg("x"));
  ASSERT_TRUE(Receive("d1"));
  storage::WriteBatch batch;
  batch.Put(kC2dStateTable, StateKey("d1", seq + 1000), EncodeDeliveryState({}));
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  Restart();
  auto rows = store_.Scan(kC2dStateTable, StateKeyPrefix("d1"), "", 10).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, StateKey("d1", seq));
}

TEST_F(C2dRecoveryTest, UndecodableEntriesAreSkipped) {
  storage::WriteBatch batch;
  batch.QueueAppend(kC2dQueue, "d1", "garbage");
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync).has_value());
  SendOk("d1", Msg("good"));
  Restart();
  EXPECT_EQ(queues_->Depth("d1"), 1u);
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "good");
}

TEST_F(C2dRecoveryTest, RecoverLoadsOnlyOwnedDevices) {
  SendOk("d1", Msg("x"));
  SendOk("d2", Msg("y"));
  executor_.RunAll();
  C2dQueues shard(store_, clock_, executor_,
                  [](std::string_view) { return std::optional<DeviceInfo>(DeviceInfo{}); });
  ASSERT_TRUE(shard.Recover([](std::string_view id) { return id == "d2"; }).ok());
  EXPECT_EQ(shard.Depth("d1"), 0u);
  EXPECT_EQ(shard.Depth("d2"), 1u);
}

}  // namespace
}  // namespace iothub::core
