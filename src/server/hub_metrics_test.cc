#include "server/hub_metrics.h"

#include <gtest/gtest.h>

#include "base/metrics.h"
#include "core/hub/hub.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::server {
namespace {

TEST(HubMetricsTest, ScrapeShowsDevicesQueuesAndTelemetry) {
  FakeClock clock;
  storage::MemoryStore store;
  testing::ManualExecutor shard;
  core::Hub hub({.host_name = "hub.example"}, store, clock, {&shard});
  ASSERT_TRUE(hub.Open().ok());
  core::Device device;
  device.id = "d1";
  ASSERT_TRUE(hub.registry().Create(device).has_value());
  device.id = "d2";
  device.status = core::DeviceStatus::kDisabled;
  ASSERT_TRUE(hub.registry().Create(device).has_value());
  bool sent = false;
  hub.SendC2d("d1", core::Message{.body = "x"}, shard,
              [&](Result<uint64_t> r) { sent = r.has_value(); });
  std::optional<Result<core::Position>> appended;
  hub.telemetry().Append("d1", core::Message{.body = "t"}, {}, [&](auto r) { appended = r; });
  while (shard.RunAll() > 0) {
  }
  ASSERT_TRUE(sent);
  ASSERT_TRUE(appended.has_value() && appended->has_value());
  hub.ProcessTimers(0);

  HubMetrics metrics(hub);
  std::string text = metrics::RenderText();
  EXPECT_NE(text.find("iothub_devices{status=\"enabled\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("iothub_devices{status=\"disabled\"} 1"), std::string::npos);
  EXPECT_NE(text.find("iothub_c2d_queued_messages 1"), std::string::npos);
  std::string partition = std::to_string((*appended)->partition);
  EXPECT_NE(text.find("iothub_telemetry_records{partition=\"" + partition + "\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("iothub_telemetry_next_offset{partition=\"" + partition + "\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace iothub::server
