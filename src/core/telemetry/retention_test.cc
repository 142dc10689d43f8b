#include <gtest/gtest.h>

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

class RetentionTest : public ::testing::Test {
 protected:
  std::unique_ptr<TelemetryLog> Open(TelemetryOptions options = {}) {
    auto log = TelemetryLog::Open(store_, clock_, options);
    EXPECT_TRUE(log) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  storage::MemoryStore store_;
  FakeClock clock_;
};

TEST_F(RetentionTest, DropsRecordsOlderThanTheRetention) {
  auto log = Open();  // 24 h
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("old")));
  ASSERT_TRUE(AppendNow(*log, "device-2", TextMessage("old, other partition")));
  clock_.Advance(12h);
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("young")));
  clock_.Advance(12h);
  EXPECT_EQ(*log->ApplyRetention(), 0u);  // exactly 24 h old: kept
  clock_.Advance(1ms);
  EXPECT_EQ(*log->ApplyRetention(), 2u);
  EXPECT_EQ(log->GetPartitionInfo(1)->first_offset, 1u);
  EXPECT_EQ(log->GetPartitionInfo(0)->first_offset, 1u);
  EXPECT_EQ(log->GetPartitionInfo(0)->next_offset, 1u);
  auto read = log->Read(1, 0, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().body, "young");
  clock_.Advance(12h);
  EXPECT_EQ(*log->ApplyRetention(), 1u);
  EXPECT_EQ(*log->ApplyRetention(), 0u);
}

TEST_F(RetentionTest, OffsetsContinueAfterRetentionAndReopen) {
  auto log = Open({.retention = 1h});
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("a")));
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("b")));
  clock_.Advance(2h);
  EXPECT_EQ(*log->ApplyRetention(), 2u);
  log.reset();
  log = Open({.retention = 1h});
  auto pos = AppendNow(*log, "device-1", TextMessage("c"));
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->offset, 2u);
}

TEST_F(RetentionTest, DropsOldestRecordsBeyondTheSizeLimit) {
  // Stored records are larger than the body (encoding and stamps): measure one.
  auto log = Open({.max_bytes_per_partition = 1ull << 30});
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage(std::string(100, 'x'))));
  const uint64_t record = log->GetPartitionInfo(1)->bytes;
  log.reset();
  storage::MemoryStore fresh;
  auto sized = TelemetryLog::Open(fresh, clock_, {.max_bytes_per_partition = record * 3});
  ASSERT_TRUE(sized);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(AppendNow(**sized, "device-1", TextMessage(std::string(100, 'x'))));
  }
  ASSERT_TRUE(AppendNow(**sized, "device-2", TextMessage(std::string(100, 'x'))));
  EXPECT_EQ(*(*sized)->ApplyRetention(), 2u);
  auto info = (*sized)->GetPartitionInfo(1);
  EXPECT_EQ(info->first_offset, 2u);
  EXPECT_EQ(info->bytes, record * 3);
  EXPECT_EQ((*sized)->GetPartitionInfo(0)->first_offset, 0u);
  EXPECT_EQ(*(*sized)->ApplyRetention(), 0u);
}

TEST_F(RetentionTest, CountsAgeAndSizeTogether) {
  auto log = Open({.retention = 1h, .max_bytes_per_partition = 1});
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("a")));
  clock_.Advance(2h);
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("b")));
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("c")));
  // "a" by age, then "b" and "c" by size (even one record exceeds 1 byte).
  EXPECT_EQ(*log->ApplyRetention(), 3u);
  EXPECT_EQ(log->GetPartitionInfo(1)->first_offset, 3u);
}

TEST_F(RetentionTest, ReportsStoreFailure) {
  testing::TestStore faulty(store_);
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_TRUE(log);
  faulty.fail_trims = Unavailable("busy");
  auto dropped = (*log)->ApplyRetention();
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error().code(), StatusCode::kUnavailable);
}

TEST_F(RetentionTest, IntervalFollowsTheRetention) {
  EXPECT_EQ(Open()->RetentionInterval(), 1min);
  storage::MemoryStore a, b, c;
  EXPECT_EQ((*TelemetryLog::Open(a, clock_, {.retention = 1h}))->RetentionInterval(), 36s);
  EXPECT_EQ((*TelemetryLog::Open(b, clock_, {.retention = 10s}))->RetentionInterval(), 1s);
  EXPECT_EQ((*TelemetryLog::Open(c, clock_, {.retention = 24h * 7}))->RetentionInterval(), 1min);
}

}  // namespace
}  // namespace iothub::core
