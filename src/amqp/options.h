#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "base/clock.h"

namespace iothub::amqp {

// Limits of the AMQP endpoint (PROTOCOL.md, "AMQP 1.0"). The defaults are IoT Hub's where it has
// one.
struct AmqpOptions {
  // Advertised in OPEN: the largest frame the hub accepts (clients split larger transfers).
  uint32_t max_frame_size = 64 * 1024;
  // A connection silent for this long is closed; OPEN advertises half of it, as the AMQP spec
  // recommends (Proton does that, and sends empty frames at half the client's own idle time-out).
  Duration idle_timeout = std::chrono::seconds(240);
  // The protocol header and OPEN must arrive within this long after the stream opened
  // (slowloris); and a connection must hold a valid token (SASL PLAIN or CBS put-token) within
  // `auth_timeout` of it.
  Duration open_timeout = std::chrono::seconds(10);
  Duration auth_timeout = std::chrono::seconds(60);
  // The bytes of one incoming message (a transfer, all its frames): telemetry's 256 KiB plus room
  // for properties. Larger detaches the link with amqp:link:message-size-exceeded.
  size_t max_message_bytes = 256 * 1024 + 16 * 1024;
  // Credit the hub grants on each link a client sends on (telemetry, C2D sends, CBS): messages
  // received and not yet durable, per link. Renewed as they become durable.
  uint32_t link_credit = 64;
  // Sessions per connection (Proton refuses more: channel-max) and links per connection (more
  // are refused with amqp:resource-limit-exceeded).
  uint32_t max_sessions = 16;
  uint32_t max_links = 64;
  // Output not yet taken by the client beyond which the hub stops reading from it.
  size_t max_pending_output = 64 * 1024;
};

}  // namespace iothub::amqp
