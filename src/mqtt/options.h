#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "base/clock.h"

namespace iothub::mqtt {

// Limits of the MQTT endpoint (PROTOCOL.md, "MQTT 3.1.1 (devices)"). The defaults are IoT Hub's
// where it has one.
struct MqttOptions {
  // A telemetry PUBLISH's payload (IoT Hub: 256 KiB). Larger closes the connection.
  size_t max_payload = size_t{256} * 1024;
  // A whole packet, fixed header included: the payload limit plus room for a long topic with its
  // property bag. Larger closes the connection as soon as its fixed header is in.
  uint32_t max_packet_size = 256 * 1024 + 16 * 1024;
  // CONNECT must be complete within this long after the stream opened (slowloris).
  Duration connect_timeout = std::chrono::seconds(10);
  // A larger keep-alive asked for by a client is lowered to this (IoT Hub: 1177 s).
  uint16_t max_keep_alive_seconds = 1177;
  // C2D messages delivered to a device and not yet PUBACKed, per device.
  size_t inflight_window = 16;
  // Telemetry PUBLISHes of one connection not yet durable; beyond, reading pauses until half of
  // them are.
  size_t max_pending_telemetry = 64;
  // Subscriptions a device may hold (IoT Hub: 5).
  size_t max_subscriptions = 5;
  // (How long a persistent session outlives its device's absence is the core's setting:
  // core::HubOptions::session_expiry.)
};

}  // namespace iothub::mqtt
