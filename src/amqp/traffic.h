#pragma once

#include <cstddef>

namespace iothub::amqp {

// Messages through the AMQP endpoint, for /metrics (the same series as the other endpoints'):
//   iothub_messages_received_total{endpoint="amqp",kind="telemetry"|"c2d"}  accepted and durable
//   iothub_messages_sent_total{endpoint="amqp",kind="c2d"|"feedback"}      handed to a link
// Thread-safe (atomic counters).
enum class Traffic { kTelemetryIn, kC2dIn, kC2dOut, kFeedbackOut };
void CountMessages(Traffic traffic, size_t count = 1);

}  // namespace iothub::amqp
