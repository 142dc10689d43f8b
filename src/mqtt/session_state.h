#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iothub::mqtt {

// A subscription of a session: the topic filter and the QoS granted (0 or 1).
using SessionSubscription = std::pair<std::string, uint8_t>;

// The MQTT part of a device's persistent session (MQTT 3.1.1 section 3.1.2.4) as the core keeps it
// (core::Presence, opaque bytes): its subscriptions. (The deliveries it has not settled are the
// device's locked C2D messages, which the core hands back on reconnect.)
std::string EncodeSessionState(const std::vector<SessionSubscription>& subscriptions);
// nullopt when `bytes` are not a session state of `device_id`: malformed, more than
// `max_subscriptions`, a QoS above 1, or a filter that is not one of the device's topics.
std::optional<std::vector<SessionSubscription>> DecodeSessionState(std::string_view device_id,
                                                                   std::string_view bytes,
                                                                   size_t max_subscriptions);

}  // namespace iothub::mqtt
