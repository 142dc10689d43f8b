#include "core/c2d/c2d_queues.h"

#include <gtest/gtest.h>

#include "core/c2d/c2d_test_fixture.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {
namespace {

using namespace std::chrono_literals;

class C2dQueueTest : public C2dFixture {};

TEST_F(C2dQueueTest, EnqueueReceiveCompleteProducesSuccessFeedback) {
  uint64_t seq = SendOk("d1", Msg("hello", AckMode::kFull, "m-1"));
  EXPECT_EQ(queues_->Depth("d1"), 1u);

  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "hello");
  EXPECT_EQ(m->message_id, "m-1");
  EXPECT_EQ(m->sequence_number, seq);
  EXPECT_EQ(m->delivery_count, 0u);
  EXPECT_EQ(m->lock_token.size(), 36u);
  EXPECT_FALSE(Receive("d1")) << "the only message is locked";

  clock_.Advance(5s);
  Timestamp completed_at = clock_.Now();
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_FALSE(Receive("d1"));

  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].original_message_id, "m-1");
  EXPECT_EQ(records[0].status_code, "Success");
  EXPECT_EQ(records[0].description, "Success");
  EXPECT_EQ(records[0].device_id, "d1");
  EXPECT_EQ(records[0].device_generation_id, "gen-1");
  EXPECT_EQ(records[0].enqueued_time_utc, FormatIso8601(completed_at));
}

TEST_F(C2dQueueTest, EnqueueStampsSystemPropertiesAndKeepsSenderFields) {
  Timestamp sent_at = clock_.Now();
  SendOk("d1", Msg("a"));
  Message custom = Msg("b");
  custom.to = "/devices/d1/messages/devicebound";
  custom.properties = {{"k", "v"}};
  custom.lock_token = "forged";
  custom.delivery_count = 7;
  custom.sequence_number = 99;
  SendOk("d1", custom);

  auto a = Receive("d1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to, "/devices/d1/messages/deviceBound");
  EXPECT_EQ(a->enqueued_time, sent_at);
  EXPECT_FALSE(a->expiry) << "the default TTL must not appear as a sender-set expiry";
  EXPECT_TRUE(a->properties.empty());

  auto b = Receive("d1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->to, "/devices/d1/messages/devicebound");
  EXPECT_EQ(b->properties, custom.properties);
  EXPECT_NE(b->lock_token, "forged");
  EXPECT_EQ(b->delivery_count, 0u);
  EXPECT_GT(b->sequence_number, a->sequence_number);
}

TEST_F(C2dQueueTest, RejectDeadLettersWithRejectedFeedback) {
  SendOk("d1", Msg("x", AckMode::kFull, "m-x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  ASSERT_TRUE(Reject("d1", m->lock_token).ok());
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_FALSE(Receive("d1"));
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, "Rejected");
  EXPECT_EQ(records[0].description, "Message rejected");
  EXPECT_EQ(records[0].original_message_id, "m-x");
}

TEST_F(C2dQueueTest, AbandonIncrementsDeliveryCountAndRedelivers) {
  SendOk("d1", Msg("x"));
  auto first = Receive("d1");
  ASSERT_TRUE(first);
  available_.clear();
  ASSERT_TRUE(Abandon("d1", first->lock_token).ok());
  EXPECT_EQ(available_, std::vector<std::string>{"d1"});
  auto second = Receive("d1");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->delivery_count, 1u);
  EXPECT_EQ(second->sequence_number, first->sequence_number);
  EXPECT_NE(second->lock_token, first->lock_token);
  EXPECT_EQ(Complete("d1", first->lock_token).reason(), "DeviceMessageLockLost");
  ASSERT_TRUE(Complete("d1", second->lock_token).ok());
}

// A message that never reached the device (its connection went while it was on its way) goes
// back visible, its delivery count unchanged, however often that happens.
TEST_F(C2dQueueTest, ReleaseRedeliversWithoutCountingADelivery) {
  SendOk("d1", Msg("x"));
  for (int i = 0; i < 20; ++i) {  // beyond max_delivery_count: never dead-lettered
    auto locked = Receive("d1");
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->delivery_count, 0u);
    available_.clear();
    ASSERT_TRUE(Release("d1", locked->lock_token).ok());
    EXPECT_EQ(available_, std::vector<std::string>{"d1"});
    EXPECT_EQ(Release("d1", locked->lock_token).reason(), "DeviceMessageLockLost");
  }
  auto last = Receive("d1");
  ASSERT_TRUE(last);
  ASSERT_TRUE(Complete("d1", last->lock_token).ok());
}

TEST_F(C2dQueueTest, AbandonPastMaxDeliveryCountDeadLetters) {
  SendOk("d1", Msg("x", AckMode::kNegative, "m-dc"));
  for (uint32_t i = 0; i < limits_.max_delivery_count; ++i) {
    auto m = Receive("d1");
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m->delivery_count, i);
    ASSERT_TRUE(Abandon("d1", m->lock_token).ok());
  }
  auto last = Receive("d1");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->delivery_count, limits_.max_delivery_count);
  ASSERT_TRUE(Abandon("d1", last->lock_token).ok());
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_FALSE(Receive("d1"));
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, "DeliveryCountExceeded");
  EXPECT_EQ(records[0].description, "Message delivery count exceeded");
}

TEST_F(C2dQueueTest, LockExpiryMakesMessageVisibleAgain) {
  SendOk("d1", Msg("x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_EQ(queues_->NextDeadline(), clock_.Now() + limits_.lock_timeout);
  Advance(limits_.lock_timeout - 1ms);
  EXPECT_FALSE(Receive("d1"));
  available_.clear();
  Advance(1ms);
  EXPECT_EQ(available_, std::vector<std::string>{"d1"});
  auto again = Receive("d1");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->delivery_count, 0u) << "lock expiry does not count by default";
  EXPECT_EQ(Complete("d1", m->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_TRUE(Complete("d1", again->lock_token).ok());
}

TEST_F(C2dQueueTest, LockExpiryCountsAsDeliveryWhenConfigured) {
  limits_.lock_expiry_counts_as_delivery = true;
  limits_.max_delivery_count = 2;
  Restart();
  SendOk("d1", Msg("x", AckMode::kFull));
  for (uint32_t i = 0; i <= 2; ++i) {
    auto m = Receive("d1");
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m->delivery_count, i);
    Advance(limits_.lock_timeout);
  }
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"DeliveryCountExceeded"});
}

TEST_F(C2dQueueTest, ExpiredLockIsLostEvenBeforeTimersRun) {
  SendOk("d1", Msg("x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  clock_.Advance(limits_.lock_timeout);  // no ProcessTimers
  EXPECT_EQ(Complete("d1", m->lock_token).code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(queues_->Depth("d1"), 1u);
  EXPECT_TRUE(Receive("d1"));
}

TEST_F(C2dQueueTest, CustomLockTimeoutIsHonoured) {
  SendOk("d1", Msg("x"));
  auto m = Receive("d1", 5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(queues_->NextDeadline(), clock_.Now() + 5s);
  Advance(5s);
  EXPECT_TRUE(Receive("d1"));
}

TEST_F(C2dQueueTest, StaleUnknownAndForeignLockTokensAreLockLost) {
  SendOk("d1", Msg("x"));
  SendOk("d2", Msg("y"));
  auto m = Receive("d1");
  auto other = Receive("d2");
  ASSERT_TRUE(m && other);
  for (Status s : {Complete("d1", "no-such-token"), Reject("d1", ""),
                   Abandon("d1", other->lock_token), Complete("d2", m->lock_token)}) {
    EXPECT_EQ(s.code(), StatusCode::kPreconditionFailed);
    EXPECT_EQ(s.reason(), "DeviceMessageLockLost");
  }
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  EXPECT_EQ(Complete("d1", m->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_EQ(Reject("d1", m->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_EQ(Abandon("d1", m->lock_token).reason(), "DeviceMessageLockLost");
}

TEST_F(C2dQueueTest, SecondSettleWhileFirstIsInFlightIsLockLost) {
  SendOk("d1", Msg("x"));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  std::optional<Status> first, second;
  queues_->Complete("d1", m->lock_token, [&](Status s) { first = s; });
  queues_->Complete("d1", m->lock_token, [&](Status s) { second = s; });
  executor_.RunAll();
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->ok());
  EXPECT_EQ(second->reason(), "DeviceMessageLockLost");
}

TEST_F(C2dQueueTest, PurgeRemovesEveryMessageAndReportsPurged) {
  SendOk("d1", Msg("a", AckMode::kFull, "m-a"));
  SendOk("d1", Msg("b", AckMode::kPositive, "m-b"));
  SendOk("d1", Msg("c", AckMode::kNegative, "m-c"));
  SendOk("d1", Msg("d", AckMode::kNone, "m-d"));
  SendOk("d2", Msg("other"));
  auto locked = Receive("d1");
  ASSERT_TRUE(locked);
  Result<uint64_t> n = Purge("d1");
  ASSERT_TRUE(n.has_value()) << n.error().ToString();
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(queues_->Depth("d2"), 1u);
  EXPECT_FALSE(Receive("d1"));
  EXPECT_EQ(Complete("d1", locked->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_EQ(store_.CountQueue(kC2dQueue, "d1").value(), 0u);

  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].original_message_id, "m-a");
  EXPECT_EQ(records[1].original_message_id, "m-c");
  for (const auto& r : records) {
    EXPECT_EQ(r.status_code, "Purged");
    EXPECT_EQ(r.description, "Message purged");
  }
}

TEST_F(C2dQueueTest, PurgeOfEmptyQueueAndUnknownDevice) {
  EXPECT_EQ(Purge("d1").value_or(99), 0u);
  Result<uint64_t> r = Purge("nobody");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason(), "DeviceNotFound");
}

TEST_F(C2dQueueTest, RemoveDeviceDropsQueueWithoutFeedback) {
  SendOk("d1", Msg("a", AckMode::kFull));
  SendOk("d1", Msg("b", AckMode::kFull));
  SendOk("d2", Msg("keep"));
  ASSERT_TRUE(Receive("d1"));
  std::optional<Result<uint64_t>> in_flight;
  queues_->Enqueue("d1", Msg("late", AckMode::kFull),
                   [&](Result<uint64_t> r) { in_flight = std::move(r); });
  std::optional<Status> removed;
  queues_->RemoveDevice("d1", [&](Status s) { removed = s; });
  EXPECT_EQ(queues_->Depth("d1"), 0u) << "forgotten at once";
  executor_.RunAll();
  ASSERT_TRUE(removed && removed->ok());
  ASSERT_TRUE(in_flight);
  EXPECT_EQ(in_flight->error().reason(), "DeviceNotFound");
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(store_.CountQueue(kC2dQueue, "d1").value(), 0u);
  EXPECT_TRUE(store_.Scan(kC2dStateTable, StateKeyPrefix("d1"), "", 100).value().empty());
  EXPECT_EQ(queues_->Depth("d2"), 1u);
  EXPECT_EQ(queues_->NextDeadline(), clock_.Now() + 1h) << "only d2's timer is left";
  Advance(2h);
  EXPECT_TRUE(DrainFeedback().empty());

  // A device created again under the same id starts empty.
  EXPECT_TRUE(Send("d1", Msg("new life")).has_value());
  EXPECT_EQ(queues_->Depth("d1"), 1u);
}

TEST_F(C2dQueueTest, AckModesProduceExactlyTheRecordsTheyAskFor) {
  limits_.max_delivery_count = 0;  // the first abandon dead-letters
  Restart();
  const std::vector<std::pair<AckMode, std::vector<std::string>>> cases = {
      {AckMode::kNone, {}},
      {AckMode::kPositive, {"Success"}},
      {AckMode::kNegative, {"Rejected", "DeliveryCountExceeded", "Expired", "Purged"}},
      {AckMode::kFull, {"Success", "Rejected", "DeliveryCountExceeded", "Expired", "Purged"}},
  };
  for (const auto& [ack, expected] : cases) {
    SCOPED_TRACE(std::string(AckModeName(ack)));
    SendOk("d1", Msg("complete", ack));
    auto m = Receive("d1");
    ASSERT_TRUE(Complete("d1", m->lock_token).ok());
    SendOk("d1", Msg("reject", ack));
    m = Receive("d1");
    ASSERT_TRUE(Reject("d1", m->lock_token).ok());
    SendOk("d1", Msg("abandon", ack));
    m = Receive("d1");
    ASSERT_TRUE(Abandon("d1", m->lock_token).ok());
    SendOk("d1", Msg("expire", ack));
    Advance(1h);
    SendOk("d1", Msg("purge", ack));
    ASSERT_EQ(Purge("d1").value_or(0), 1u);
    EXPECT_EQ(queues_->Depth("d1"), 0u);
    EXPECT_EQ(FeedbackCodes(), expected);
  }
}

TEST_F(C2dQueueTest, SequenceNumbersIncreaseAndDeliveryIsFifo) {
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(SendOk("d1", Msg(std::to_string(i))));
  SendOk("d2", Msg("other"));
  seqs.push_back(SendOk("d1", Msg("5")));
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_GT(seqs[i], seqs[i - 1]);

  // Abandoned messages keep their place: the oldest visible one comes first.
  auto first = Receive("d1");
  auto second = Receive("d1");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, "0");
  EXPECT_EQ(second->body, "1");
  ASSERT_TRUE(Abandon("d1", second->lock_token).ok());
  std::vector<std::string> order;
  while (auto m = Receive("d1")) {
    order.push_back(m->body);
    ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(queues_->Depth("d1"), 1u);  // "0" still locked
}

TEST_F(C2dQueueTest, ReceiveAndLockUpToLocksAWindow) {
  for (int i = 0; i < 4; ++i) SendOk("d1", Msg(std::to_string(i)));
  auto window = queues_->ReceiveAndLockUpTo("d1", 3);
  ASSERT_EQ(window.size(), 3u);
  EXPECT_EQ(window[0].body, "0");
  EXPECT_EQ(window[2].body, "2");
  EXPECT_EQ(queues_->ReceiveAndLockUpTo("d1", 3).size(), 1u);
  EXPECT_TRUE(queues_->ReceiveAndLockUpTo("d1", 3).empty());
}

TEST_F(C2dQueueTest, AvailableCallbackFiresWhenAMessageBecomesVisible) {
  available_.clear();
  SendOk("d1", Msg("x"));
  EXPECT_EQ(available_, std::vector<std::string>{"d1"});
  available_.clear();
  auto m = Receive("d1");
  EXPECT_TRUE(available_.empty());
  Advance(limits_.lock_timeout);
  EXPECT_EQ(available_, std::vector<std::string>{"d1"});
}

TEST_F(C2dQueueTest, CallbacksNeverRunInsideTheCall) {
  bool called = false;
  queues_->Enqueue("nobody", Msg("x"), [&](Result<uint64_t>) { called = true; });
  queues_->Complete("d1", "nope", [&](Status) { called = true; });
  EXPECT_FALSE(called);
  executor_.RunAll();
  EXPECT_TRUE(called);
}

TEST_F(C2dQueueTest, StoreFailureReachesDoneAndKeepsStateConsistent) {
  SendOk("d1", Msg("x", AckMode::kFull));
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  store_.Close();

  Status complete = Complete("d1", m->lock_token);
  EXPECT_EQ(complete.code(), StatusCode::kUnavailable);
  EXPECT_EQ(queues_->Depth("d1"), 1u);
  EXPECT_FALSE(Receive("d1")) << "still locked by the same token";

  Status reject = Reject("d1", m->lock_token);
  EXPECT_EQ(reject.code(), StatusCode::kUnavailable) << "the lock survived the failed complete";

  Result<uint64_t> sent = Send("d1", Msg("y"));
  EXPECT_EQ(sent.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(queues_->Depth("d1"), 1u);

  Result<uint64_t> purged = Purge("d1");
  EXPECT_FALSE(purged.has_value());
  EXPECT_EQ(queues_->Depth("d1"), 1u);

  // Timers keep working: the lock runs out and the message is visible again.
  Advance(limits_.lock_timeout);
  EXPECT_TRUE(Receive("d1"));
}

TEST_F(C2dQueueTest, FailedDeadLetterIsRetriedLater) {
  SendOk("d1", Msg("x", AckMode::kFull));
  store_.Close();
  Advance(1h);
  EXPECT_EQ(queues_->Depth("d1"), 1u) << "the dead-letter commit failed";
  EXPECT_EQ(queues_->NextDeadline(), clock_.Now() + QueueCore::kRetryDelay);
  EXPECT_FALSE(Receive("d1")) << "an expired message is never delivered";
}

TEST_F(C2dQueueTest, WorksWithAnInlineExecutor) {
  InlineExecutor inline_executor;
  C2dQueues q(store_, clock_, inline_executor,
              [](std::string_view) { return std::optional<DeviceInfo>(DeviceInfo{"g"}); });
  ASSERT_TRUE(q.Recover().ok());
  std::vector<StoredFeedbackRecord> records;
  q.SetFeedbackCallback([&](std::vector<StoredFeedbackRecord> r) {
    records.insert(records.end(), r.begin(), r.end());
  });
  std::optional<Result<uint64_t>> sent;
  q.Enqueue("dev", Msg("x", AckMode::kFull), [&](Result<uint64_t> r) { sent = r; });
  ASSERT_TRUE(sent && sent->has_value());
  auto m = q.ReceiveAndLock("dev");
  ASSERT_TRUE(m);
  std::optional<Status> done;
  q.Complete("dev", m->lock_token, [&](Status s) { done = s; });
  ASSERT_TRUE(done && done->ok());
  EXPECT_EQ(q.Depth("dev"), 0u);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].record.status, FeedbackStatus::kSuccess);
  EXPECT_EQ(records[0].record.device_generation_id, "g");

  q.Enqueue("dev", Msg("y", AckMode::kFull), [](Result<uint64_t>) {});
  clock_.Advance(1h);
  q.ProcessTimers();
  EXPECT_EQ(q.Depth("dev"), 0u);
  EXPECT_EQ(records.size(), 2u);
}

}  // namespace
}  // namespace iothub::core
