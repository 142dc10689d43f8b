#include "http/traffic.h"

#include "base/metrics.h"

namespace iothub::http {
namespace {

metrics::Counter Received(const char* kind) {
  return metrics::GetCounter("iothub_messages_received_total",
                             "Messages accepted (and durable), by endpoint and kind.",
                             {{"endpoint", "https"}, {"kind", kind}});
}
metrics::Counter Sent(const char* kind) {
  return metrics::GetCounter("iothub_messages_sent_total",
                             "Messages handed to clients, by endpoint and kind.",
                             {{"endpoint", "https"}, {"kind", kind}});
}

}  // namespace

void CountMessages(Traffic traffic, size_t count) {
  static const metrics::Counter counters[] = {Received("telemetry"), Received("c2d"), Sent("c2d"),
                                              Sent("feedback"), Sent("telemetry")};
  counters[static_cast<int>(traffic)].Increment(static_cast<double>(count));
}

}  // namespace iothub::http
