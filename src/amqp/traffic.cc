#include "amqp/traffic.h"

#include "base/metrics.h"

namespace iothub::amqp {

void CountMessages(Traffic traffic, size_t count) {
  static const metrics::Counter counters[] = {
      metrics::GetCounter("iothub_messages_received_total",
                          "Messages accepted (and durable), by endpoint and kind.",
                          {{"endpoint", "amqp"}, {"kind", "telemetry"}}),
      metrics::GetCounter("iothub_messages_received_total",
                          "Messages accepted (and durable), by endpoint and kind.",
                          {{"endpoint", "amqp"}, {"kind", "c2d"}}),
      metrics::GetCounter("iothub_messages_sent_total",
                          "Messages handed to clients, by endpoint and kind.",
                          {{"endpoint", "amqp"}, {"kind", "c2d"}}),
      metrics::GetCounter("iothub_messages_sent_total",
                          "Messages handed to clients, by endpoint and kind.",
                          {{"endpoint", "amqp"}, {"kind", "feedback"}}),
  };
  counters[static_cast<int>(traffic)].Increment(static_cast<double>(count));
}

}  // namespace iothub::amqp
