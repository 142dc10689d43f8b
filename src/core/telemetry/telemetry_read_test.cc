#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/telemetry/telemetry_log.h"
#include "core/telemetry/telemetry_test_util.h"
#include "core/telemetry/test_store.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

using testing::AppendNow;
using testing::TextMessage;
using namespace std::chrono_literals;

// Partition 1 holds device-1 and device-5 with the default 4 partitions.
class TelemetryReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = TelemetryLog::Open(store_, clock_);
    ASSERT_TRUE(log);
    log_ = std::move(*log);
  }

  // Appends `n` messages "0".."n-1" to partition 1, one second apart, starting at the clock's time.
  void AppendSeconds(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage(std::to_string(i))));
      clock_.Advance(1s);
    }
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<TelemetryLog> log_;
};

TEST_F(TelemetryReadTest, ReadsFromAnOffset) {
  AppendSeconds(5);
  auto read = log_->Read(1, 2, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[0].body, "2");
  EXPECT_EQ((*read)[0].sequence_number, 2u);
  EXPECT_EQ((*read)[2].sequence_number, 4u);
}

TEST_F(TelemetryReadTest, ReadHonoursMaxCount) {
  AppendSeconds(5);
  auto read = log_->Read(1, 0, 2);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_TRUE(log_->Read(1, 0, 0)->empty());
}

TEST_F(TelemetryReadTest, ReadHonoursMaxBytesButReturnsAtLeastOne) {
  AppendSeconds(5);
  auto read = log_->Read(1, 0, 10, 1);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 1u);
}

TEST_F(TelemetryReadTest, ReadAtOrPastTheEndIsEmpty) {
  AppendSeconds(2);
  EXPECT_TRUE(log_->Read(1, 2, 10)->empty());
  EXPECT_TRUE(log_->Read(1, 1000, 10)->empty());
  EXPECT_TRUE(log_->Read(2, 0, 10)->empty());  // a partition nobody wrote to
}

TEST_F(TelemetryReadTest, ReadBelowTheOldestStartsAtTheOldest) {
  AppendSeconds(5);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 3));
  auto read = log_->Read(1, 0, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].sequence_number, 3u);
}

TEST_F(TelemetryReadTest, ReadOfAnUnknownPartitionFails) {
  auto read = log_->Read(4, 0, 10);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryReadTest, ReadOfAnUndecodableRecordIsCorruption) {
  storage::WriteBatch batch;
  batch.LogAppend(kTelemetryLogName, 1, clock_.Now(), "\x07garbage");
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync));
  auto read = log_->Read(1, 0, 10);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), StatusCode::kCorruption);
}

TEST_F(TelemetryReadTest, ReadReportsStoreFailure) {
  testing::TestStore faulty(store_);
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_TRUE(log);
  faulty.fail_reads = Unavailable("down");
  EXPECT_EQ((*log)->Read(1, 0, 1).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->GetPartitionInfo(1).error().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*log)->ResolveStart(1, StartPosition::Start()).error().code(),
            StatusCode::kUnavailable);
}

TEST_F(TelemetryReadTest, PartitionInfoOfAnEmptyPartition) {
  auto info = log_->GetPartitionInfo(2);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->partition, 2u);
  EXPECT_EQ(info->first_offset, 0u);
  EXPECT_EQ(info->next_offset, 0u);
  EXPECT_EQ(info->bytes, 0u);
  EXPECT_FALSE(info->last_enqueued_time.has_value());
}

TEST_F(TelemetryReadTest, PartitionInfoAfterAppendsAndTrim) {
  const Timestamp start = clock_.Now();
  AppendSeconds(4);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 1));
  auto info = log_->GetPartitionInfo(1);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->first_offset, 1u);
  EXPECT_EQ(info->next_offset, 4u);
  EXPECT_GT(info->bytes, 0u);
  EXPECT_EQ(info->last_enqueued_time, start + 3s);
}

TEST_F(TelemetryReadTest, PartitionInfoOfAnUnknownPartitionFails) {
  EXPECT_EQ(log_->GetPartitionInfo(7).error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryReadTest, StartAndEndPositions) {
  AppendSeconds(5);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 2));
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::Start()), 2u);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::End()), 5u);
  EXPECT_EQ(*log_->ResolveStart(3, StartPosition::Start()), 0u);
  EXPECT_EQ(*log_->ResolveStart(3, StartPosition::End()), 0u);
}

TEST_F(TelemetryReadTest, OffsetPositions) {
  AppendSeconds(5);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 2));
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromOffset(3)), 3u);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromOffset(3, false)), 4u);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromOffset(0)), 2u);  // trimmed: the oldest
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromOffset(9)), 9u);  // waits for offset 9
  auto overflow =
      log_->ResolveStart(1, StartPosition::FromOffset(std::numeric_limits<uint64_t>::max(), false));
  ASSERT_FALSE(overflow);
  EXPECT_EQ(overflow.error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryReadTest, EnqueuedTimePositions) {
  const Timestamp start = clock_.Now();
  AppendSeconds(10);  // offset i enqueued at start + i s
  auto at = [&](Timestamp t, bool inclusive) {
    return *log_->ResolveStart(1, StartPosition::FromEnqueuedTime(t, inclusive));
  };
  EXPECT_EQ(at(start + 4s, true), 4u);
  EXPECT_EQ(at(start + 4s, false), 5u);
  EXPECT_EQ(at(start + 4500ms, true), 5u);
  EXPECT_EQ(at(start - 1h, false), 0u);
  EXPECT_EQ(at(start + 9s, false), 10u);  // nothing later: the end
  EXPECT_EQ(at(start + 1h, true), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(at(start + std::chrono::seconds(i), true), uint64_t(i));
}

TEST_F(TelemetryReadTest, EnqueuedTimePositionWithEqualTimes) {
  const Timestamp start = clock_.Now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("same")));
  clock_.Advance(1s);
  ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("later")));
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromEnqueuedTime(start, true)), 0u);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromEnqueuedTime(start, false)), 6u);
}

TEST_F(TelemetryReadTest, EnqueuedTimePositionAfterRetention) {
  const Timestamp start = clock_.Now();
  AppendSeconds(10);
  ASSERT_TRUE(store_.TrimLogBefore(kTelemetryLogName, 1, 6));
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromEnqueuedTime(start, true)), 6u);
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromEnqueuedTime(start + 7s, true)), 7u);
  EXPECT_EQ(*log_->ResolveStart(2, StartPosition::FromEnqueuedTime(start, true)), 0u);
}

TEST_F(TelemetryReadTest, StartPositionOfAnUnknownPartitionFails) {
  EXPECT_EQ(log_->ResolveStart(4, StartPosition::End()).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TelemetryReadTest, SubscribersHearOfEachDurableAppend) {
  std::vector<std::pair<uint32_t, uint64_t>> a, b;
  log_->Subscribe([&](uint32_t p, uint64_t next) { a.emplace_back(p, next); });
  const uint64_t id_b =
      log_->Subscribe([&](uint32_t p, uint64_t next) { b.emplace_back(p, next); });
  ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("x")));
  ASSERT_TRUE(AppendNow(*log_, "device-2", TextMessage("y")));
  log_->Unsubscribe(id_b);
  log_->Unsubscribe(id_b);   // twice: ignored
  log_->Unsubscribe(12345);  // unknown: ignored
  ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("z")));
  using Events = std::vector<std::pair<uint32_t, uint64_t>>;
  EXPECT_EQ(a, (Events{{1, 1}, {0, 1}, {1, 2}}));
  EXPECT_EQ(b, (Events{{1, 1}, {0, 1}}));
}

TEST_F(TelemetryReadTest, SubscribersAreNotToldOfRefusedAppends) {
  int notified = 0;
  log_->Subscribe([&](uint32_t, uint64_t) { ++notified; });
  ASSERT_FALSE(AppendNow(*log_, "", TextMessage("x")));
  ASSERT_FALSE(AppendNow(*log_, "device-1", TextMessage(std::string(300 * 1024, 'x'))));
  EXPECT_EQ(notified, 0);
}

TEST_F(TelemetryReadTest, ListenerMayReadAndUnsubscribeItself) {
  uint64_t id = 0;
  std::vector<std::string> seen;
  id = log_->Subscribe([&](uint32_t p, uint64_t next) {
    auto read = log_->Read(p, next - 1, 1);
    ASSERT_TRUE(read);
    seen.push_back(read->front().body);
    log_->Unsubscribe(id);
  });
  ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("first")));
  ASSERT_TRUE(AppendNow(*log_, "device-1", TextMessage("second")));
  EXPECT_EQ(seen, std::vector<std::string>{"first"});
}

}  // namespace
}  // namespace iothub::core
