#include "base/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <sstream>

namespace iothub::metrics {
namespace {

prometheus::Registry& TheRegistry() {
  static auto* registry = new prometheus::Registry();  // lives for the process: handles point in
  return *registry;
}

prometheus::Labels ToPrometheus(const Labels& labels) {
  return prometheus::Labels(labels.begin(), labels.end());
}

struct Hooks {
  std::mutex mu;
  uint64_t next_id = 1;
  std::map<uint64_t, std::function<void()>> hooks;
};

Hooks& TheHooks() {
  static auto* hooks = new Hooks();
  return *hooks;
}

}  // namespace

void Counter::Increment(double by) const {
  if (impl_ != nullptr) impl_->Increment(by);
}
double Counter::Value() const { return impl_ == nullptr ? 0 : impl_->Value(); }

void Gauge::Set(double value) const {
  if (impl_ != nullptr) impl_->Set(value);
}
void Gauge::Increment(double by) const {
  if (impl_ != nullptr) impl_->Increment(by);
}
void Gauge::Decrement(double by) const {
  if (impl_ != nullptr) impl_->Decrement(by);
}
double Gauge::Value() const { return impl_ == nullptr ? 0 : impl_->Value(); }

void Histogram::Observe(double value) const {
  if (impl_ != nullptr) impl_->Observe(value);
}

// prometheus-cpp's Registry and Family lock internally; Add on an existing name and labels returns
// the existing metric, so these are safe from any thread.
Counter GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  auto& family = prometheus::BuildCounter()
                     .Name(std::string(name))
                     .Help(std::string(help))
                     .Register(TheRegistry());
  return Counter(&family.Add(ToPrometheus(labels)));
}

Gauge GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  auto& family = prometheus::BuildGauge()
                     .Name(std::string(name))
                     .Help(std::string(help))
                     .Register(TheRegistry());
  return Gauge(&family.Add(ToPrometheus(labels)));
}

Histogram GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                       std::vector<double> buckets) {
  auto& family = prometheus::BuildHistogram()
                     .Name(std::string(name))
                     .Help(std::string(help))
                     .Register(TheRegistry());
  return Histogram(&family.Add(ToPrometheus(labels), std::move(buckets)));
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

uint64_t AddScrapeHook(std::function<void()> update) {
  Hooks& hooks = TheHooks();
  std::lock_guard lock(hooks.mu);
  uint64_t id = hooks.next_id++;
  hooks.hooks.emplace(id, std::move(update));
  return id;
}

void RemoveScrapeHook(uint64_t id) {
  Hooks& hooks = TheHooks();
  std::lock_guard lock(hooks.mu);
  hooks.hooks.erase(id);
}

std::string RenderText() {
  {
    Hooks& hooks = TheHooks();
    std::lock_guard lock(hooks.mu);  // also keeps an owner from removing a hook mid-run
    for (auto& [id, update] : hooks.hooks) update();
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, TheRegistry().Collect());
  return out.str();
}

}  // namespace iothub::metrics
