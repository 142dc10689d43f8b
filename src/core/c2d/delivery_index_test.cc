#include "core/c2d/delivery_index.h"

#include <gtest/gtest.h>

namespace iothub::core {
namespace {

using namespace std::chrono_literals;

const Timestamp kT0 = FromUnixMillis(1'700'000'000'000);

QueuedMessage Make(std::string key, uint64_t seq, Timestamp expiry = kT0 + 1h) {
  QueuedMessage m;
  m.key = std::move(key);
  m.seq = seq;
  m.stored.expiry = expiry;
  return m;
}

TEST(DeliveryIndexTest, NextVisibleIsOldestEnqueued) {
  DeliveryIndex index;
  ASSERT_TRUE(index.Insert(Make("a", 5)));
  ASSERT_TRUE(index.Insert(Make("a", 3)));
  ASSERT_TRUE(index.Insert(Make("b", 1)));
  EXPECT_EQ(index.NextVisible("a")->seq, 3u);
  EXPECT_EQ(index.NextVisible("a", 3)->seq, 5u);
  EXPECT_EQ(index.NextVisible("a", 5), nullptr);
  EXPECT_EQ(index.NextVisible("zzz"), nullptr);
  EXPECT_EQ(index.Find("a", 5)->stored.message.sequence_number, 5u);
  EXPECT_EQ(index.Count("a"), 2u);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.Keys(), (std::vector<std::string>{"a", "b"}));
}

TEST(DeliveryIndexTest, DuplicateSeqOrTokenIsRefused) {
  DeliveryIndex index;
  ASSERT_TRUE(index.Insert(Make("a", 1)));
  EXPECT_EQ(index.Insert(Make("a", 1)), nullptr);
  QueuedMessage locked = Make("a", 2);
  locked.state = DeliveryState::kInvisible;
  locked.lock_token = "t";
  locked.lock_deadline = kT0 + 1min;
  ASSERT_TRUE(index.Insert(locked));
  locked.seq = 3;
  EXPECT_EQ(index.Insert(locked), nullptr);
  EXPECT_EQ(index.size(), 2u);
}

TEST(DeliveryIndexTest, LockUnlockMovesVisibilityTokenAndTimer) {
  DeliveryIndex index;
  QueuedMessage* m = index.Insert(Make("a", 1));
  EXPECT_EQ(index.NextDeadline(), kT0 + 1h);
  index.Lock(m, "tok", kT0 + 1min);
  EXPECT_EQ(index.NextVisible("a"), nullptr);
  EXPECT_EQ(index.FindByLockToken("tok"), m);
  EXPECT_EQ(index.NextDeadline(), kT0 + 1min);
  index.Unlock(m);
  EXPECT_EQ(index.FindByLockToken("tok"), nullptr);
  EXPECT_EQ(index.NextVisible("a"), m);
  EXPECT_EQ(index.NextDeadline(), kT0 + 1h);
}

TEST(DeliveryIndexTest, LockLongerThanTtlFiresAtExpiry) {
  DeliveryIndex index;
  QueuedMessage* m = index.Insert(Make("a", 1, kT0 + 30s));
  index.Lock(m, "tok", kT0 + 1min);
  EXPECT_EQ(index.NextDeadline(), kT0 + 30s);
}

TEST(DeliveryIndexTest, RemovalDisarmsAndCancelRestores) {
  DeliveryIndex index;
  QueuedMessage* m = index.Insert(Make("a", 1));
  index.Lock(m, "tok", kT0 + 1min);
  index.BeginRemoval(m);
  EXPECT_EQ(m->state, DeliveryState::kRemoving);
  EXPECT_FALSE(index.NextDeadline());
  EXPECT_EQ(index.Count("a"), 1u) << "still counted until erased";
  index.CancelRemoval(m, kT0 + 2min);
  EXPECT_EQ(m->state, DeliveryState::kInvisible);
  EXPECT_EQ(index.FindByLockToken("tok"), m);
  EXPECT_EQ(index.NextDeadline(), kT0 + 2min) << "held back until the retry time";

  QueuedMessage* e = index.Insert(Make("a", 2));
  index.BeginRemoval(e);
  EXPECT_EQ(index.NextVisible("a"), nullptr);
  index.CancelRemoval(e, Timestamp());
  EXPECT_EQ(index.NextVisible("a"), e);
}

TEST(DeliveryIndexTest, DueIsOrderedAndStable) {
  DeliveryIndex index;
  index.Insert(Make("b", 2, kT0 + 2s));
  index.Insert(Make("a", 9, kT0 + 2s));
  index.Insert(Make("a", 1, kT0 + 1s));
  index.Insert(Make("c", 1, kT0 + 3s));
  auto due = index.Due(kT0 + 2s);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0], (std::pair<std::string, uint64_t>{"a", 1}));
  EXPECT_EQ(due[1], (std::pair<std::string, uint64_t>{"a", 9}));
  EXPECT_EQ(due[2], (std::pair<std::string, uint64_t>{"b", 2}));
  EXPECT_TRUE(index.Due(kT0).empty());
}

TEST(DeliveryIndexTest, EraseAndEraseKeyForgetEverything) {
  DeliveryIndex index;
  QueuedMessage* m = index.Insert(Make("a", 1));
  index.Lock(m, "tok", kT0 + 1min);
  index.Insert(Make("a", 2));
  index.Insert(Make("b", 1, kT0 + 5h));
  index.Erase(index.Find("a", 2));
  EXPECT_EQ(index.Count("a"), 1u);
  index.EraseKey("a");
  EXPECT_EQ(index.Count("a"), 0u);
  EXPECT_EQ(index.FindByLockToken("tok"), nullptr);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.NextDeadline(), kT0 + 5h);
  EXPECT_EQ(index.Keys(), std::vector<std::string>{"b"});
  index.Erase(index.Find("b", 1));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_FALSE(index.NextDeadline());
  EXPECT_TRUE(index.Keys().empty());
}

}  // namespace
}  // namespace iothub::core
