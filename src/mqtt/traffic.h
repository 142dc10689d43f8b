#pragma once

#include <cstddef>

namespace iothub::mqtt {

// Messages through the MQTT endpoint, for /metrics (the same series as the HTTPS endpoint's):
//   iothub_messages_received_total{endpoint="mqtt",kind="telemetry"}  accepted and durable
//   iothub_messages_sent_total{endpoint="mqtt",kind="c2d"}           handed to a connection
// Thread-safe (atomic counters).
enum class Traffic { kTelemetryIn, kC2dOut };
void CountMessages(Traffic traffic, size_t count = 1);

}  // namespace iothub::mqtt
