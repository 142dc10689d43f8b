#include "core/telemetry/consumer_groups.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "core/telemetry/telemetry_log.h"
#include "core/telemetry/telemetry_test_util.h"
#include "core/telemetry/test_store.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

using testing::AppendNow;
using testing::TextMessage;
using Names = std::vector<std::string>;

class ConsumerGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { log_ = Open(); }

  std::unique_ptr<TelemetryLog> Open(TelemetryOptions options = {}) {
    auto log = TelemetryLog::Open(store_, clock_, options);
    EXPECT_TRUE(log) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  void AppendToPartition1(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("x")));
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<TelemetryLog> log_;
};

TEST_F(ConsumerGroupsTest, DefaultGroupAlwaysExists) {
  EXPECT_EQ(log_->ListConsumerGroups(), Names{"$Default"});
}

TEST_F(ConsumerGroupsTest, CreateListDelete) {
  ASSERT_TRUE(log_->CreateConsumerGroup("analytics").ok());
  ASSERT_TRUE(log_->CreateConsumerGroup("Alerts.v2").ok());
  EXPECT_EQ(log_->ListConsumerGroups(), (Names{"$Default", "Alerts.v2", "analytics"}));
  ASSERT_TRUE(log_->DeleteConsumerGroup("analytics").ok());
  EXPECT_EQ(log_->ListConsumerGroups(), (Names{"$Default", "Alerts.v2"}));
}

TEST_F(ConsumerGroupsTest, CreatingAnExistingGroupFails) {
  ASSERT_TRUE(log_->CreateConsumerGroup("a").ok());
  Status again = log_->CreateConsumerGroup("a");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.reason(), "ConsumerGroupAlreadyExists");
  EXPECT_EQ(log_->CreateConsumerGroup("$Default").code(), StatusCode::kAlreadyExists);
}

TEST_F(ConsumerGroupsTest, NamesAreCaseSensitive) {
  ASSERT_TRUE(log_->CreateConsumerGroup("a").ok());
  EXPECT_TRUE(log_->CreateConsumerGroup("A").ok());
}

TEST_F(ConsumerGroupsTest, DefaultGroupCannotBeDeleted) {
  EXPECT_EQ(log_->DeleteConsumerGroup("$Default").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->ListConsumerGroups(), Names{"$Default"});
}

TEST_F(ConsumerGroupsTest, DeletingAnUnknownGroupFails) {
  Status s = log_->DeleteConsumerGroup("nope");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.reason(), "ConsumerGroupNotFound");
}

TEST_F(ConsumerGroupsTest, NameValidation) {
  for (const std::string& good :
       std::vector<std::string>{"a", "7", "a.b_c-d", "Z9", std::string(50, 'x')}) {
    EXPECT_TRUE(ValidateConsumerGroupName(good).ok()) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", std::string(51, 'x'), "-a", "a-", ".a", "a_", "a/b", "a b",
                                "$x", "$Default", "caf\xc3\xa9", std::string("a\0b", 3)}) {
    Status s = ValidateConsumerGroupName(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.reason(), "InvalidConsumerGroupName");
    if (bad != "$Default") {
      EXPECT_EQ(log_->CreateConsumerGroup(bad).code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(log_->ListConsumerGroups(), Names{"$Default"});
}

TEST_F(ConsumerGroupsTest, GroupLimitCountsDefault) {
  log_.reset();
  log_ = Open({.max_consumer_groups = 3});
  ASSERT_TRUE(log_->CreateConsumerGroup("one").ok());
  ASSERT_TRUE(log_->CreateConsumerGroup("two").ok());
  Status s = log_->CreateConsumerGroup("three");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.reason(), "ConsumerGroupLimitExceeded");
  ASSERT_TRUE(log_->DeleteConsumerGroup("one").ok());
  EXPECT_TRUE(log_->CreateConsumerGroup("three").ok());
}

TEST_F(ConsumerGroupsTest, CheckpointRoundTrip) {
  AppendToPartition1(5);
  auto none = log_->GetCheckpoint("$Default", 1);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 3).ok());
  EXPECT_EQ(*log_->GetCheckpoint("$Default", 1), std::optional<uint64_t>(3));
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 5).ok());  // == next offset: all consumed
  EXPECT_EQ(*log_->GetCheckpoint("$Default", 1), std::optional<uint64_t>(5));
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 0).ok());  // may also move back (a replay)
  EXPECT_EQ(*log_->GetCheckpoint("$Default", 1), std::optional<uint64_t>(0));
  EXPECT_FALSE(log_->GetCheckpoint("$Default", 0)->has_value());
}

TEST_F(ConsumerGroupsTest, CheckpointsArePerGroupAndPartition) {
  AppendToPartition1(5);
  ASSERT_TRUE(AppendNow(*log_, "device-2", TextMessage("p0")));
  ASSERT_TRUE(log_->CreateConsumerGroup("a").ok());
  ASSERT_TRUE(log_->CreateConsumerGroup("ab").ok());
  ASSERT_TRUE(log_->SetCheckpoint("a", 1, 2).ok());
  ASSERT_TRUE(log_->SetCheckpoint("ab", 1, 4).ok());
  ASSERT_TRUE(log_->SetCheckpoint("a", 0, 1).ok());
  EXPECT_EQ(*log_->GetCheckpoint("a", 1), std::optional<uint64_t>(2));
  EXPECT_EQ(*log_->GetCheckpoint("ab", 1), std::optional<uint64_t>(4));
  EXPECT_EQ(*log_->GetCheckpoint("a", 0), std::optional<uint64_t>(1));
  EXPECT_FALSE(log_->GetCheckpoint("ab", 0)->has_value());
  // Deleting "a" must not touch "ab" (the key prefix is "a/").
  ASSERT_TRUE(log_->DeleteConsumerGroup("a").ok());
  EXPECT_EQ(*log_->GetCheckpoint("ab", 1), std::optional<uint64_t>(4));
}

TEST_F(ConsumerGroupsTest, CheckpointKeyFormat) {
  EXPECT_EQ(CheckpointKey("$Default", 3), "$Default/0000000003");
  EXPECT_EQ(CheckpointKey("g", 4294967295u), "g/4294967295");
}

TEST_F(ConsumerGroupsTest, CheckpointErrors) {
  AppendToPartition1(2);
  EXPECT_EQ(log_->SetCheckpoint("nope", 1, 0).code(), StatusCode::kNotFound);
  EXPECT_EQ(log_->GetCheckpoint("nope", 1).error().code(), StatusCode::kNotFound);
  EXPECT_EQ(log_->SetCheckpoint("$Default", 4, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->GetCheckpoint("$Default", 4).error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->SetCheckpoint("$Default", 1, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->SetCheckpoint("$Default", 2, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(log_->GetCheckpoint("$Default", 1)->has_value());
}

TEST_F(ConsumerGroupsTest, CheckpointBelowTheOldestRecordIsAccepted) {
  AppendToPartition1(5);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 4));
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 1).ok());
  uint64_t resume = **log_->GetCheckpoint("$Default", 1);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromOffset(resume)), 4u);
}

TEST_F(ConsumerGroupsTest, DeletingAGroupDeletesItsCheckpoints) {
  AppendToPartition1(3);
  ASSERT_TRUE(log_->CreateConsumerGroup("g").ok());
  ASSERT_TRUE(log_->SetCheckpoint("g", 1, 2).ok());
  ASSERT_TRUE(log_->DeleteConsumerGroup("g").ok());
  EXPECT_EQ(log_->GetCheckpoint("g", 1).error().code(), StatusCode::kNotFound);
  ASSERT_TRUE(log_->CreateConsumerGroup("g").ok());
  EXPECT_FALSE(log_->GetCheckpoint("g", 1)->has_value());
  EXPECT_FALSE(store_.Get(kCheckpointsTable, CheckpointKey("g", 1)).has_value());
}

TEST_F(ConsumerGroupsTest, GroupsAndCheckpointsSurviveANewLog) {
  AppendToPartition1(3);
  ASSERT_TRUE(log_->CreateConsumerGroup("g").ok());
  ASSERT_TRUE(log_->SetCheckpoint("g", 1, 2).ok());
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 3).ok());
  log_.reset();
  log_ = Open();
  EXPECT_EQ(log_->ListConsumerGroups(), (Names{"$Default", "g"}));
  EXPECT_EQ(*log_->GetCheckpoint("g", 1), std::optional<uint64_t>(2));
  EXPECT_EQ(*log_->GetCheckpoint("$Default", 1), std::optional<uint64_t>(3));
}

TEST_F(ConsumerGroupsTest, ManyGroupsLoadAcrossScanPages) {
  log_.reset();
  log_ = Open({.max_consumer_groups = 1000});
  for (int i = 0; i < 600; ++i)
    ASSERT_TRUE(log_->CreateConsumerGroup("g" + std::to_string(i)).ok());
  log_.reset();
  log_ = Open({.max_consumer_groups = 1000});
  EXPECT_EQ(log_->ListConsumerGroups().size(), 601u);
}

TEST_F(ConsumerGroupsTest, UndecodableCheckpointIsCorruption) {
  storage::WriteBatch batch;
  batch.Put(kCheckpointsTable, CheckpointKey("$Default", 1), "junk");
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync));
  EXPECT_EQ(log_->GetCheckpoint("$Default", 1).error().code(), StatusCode::kCorruption);
}

TEST_F(ConsumerGroupsTest, StoredGroupWithABadNameIsIgnored) {
  storage::WriteBatch batch;
  batch.Put(kConsumerGroupsTable, "bad name", "x");
  batch.Put(kConsumerGroupsTable, "good", "x");
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync));
  log_ = Open();
  EXPECT_EQ(log_->ListConsumerGroups(), (Names{"$Default", "good"}));
}

TEST_F(ConsumerGroupsTest, StoreFailuresLeaveGroupsUnchanged) {
  log_.reset();
  testing::TestStore faulty(store_);
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->CreateConsumerGroup("kept").ok());
  ASSERT_TRUE(AppendNow(**log, "device-1", TextMessage("x")));
  faulty.fail_commits = Unavailable("read-only");
  EXPECT_EQ((*log)->CreateConsumerGroup("new").code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->DeleteConsumerGroup("kept").code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->SetCheckpoint("kept", 1, 1).code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->ListConsumerGroups(), (Names{"$Default", "kept"}));
  faulty.fail_commits = Status::Ok();
  faulty.fail_reads = Unavailable("down");
  EXPECT_EQ((*log)->GetCheckpoint("kept", 1).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->SetCheckpoint("kept", 1, 1).code(), StatusCode::kUnavailable);
}

TEST_F(ConsumerGroupsTest, AsyncCheckpointRunsDoneOnceDurable) {
  AppendToPartition1(3);
  log_.reset();
  testing::TestStore slow(store_);
  auto log = TelemetryLog::Open(slow, clock_);
  ASSERT_TRUE(log);
  slow.defer_callbacks = true;
  std::optional<Status> done;
  (*log)->SetCheckpoint("$Default", 1, 2, [&](Status s) { done = s; });
  EXPECT_FALSE(done.has_value());
  slow.RunDeferred();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok());
}

TEST_F(ConsumerGroupsTest, CheckpointDoneMayCallBackIn) {
  AppendToPartition1(3);
  std::optional<Status> second;
  log_->SetCheckpoint("$Default", 1, 1, [&](Status s) {
    ASSERT_TRUE(s.ok());
    log_->SetCheckpoint("$Default", 1, 2, [&](Status s2) { second = s2; });
  });
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->ok());
  log_->SetCheckpoint("nope", 1, 1, [&](Status s) {
    EXPECT_EQ(s.code(), StatusCode::kNotFound);
    EXPECT_EQ(log_->ListConsumerGroups(), Names{"$Default"});  // no lock held here
  });
}

TEST_F(ConsumerGroupsTest, GroupIsBusyWhileItsDeletionCommits) {
  AppendToPartition1(2);
  ASSERT_TRUE(log_->CreateConsumerGroup("g").ok());
  ASSERT_TRUE(log_->SetCheckpoint("g", 1, 1).ok());
  log_.reset();
  testing::TestStore slow(store_);
  auto log = TelemetryLog::Open(slow, clock_);
  ASSERT_TRUE(log);
  slow.defer_callbacks = true;
  Status deleted = Internal("not run");
  std::thread deleter([&] { deleted = (*log)->DeleteConsumerGroup("g"); });
  while (slow.deferred() == 0) std::this_thread::yield();  // the deletion is committing
  Status busy = (*log)->CreateConsumerGroup("g");
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_EQ(busy.reason(), "ConsumerGroupBusy");
  EXPECT_EQ((*log)->DeleteConsumerGroup("g").reason(), "ConsumerGroupBusy");
  std::optional<Status> checkpoint;
  (*log)->SetCheckpoint("g", 1, 2, [&](Status s) { checkpoint = s; });
  ASSERT_TRUE(checkpoint.has_value());
  EXPECT_EQ(checkpoint->code(), StatusCode::kNotFound);
  EXPECT_EQ((*log)->ListConsumerGroups(), Names{"$Default"});
  while (deleter.joinable() && slow.RunDeferred() == 0) std::this_thread::yield();
  deleter.join();
  EXPECT_TRUE(deleted.ok()) << deleted.ToString();
  slow.defer_callbacks = false;
  EXPECT_TRUE((*log)->CreateConsumerGroup("g").ok());
  EXPECT_FALSE((*log)->GetCheckpoint("g", 1)->has_value());
}

}  // namespace
}  // namespace iothub::core
