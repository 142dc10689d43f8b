#include <gtest/gtest.h>

#include "core/c2d/c2d_queues.h"
#include "core/c2d/c2d_test_fixture.h"

namespace iothub::core {
namespace {

using namespace std::chrono_literals;

// TTL, queue depth, message size and device existence (PROTOCOL.md, "C2D limits").
class C2dLimitsTest : public C2dFixture {};

TEST_F(C2dLimitsTest, DefaultTtlExpiresEnqueuedMessage) {
  SendOk("d1", Msg("x", AckMode::kFull, "m-ttl"));
  EXPECT_EQ(queues_->NextDeadline(), clock_.Now() + 1h);
  Advance(1h - 1ms);
  EXPECT_EQ(queues_->Depth("d1"), 1u);
  Advance(1ms);
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_FALSE(Receive("d1"));
  auto records = DrainFeedback();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status_code, "Expired");
  EXPECT_EQ(records[0].description, "Message expired");
  EXPECT_EQ(records[0].original_message_id, "m-ttl");
}

TEST_F(C2dLimitsTest, ExpiredMessageIsNotReceivedEvenBeforeTimersRun) {
  SendOk("d1", Msg("old", AckMode::kFull));
  clock_.Advance(30min);
  SendOk("d1", Msg("new"));
  clock_.Advance(30min);  // "old" is now due, no ProcessTimers
  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "new");
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"Expired"});
}

TEST_F(C2dLimitsTest, SenderExpiryInRangeIsUsed) {
  Message m = Msg("x", AckMode::kFull);
  m.expiry = clock_.Now() + 10min;
  SendOk("d1", m);
  EXPECT_EQ(queues_->NextDeadline(), *m.expiry);
  auto got = Receive("d1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->expiry, m.expiry) << "a sender-set expiry is forwarded";
  ASSERT_TRUE(Abandon("d1", got->lock_token).ok());
  Advance(10min);
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"Expired"});
}

// Azure's own samples send now + 10 s; the Node SDK's now + 60 s arrives a few ms under 60 s.
// The 1 min minimum is for the hub's default TTL only (PROTOCOL.md, "C2D limits").
TEST_F(C2dLimitsTest, SenderExpiryUnderTheMinimumTtlIsAccepted) {
  Message soon = Msg("soon", AckMode::kFull);
  soon.expiry = clock_.Now() + 10s;
  Message almost_a_minute = Msg("almost");
  almost_a_minute.expiry = clock_.Now() + limits_.min_ttl - 5ms;
  SendOk("d1", soon);
  SendOk("d1", almost_a_minute);
  EXPECT_EQ(queues_->NextDeadline(), *soon.expiry);
  auto got = Receive("d1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body, "soon");
  ASSERT_TRUE(Abandon("d1", got->lock_token).ok());
  Advance(10s);
  EXPECT_EQ(queues_->Depth("d1"), 1u);
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"Expired"});
}

TEST_F(C2dLimitsTest, SenderExpiryBeyondTheMaximumTtlIsCapped) {
  Message late = Msg("late");
  late.expiry = clock_.Now() + limits_.max_ttl + 1h;
  Timestamp cap = clock_.Now() + limits_.max_ttl;
  SendOk("d1", late);
  EXPECT_EQ(queues_->NextDeadline(), cap);
  auto got = Receive("d1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->expiry, late.expiry) << "the sender's own expiry is forwarded as it was set";
  ASSERT_TRUE(Abandon("d1", got->lock_token).ok());
  Advance(limits_.max_ttl);
  EXPECT_EQ(queues_->Depth("d1"), 0u) << "it expires at the cap";
}

TEST_F(C2dLimitsTest, SenderExpiryInThePastExpiresAtOnceAndIsNeverDelivered) {
  Message past = Msg("past", AckMode::kNegative);
  past.expiry = clock_.Now() - 1s;
  Message now = Msg("now", AckMode::kFull);
  now.expiry = clock_.Now();
  EXPECT_TRUE(Send("d1", past).has_value()) << "accepted, as IoT Hub does";
  EXPECT_TRUE(Send("d1", now).has_value());
  EXPECT_FALSE(Receive("d1").has_value());
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(FeedbackCodes(), (std::vector<std::string>{"Expired", "Expired"}));
}

TEST_F(C2dLimitsTest, TtlExpiryWhileLockedDeadLetters) {
  Message m = Msg("x", AckMode::kNegative);
  m.expiry = clock_.Now() + 90s;
  SendOk("d1", m);
  clock_.Advance(60s);
  auto got = Receive("d1");  // lock until +120 s, TTL at +90 s
  ASSERT_TRUE(got);
  EXPECT_EQ(queues_->NextDeadline(), *m.expiry);
  Advance(30s);
  EXPECT_EQ(queues_->Depth("d1"), 0u);
  EXPECT_EQ(Complete("d1", got->lock_token).reason(), "DeviceMessageLockLost");
  EXPECT_EQ(FeedbackCodes(), std::vector<std::string>{"Expired"});
}

TEST_F(C2dLimitsTest, QueueDepthLimitRefusesTheFiftyFirst) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Send("d1", Msg(std::to_string(i))).has_value()) << i;
  Result<uint64_t> r = Send("d1", Msg("51st"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.error().reason(), "DeviceMaximumQueueDepthExceeded");
  EXPECT_EQ(queues_->Depth("d1"), 50u);
  EXPECT_TRUE(Send("d2", Msg("other device")).has_value()) << "the limit is per device";

  auto m = Receive("d1");
  ASSERT_TRUE(m);
  EXPECT_FALSE(Send("d1", Msg("locked still counts")).has_value());
  ASSERT_TRUE(Complete("d1", m->lock_token).ok());
  EXPECT_TRUE(Send("d1", Msg("slot freed")).has_value());
  EXPECT_FALSE(Send("d1", Msg("full again")).has_value());
}

TEST_F(C2dLimitsTest, InFlightEnqueuesCountTowardsDepth) {
  limits_.max_queue_depth = 3;
  Restart();
  std::vector<Result<uint64_t>> results;
  for (int i = 0; i < 4; ++i) {
    queues_->Enqueue("d1", Msg(std::to_string(i)),
                     [&](Result<uint64_t> r) { results.push_back(std::move(r)); });
  }
  executor_.RunAll();
  ASSERT_EQ(results.size(), 4u);
  int ok = 0;
  for (const auto& r : results) ok += r.has_value() ? 1 : 0;
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(queues_->Depth("d1"), 3u);
}

TEST_F(C2dLimitsTest, ConfiguredDepthLimitApplies) {
  limits_.max_queue_depth = 2;
  Restart();
  EXPECT_TRUE(Send("d1", Msg("1")).has_value());
  EXPECT_TRUE(Send("d1", Msg("2")).has_value());
  EXPECT_EQ(Send("d1", Msg("3")).error().reason(), "DeviceMaximumQueueDepthExceeded");
}

TEST_F(C2dLimitsTest, MessageSizeLimit) {
  EXPECT_TRUE(Send("d1", Msg(std::string(64 * 1024, 'a'))).has_value());
  Result<uint64_t> big = Send("d1", Msg(std::string(64 * 1024 + 1, 'a')));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), StatusCode::kTooLarge);
  EXPECT_EQ(big.error().reason(), "MessageTooLarge");
  Message props = Msg(std::string(64 * 1024 - 2, 'a'));
  props.properties = {{"k", "vv"}};
  EXPECT_EQ(Send("d1", props).error().reason(), "MessageTooLarge") << "properties count";
  EXPECT_TRUE(Send("d1", Msg("")).has_value()) << "empty bodies are valid";
  EXPECT_EQ(queues_->Depth("d1"), 2u);
}

TEST_F(C2dLimitsTest, UnknownDeviceIsNotFound) {
  Result<uint64_t> r = Send("nobody", Msg("x"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.error().reason(), "DeviceNotFound");
  EXPECT_EQ(queues_->Depth("nobody"), 0u);
  EXPECT_FALSE(Receive("nobody"));
}

}  // namespace
}  // namespace iothub::core
