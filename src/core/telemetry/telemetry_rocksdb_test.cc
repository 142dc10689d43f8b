#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include "core/telemetry/telemetry_log.h"
#include "core/telemetry/telemetry_test_util.h"
#include "storage/rocksdb/rocksdb_store.h"
#include "tests/testing/temp_dir.h"

namespace iothub::core {
namespace {

using testing::AppendAndWait;
using testing::DeviceContext;
using testing::TextMessage;
using namespace std::chrono_literals;

// The telemetry log over the embedded RocksDB store, closed and reopened as the daemon would be.
class TelemetryRocksDbTest : public ::testing::Test {
 protected:
  void OpenAll(TelemetryOptions options = {}) {
    auto store = storage::OpenRocksDbStore({.path = dir_.str() + "/db"});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto log = TelemetryLog::Open(*store_, clock_, options);
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
  }

  void CloseAll() {
    store_->Close();
    log_.reset();
    store_.reset();
  }

  ::iothub::testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<TelemetryLog> log_;
};

TEST_F(TelemetryRocksDbTest, RecordsGroupsAndCheckpointsSurviveReopen) {
  OpenAll();
  const Timestamp start = clock_.Now();
  for (int i = 0; i < 5; ++i) {
    auto pos = AppendAndWait(*log_, "device-1", TextMessage("m" + std::to_string(i)));
    ASSERT_TRUE(pos) << pos.error().ToString();
    EXPECT_EQ(*pos, (Position{1, uint64_t(i)}));
    clock_.Advance(1s);
  }
  ASSERT_TRUE(log_->CreateConsumerGroup("analytics").ok());
  ASSERT_TRUE(log_->SetCheckpoint("analytics", 1, 3).ok());
  ASSERT_TRUE(log_->SetCheckpoint("$Default", 1, 5).ok());
  CloseAll();

  OpenAll();
  auto read = log_->Read(1, 0, 100);
  ASSERT_TRUE(read) << read.error().ToString();
  ASSERT_EQ(read->size(), 5u);
  EXPECT_EQ((*read)[4].body, "m4");
  EXPECT_EQ((*read)[4].sequence_number, 4u);
  EXPECT_EQ((*read)[4].enqueued_time, start + 4s);
  EXPECT_EQ((*read)[4].connection_device_id, "device-1");
  EXPECT_EQ((*read)[4].connection_auth_method, testing::kSasAuthMethod);
  EXPECT_EQ(log_->ListConsumerGroups(), (std::vector<std::string>{"$Default", "analytics"}));
  EXPECT_EQ(*log_->GetCheckpoint("analytics", 1), std::optional<uint64_t>(3));
  EXPECT_EQ(*log_->GetCheckpoint("$Default", 1), std::optional<uint64_t>(5));
  EXPECT_EQ(*log_->ResolveStart(1, StartPosition::FromEnqueuedTime(start + 2s, true)), 2u);

  auto pos = AppendAndWait(*log_, "device-1", TextMessage("after reopen"));
  ASSERT_TRUE(pos);
  EXPECT_EQ(pos->offset, 5u);
  auto info = log_->GetPartitionInfo(1);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->next_offset, 6u);
  EXPECT_EQ(info->last_enqueued_time, clock_.Now());
  CloseAll();
}

TEST_F(TelemetryRocksDbTest, BatchAndRetentionAcrossReopen) {
  OpenAll({.retention = 1h});
  std::promise<Result<std::vector<Position>>> promise;
  log_->AppendBatch("device-2", {TextMessage("a"), TextMessage("b")}, DeviceContext(),
                    [&](Result<std::vector<Position>> r) { promise.set_value(std::move(r)); });
  auto positions = promise.get_future().get();
  ASSERT_TRUE(positions) << positions.error().ToString();
  EXPECT_EQ(*positions, (std::vector<Position>{{0, 0}, {0, 1}}));
  clock_.Advance(2h);
  ASSERT_TRUE(AppendAndWait(*log_, "device-2", TextMessage("young")));
  CloseAll();

  OpenAll({.retention = 1h});
  auto dropped = log_->ApplyRetention();
  ASSERT_TRUE(dropped) << dropped.error().ToString();
  EXPECT_EQ(*dropped, 2u);
  auto info = log_->GetPartitionInfo(0);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->first_offset, 2u);
  EXPECT_EQ(info->next_offset, 3u);
  CloseAll();

  OpenAll({.retention = 1h});
  EXPECT_EQ(log_->GetPartitionInfo(0)->first_offset, 2u);
  EXPECT_EQ(AppendAndWait(*log_, "device-2", TextMessage("next"))->offset, 3u);
  CloseAll();
}

TEST_F(TelemetryRocksDbTest, ListenersRunOnTheStoreThreadAfterDone) {
  OpenAll();
  std::promise<std::thread::id> listener_thread;
  std::atomic<bool> done_first{false};
  std::atomic<bool> order_ok{false};
  log_->Subscribe([&](uint32_t partition, uint64_t next) {
    order_ok = done_first.load() && partition == 1 && next == 1;
    listener_thread.set_value(std::this_thread::get_id());
  });
  log_->Append("device-1", TextMessage("x"), DeviceContext(),
               [&](Result<Position> r) { done_first = r.has_value(); });
  EXPECT_NE(listener_thread.get_future().get(), std::this_thread::get_id());
  EXPECT_TRUE(order_ok);
  CloseAll();
}

TEST_F(TelemetryRocksDbTest, PartitionCountIsFixedAcrossReopen) {
  OpenAll({.partitions = 8});
  CloseAll();
  auto store = storage::OpenRocksDbStore({.path = dir_.str() + "/db"});
  ASSERT_TRUE(store);
  auto log = TelemetryLog::Open(**store, clock_, {.partitions = 4});
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().reason(), "PartitionCountMismatch");
  (*store)->Close();
}

}  // namespace
}  // namespace iothub::core
