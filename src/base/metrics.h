#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Process-wide metrics for the Prometheus text endpoint (/metrics), over prometheus-cpp's core
// library (Debian's prometheus-cpp-dev), kept behind this header so that only metrics.cc sees it.
//
// Names follow Prometheus conventions: iothub_<what>_<unit>, counters end in _total. Handles are
// cheap to copy and valid for the life of the process; every method is thread-safe and lock-free
// on the hot path (an atomic add), so any thread (a shard, a store thread) may update them.

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace iothub::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  Counter() = default;  // a detached counter: updates go nowhere (for code built without metrics)
  void Increment(double by = 1) const;
  double Value() const;

 private:
  friend Counter GetCounter(std::string_view, std::string_view, const Labels&);
  explicit Counter(prometheus::Counter* impl) : impl_(impl) {}
  prometheus::Counter* impl_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  void Set(double value) const;
  void Increment(double by = 1) const;
  void Decrement(double by = 1) const;
  double Value() const;

 private:
  friend Gauge GetGauge(std::string_view, std::string_view, const Labels&);
  explicit Gauge(prometheus::Gauge* impl) : impl_(impl) {}
  prometheus::Gauge* impl_ = nullptr;
};

class Histogram {
 public:
  Histogram() = default;
  void Observe(double value) const;

 private:
  friend Histogram GetHistogram(std::string_view, std::string_view, const Labels&,
                                std::vector<double>);
  explicit Histogram(prometheus::Histogram* impl) : impl_(impl) {}
  prometheus::Histogram* impl_ = nullptr;
};

// The metric `name` with `labels`, created on first use (`help` is the family's HELP line; the
// first caller's wins). The same name and labels always give the same metric. A name must not be
// used for two kinds of metric.
Counter GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
Gauge GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
// `buckets`: the upper bounds, ascending.
Histogram GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                       std::vector<double> buckets);

// Bucket bounds in seconds for latencies from 0.1 ms to 10 s.
std::vector<double> LatencyBuckets();

// Registers `update`, run at the start of every scrape to set gauges whose values are cheaper to
// read than to track (queue depths, device counts). It runs on the scraping thread; it must be
// thread-safe and quick. Returns an id for RemoveScrapeHook (an owner that dies before the process
// must remove its hook).
uint64_t AddScrapeHook(std::function<void()> update);
void RemoveScrapeHook(uint64_t id);

// Runs the scrape hooks, then renders every metric in the Prometheus text exposition format
// (version 0.0.4).
std::string RenderText();

// The Content-Type of RenderText's output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace iothub::metrics
