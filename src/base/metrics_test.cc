#include "base/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace iothub::metrics {
namespace {

// The registry is process-wide: each test uses its own metric names.

TEST(MetricsTest, CounterRendersWithHelpTypeAndLabels) {
  Counter c = GetCounter("test_requests_total", "Requests seen.", {{"endpoint", "https"}});
  c.Increment();
  c.Increment(2);
  EXPECT_EQ(c.Value(), 3);
  std::string text = RenderText();
  EXPECT_NE(text.find("# HELP test_requests_total Requests seen."), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE test_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("test_requests_total{endpoint=\"https\"} 3"), std::string::npos) << text;
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameMetric) {
  GetCounter("test_same_total", "h", {{"a", "1"}}).Increment();
  GetCounter("test_same_total", "h", {{"a", "1"}}).Increment();
  GetCounter("test_same_total", "h", {{"a", "2"}}).Increment();
  EXPECT_EQ(GetCounter("test_same_total", "h", {{"a", "1"}}).Value(), 2);
  EXPECT_EQ(GetCounter("test_same_total", "h", {{"a", "2"}}).Value(), 1);
}

TEST(MetricsTest, GaugeAndHistogram) {
  Gauge g = GetGauge("test_open_connections", "Open.");
  g.Increment();
  g.Increment();
  g.Decrement();
  EXPECT_EQ(g.Value(), 1);
  Histogram h = GetHistogram("test_latency_seconds", "Latency.", {}, LatencyBuckets());
  h.Observe(0.003);
  h.Observe(20);
  std::string text = RenderText();
  EXPECT_NE(text.find("test_open_connections 1"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_count 2"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{le=\"0.005\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos) << text;
}

TEST(MetricsTest, ScrapeHooksRunBeforeRenderingUntilRemoved) {
  Gauge depth = GetGauge("test_queue_depth", "Depth.");
  int runs = 0;
  uint64_t id = AddScrapeHook([&] { depth.Set(++runs * 10); });
  EXPECT_NE(RenderText().find("test_queue_depth 10"), std::string::npos);
  EXPECT_NE(RenderText().find("test_queue_depth 20"), std::string::npos);
  RemoveScrapeHook(id);
  EXPECT_NE(RenderText().find("test_queue_depth 20"), std::string::npos);
  EXPECT_EQ(runs, 2);
}

TEST(MetricsTest, DetachedHandlesIgnoreUpdates) {
  Counter c;
  c.Increment();
  EXPECT_EQ(c.Value(), 0);
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  Counter c = GetCounter("test_concurrent_total", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 10000; ++i) c.Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000);
}

}  // namespace
}  // namespace iothub::metrics
