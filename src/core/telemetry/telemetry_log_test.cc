#include "core/telemetry/telemetry_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "core/telemetry/telemetry_test_util.h"
#include "core/telemetry/test_store.h"
#include "storage/memory/memory_store.h"

namespace iothub::core {
namespace {

using testing::AppendBatchNow;
using testing::AppendNow;
using testing::DeviceContext;
using testing::TextMessage;
using namespace std::chrono_literals;

class TelemetryLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<TelemetryLog> OpenLog(TelemetryOptions options = {}) {
    auto log = TelemetryLog::Open(store_, clock_, options);
    EXPECT_TRUE(log.has_value()) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  storage::MemoryStore store_;
  FakeClock clock_;
};

// Computed once from FNV-1a; a change here moves every device's telemetry to another partition.
TEST_F(TelemetryLogTest, PartitionOfIsStable) {
  auto log = OpenLog();
  EXPECT_EQ(log->PartitionOf("device-1"), 1u);
  EXPECT_EQ(log->PartitionOf("device-2"), 0u);
  EXPECT_EQ(log->PartitionOf("device-3"), 3u);
  EXPECT_EQ(log->PartitionOf("device-4"), 2u);
  EXPECT_EQ(log->PartitionOf("sensor-42"), 0u);
}

TEST_F(TelemetryLogTest, PartitionOfFollowsConfiguredCount) {
  auto log = OpenLog({.partitions = 32});
  EXPECT_EQ(log->PartitionOf("device-1"), 17u);
  EXPECT_EQ(log->PartitionOf("device-2"), 24u);
  EXPECT_EQ(log->PartitionOf("thermostat"), 20u);
}

TEST_F(TelemetryLogTest, PartitionOfSpreadsDevices) {
  auto log = OpenLog();
  std::map<uint32_t, int> counts;
  for (int i = 0; i < 4000; ++i) ++counts[log->PartitionOf("device-" + std::to_string(i))];
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [partition, n] : counts) {
    EXPECT_GT(n, 800) << "partition " << partition;
    EXPECT_LT(n, 1200) << "partition " << partition;
  }
}

TEST_F(TelemetryLogTest, AppendStampsHubProperties) {
  auto log = OpenLog();
  Message m = TextMessage("21.5");
  m.message_id = "m1";
  m.content_type = "application/json";
  m.SetProperty("temperatureAlert", "false");
  m.enqueued_time = FromUnixMillis(5);  // the sender cannot choose these
  m.connection_device_id = "someone-else";
  m.sequence_number = 99;
  m.lock_token = "forged";
  m.delivery_count = 3;

  auto pos = AppendNow(*log, "device-1", m);
  ASSERT_TRUE(pos) << pos.error().ToString();
  EXPECT_EQ(*pos, (Position{1, 0}));

  auto read = log->Read(1, 0, 10);
  ASSERT_TRUE(read) << read.error().ToString();
  ASSERT_EQ(read->size(), 1u);
  const Message& got = read->front();
  EXPECT_EQ(got.body, "21.5");
  EXPECT_EQ(got.message_id, "m1");
  EXPECT_EQ(got.content_type, "application/json");
  ASSERT_NE(got.FindProperty("temperatureAlert"), nullptr);
  EXPECT_EQ(*got.FindProperty("temperatureAlert"), "false");
  EXPECT_EQ(got.enqueued_time, clock_.Now());
  EXPECT_EQ(got.connection_device_id, "device-1");
  EXPECT_EQ(got.connection_auth_method, testing::kSasAuthMethod);
  EXPECT_EQ(got.connection_auth_generation_id, "638000000000000001");
  EXPECT_EQ(got.sequence_number, 0u);
  EXPECT_EQ(got.lock_token, "");
  EXPECT_EQ(got.delivery_count, 0u);
}

TEST_F(TelemetryLogTest, AppendAsksForSyncDurability) {
  auto log = OpenLog();
  const uint64_t syncs = store_.stats().syncs;
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("x")));
  EXPECT_EQ(store_.stats().syncs, syncs + 1);
}

TEST_F(TelemetryLogTest, OffsetsAreDensePerPartition) {
  auto log = OpenLog();
  std::map<uint32_t, uint64_t> next;
  for (int i = 0; i < 200; ++i) {
    std::string device = "device-" + std::to_string(i % 13);
    auto pos = AppendNow(*log, device, TextMessage(std::to_string(i)));
    ASSERT_TRUE(pos) << pos.error().ToString();
    EXPECT_EQ(pos->partition, log->PartitionOf(device));
    EXPECT_EQ(pos->offset, next[pos->partition]++);
  }
  for (const auto& [partition, n] : next) {
    auto read = log->Read(partition, 0, 1000);
    ASSERT_TRUE(read);
    ASSERT_EQ(read->size(), n);
    for (uint64_t i = 0; i < n; ++i) EXPECT_EQ((*read)[i].sequence_number, i);
  }
}

TEST_F(TelemetryLogTest, OneDeviceKeepsItsOrder) {
  auto log = OpenLog();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage(std::to_string(i))));
    ASSERT_TRUE(AppendNow(*log, "device-5", TextMessage("other")));  // same partition (1)
  }
  auto read = log->Read(1, 0, 100);
  ASSERT_TRUE(read);
  int expected = 0;
  for (const Message& m : *read) {
    if (m.connection_device_id == "device-1") {
      EXPECT_EQ(m.body, std::to_string(expected++));
    }
  }
  EXPECT_EQ(expected, 20);
}

TEST_F(TelemetryLogTest, MessageAtTheSizeLimitIsAccepted) {
  auto log = OpenLog({.max_message_size = 100});
  Message m = TextMessage(std::string(90, 'x'));
  m.SetProperty("k", std::string(9, 'v'));  // properties count: 90 + 1 + 9 = 100
  EXPECT_TRUE(AppendNow(*log, "device-1", m));
}

TEST_F(TelemetryLogTest, MessageOverTheSizeLimitIsRefused) {
  auto log = OpenLog({.max_message_size = 100});
  Message m = TextMessage(std::string(90, 'x'));
  m.SetProperty("k", std::string(10, 'v'));
  auto pos = AppendNow(*log, "device-1", m);
  ASSERT_FALSE(pos);
  EXPECT_EQ(pos.error().code(), StatusCode::kTooLarge);
  EXPECT_EQ(pos.error().reason(), "MessageTooLarge");
  EXPECT_EQ(log->GetPartitionInfo(1)->next_offset, 0u);
}

TEST_F(TelemetryLogTest, DefaultSizeLimitIs256KiB) {
  auto log = OpenLog();
  EXPECT_TRUE(AppendNow(*log, "device-1", TextMessage(std::string(256 * 1024, 'x'))));
  auto pos = AppendNow(*log, "device-1", TextMessage(std::string(256 * 1024 + 1, 'x')));
  ASSERT_FALSE(pos);
  EXPECT_EQ(pos.error().code(), StatusCode::kTooLarge);
}

TEST_F(TelemetryLogTest, EmptyBodyIsValid) {
  auto log = OpenLog();
  ASSERT_TRUE(AppendNow(*log, "device-1", Message{}));
  auto read = log->Read(1, 0, 1);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().body, "");
}

TEST_F(TelemetryLogTest, AppendWithoutDeviceIdIsRefused) {
  auto log = OpenLog();
  auto pos = AppendNow(*log, "", TextMessage("x"));
  ASSERT_FALSE(pos);
  EXPECT_EQ(pos.error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryLogTest, AppendReportsStoreFailure) {
  testing::TestStore faulty(store_);
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_TRUE(log);
  faulty.fail_commits = Unavailable("disk gone");
  int notified = 0;
  (*log)->Subscribe([&](uint32_t, uint64_t) { ++notified; });
  auto pos = AppendNow(**log, "device-1", TextMessage("x"));
  ASSERT_FALSE(pos);
  EXPECT_EQ(pos.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(notified, 0);
}

TEST_F(TelemetryLogTest, DoneWaitsUntilTheStoreCallsBack) {
  testing::TestStore slow(store_);
  auto log = TelemetryLog::Open(slow, clock_);
  ASSERT_TRUE(log);
  slow.defer_callbacks = true;
  std::optional<Result<Position>> done;
  std::vector<uint64_t> notified;
  (*log)->Subscribe([&](uint32_t, uint64_t next) { notified.push_back(next); });
  (*log)->Append("device-1", TextMessage("x"), DeviceContext(),
                 [&](Result<Position> r) { done.emplace(std::move(r)); });
  EXPECT_FALSE(done.has_value());
  EXPECT_TRUE(notified.empty());
  EXPECT_EQ(slow.RunDeferred(), 1u);
  ASSERT_TRUE(done.has_value());
  ASSERT_TRUE(*done);
  EXPECT_EQ((*done)->offset, 0u);
  EXPECT_EQ(notified, std::vector<uint64_t>{1});
}

TEST_F(TelemetryLogTest, InFlightAppendCompletesAfterTheLogIsDestroyed) {
  testing::TestStore slow(store_);
  auto log = TelemetryLog::Open(slow, clock_);
  ASSERT_TRUE(log);
  slow.defer_callbacks = true;
  std::optional<Result<Position>> done;
  (*log)->Append("device-1", TextMessage("x"), DeviceContext(),
                 [&](Result<Position> r) { done.emplace(std::move(r)); });
  log->reset();
  slow.RunDeferred();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(*done);
}

TEST_F(TelemetryLogTest, DoneMayAppendAgain) {
  auto log = OpenLog();
  std::optional<Result<Position>> second;
  log->Append("device-1", TextMessage("1"), DeviceContext(), [&](Result<Position> r) {
    ASSERT_TRUE(r);
    log->Append("device-1", TextMessage("2"), DeviceContext(),
                [&](Result<Position> r2) { second.emplace(std::move(r2)); });
  });
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(*second);
  EXPECT_EQ((*second)->offset, 1u);
}

TEST_F(TelemetryLogTest, EnqueuedTimeNeverGoesBackInAPartition) {
  auto log = OpenLog();
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("a")));
  const Timestamp first = clock_.Now();
  clock_.Advance(-5s);  // e.g. an NTP step
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("b")));
  ASSERT_TRUE(AppendNow(*log, "device-2", TextMessage("c")));  // another partition: its own floor
  auto read = log->Read(1, 0, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].enqueued_time, first);
  EXPECT_EQ(log->Read(0, 0, 1)->front().enqueued_time, clock_.Now());
}

TEST_F(TelemetryLogTest, EnqueuedTimeFloorSurvivesReopen) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("a")));
  }
  const Timestamp first = clock_.Now();
  clock_.Advance(-1h);
  auto log = OpenLog();
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("b")));
  EXPECT_EQ(log->Read(1, 1, 1)->front().enqueued_time, first);
}

TEST_F(TelemetryLogTest, BatchGetsConsecutiveOffsetsInOneCommit) {
  auto log = OpenLog();
  ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("before")));
  std::vector<uint64_t> notified;
  log->Subscribe([&](uint32_t, uint64_t next) { notified.push_back(next); });
  const uint64_t commits = store_.stats().commits;
  auto positions =
      AppendBatchNow(*log, "device-1", {TextMessage("a"), TextMessage("b"), TextMessage("c")});
  ASSERT_TRUE(positions) << positions.error().ToString();
  EXPECT_EQ(*positions, (std::vector<Position>{{1, 1}, {1, 2}, {1, 3}}));
  EXPECT_EQ(store_.stats().commits, commits + 1);
  EXPECT_EQ(notified, std::vector<uint64_t>{4});
  auto read = log->Read(1, 1, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*read)[i].body, std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ((*read)[i].sequence_number, i + 1);
    EXPECT_EQ((*read)[i].connection_device_id, "device-1");
    EXPECT_EQ((*read)[i].connection_auth_generation_id, "638000000000000001");
    EXPECT_EQ((*read)[i].enqueued_time, clock_.Now());
  }
}

TEST_F(TelemetryLogTest, EmptyBatchIsRefused) {
  auto log = OpenLog();
  auto positions = AppendBatchNow(*log, "device-1", {});
  ASSERT_FALSE(positions);
  EXPECT_EQ(positions.error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryLogTest, BatchWithOneOversizedMessageIsRefusedWhole) {
  auto log = OpenLog({.max_message_size = 10});
  auto positions =
      AppendBatchNow(*log, "device-1", {TextMessage("ok"), TextMessage(std::string(11, 'x'))});
  ASSERT_FALSE(positions);
  EXPECT_EQ(positions.error().reason(), "MessageTooLarge");
  EXPECT_EQ(log->GetPartitionInfo(1)->next_offset, 0u);
}

TEST_F(TelemetryLogTest, BatchOverTheSizeLimitInTotalIsRefused) {
  auto log = OpenLog({.max_message_size = 10});
  auto positions = AppendBatchNow(*log, "device-1",
                                  {TextMessage("12345"), TextMessage("12345"), TextMessage("1")});
  ASSERT_FALSE(positions);
  EXPECT_EQ(positions.error().code(), StatusCode::kTooLarge);
  EXPECT_TRUE(AppendBatchNow(*log, "device-1", {TextMessage("12345"), TextMessage("12345")}));
}

TEST_F(TelemetryLogTest, BatchWithoutDeviceIdIsRefused) {
  auto log = OpenLog();
  auto positions = AppendBatchNow(*log, "", {TextMessage("x")});
  ASSERT_FALSE(positions);
  EXPECT_EQ(positions.error().code(), StatusCode::kInvalidArgument);
}

TEST_F(TelemetryLogTest, BatchReportsStoreFailure) {
  testing::TestStore faulty(store_);
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_TRUE(log);
  faulty.fail_commits = Internal("boom");
  auto positions = AppendBatchNow(**log, "device-1", {TextMessage("x")});
  ASSERT_FALSE(positions);
  EXPECT_EQ(positions.error().code(), StatusCode::kInternal);
}

TEST_F(TelemetryLogTest, ConcurrentAppendsKeepOffsetsDenseAndTimesOrdered) {
  auto log = OpenLog();
  std::atomic<uint64_t> notified{0};
  log->Subscribe([&](uint32_t, uint64_t) { ++notified; });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop) {
      clock_.Advance(1ms);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> shards;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    shards.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string device = "device-" + std::to_string((t * kPerThread + i) % 17);
        if (!AppendNow(*log, device, TextMessage("x"))) ++failures;
      }
    });
  }
  for (auto& s : shards) s.join();
  stop = true;
  ticker.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(notified, uint64_t{kThreads * kPerThread});
  uint64_t total = 0;
  for (uint32_t p = 0; p < log->partition_count(); ++p) {
    auto read = log->Read(p, 0, kThreads * kPerThread);
    ASSERT_TRUE(read);
    for (size_t i = 0; i < read->size(); ++i) {
      EXPECT_EQ((*read)[i].sequence_number, i);
      if (i > 0) {
        EXPECT_GE(*(*read)[i].enqueued_time, *(*read)[i - 1].enqueued_time);
      }
    }
    total += read->size();
  }
  EXPECT_EQ(total, uint64_t{kThreads * kPerThread});
}

TEST_F(TelemetryLogTest, NewLogOverTheSameStoreContinuesOffsets) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("a")));
    ASSERT_TRUE(AppendNow(*log, "device-1", TextMessage("b")));
  }
  auto log = OpenLog();
  auto pos = AppendNow(*log, "device-1", TextMessage("c"));
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->offset, 2u);
  auto read = log->Read(1, 0, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[0].body, "a");
  EXPECT_EQ((*read)[0].connection_device_id, "device-1");
}

TEST_F(TelemetryLogTest, OpenRefusesBadOptions) {
  std::vector<TelemetryOptions> bad = {{.partitions = 0},       {.partitions = 1025},
                                       {.retention = 0s},       {.max_bytes_per_partition = 0},
                                       {.max_message_size = 0}, {.max_consumer_groups = 0}};
  for (const auto& options : bad) {
    auto log = TelemetryLog::Open(store_, clock_, options);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(ValidateTelemetryOptions({.partitions = 1024}).ok());
  EXPECT_TRUE(ValidateTelemetryOptions({}).ok());
}

TEST_F(TelemetryLogTest, PartitionCountCannotChange) {
  ASSERT_NE(OpenLog({.partitions = 4}), nullptr);
  auto log = TelemetryLog::Open(store_, clock_, {.partitions = 8});
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log.error().reason(), "PartitionCountMismatch");
  EXPECT_NE(OpenLog({.partitions = 4}), nullptr);
}

TEST_F(TelemetryLogTest, OpenRefusesMalformedStoredPartitionCount) {
  storage::WriteBatch batch;
  batch.Put(kTelemetryMetaTable, "partitions", "four");
  ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync));
  auto log = TelemetryLog::Open(store_, clock_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), StatusCode::kCorruption);
}

TEST_F(TelemetryLogTest, OpenReportsStoreFailures) {
  testing::TestStore faulty(store_);
  faulty.fail_reads = Unavailable("down");
  auto log = TelemetryLog::Open(faulty, clock_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), StatusCode::kUnavailable);

  faulty.fail_reads = Status::Ok();
  faulty.fail_commits = Unavailable("read-only");
  log = TelemetryLog::Open(faulty, clock_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iothub::core
