#pragma once

#include <cstddef>

namespace iothub::http {

// Messages through the HTTPS endpoint, for /metrics:
//   iothub_messages_received_total{endpoint="https",kind="telemetry"|"c2d"}  accepted and durable
//   iothub_messages_sent_total{endpoint="https",kind="c2d"|"feedback"|"telemetry"}  handed out
// Thread-safe (atomic counters).
enum class Traffic { kTelemetryIn, kC2dIn, kC2dOut, kFeedbackOut, kTelemetryOut };
void CountMessages(Traffic traffic, size_t count = 1);

}  // namespace iothub::http
