#include "mqtt/session_state.h"

#include "base/coding.h"
#include "mqtt/topics.h"

namespace iothub::mqtt {
namespace {

constexpr uint8_t kFormat = 2;
// Written by earlier versions: a packet id counter first, and after the subscriptions the
// deliveries in flight (packet id, lock token, lock deadline), which are now the queue's locks.
constexpr uint8_t kFormatWithDeliveries = 1;

}  // namespace

std::string EncodeSessionState(const std::vector<SessionSubscription>& subscriptions) {
  std::string out(1, static_cast<char>(kFormat));
  PutVarint64(&out, subscriptions.size());
  for (const auto& [filter, qos] : subscriptions) {
    PutLengthPrefixed(&out, filter);
    out.push_back(static_cast<char>(qos));
  }
  return out;
}

std::optional<std::vector<SessionSubscription>> DecodeSessionState(std::string_view device_id,
                                                                   std::string_view bytes,
                                                                   size_t max_subscriptions) {
  Decoder in(bytes);
  uint8_t format = 0;
  uint64_t count = 0;
  uint64_t ignored = 0;
  if (!in.GetByte(&format) || (format != kFormat && format != kFormatWithDeliveries) ||
      (format == kFormatWithDeliveries && !in.GetVarint64(&ignored)) || !in.GetVarint64(&count) ||
      count > max_subscriptions) {
    return std::nullopt;
  }
  std::vector<SessionSubscription> out;
  for (uint64_t i = 0; i < count; ++i) {
    std::string filter;
    uint8_t qos = 0;
    if (!in.GetLengthPrefixed(&filter) || !in.GetByte(&qos) || qos > 1 ||
        ClassifyFilter(device_id, filter) == FilterKind::kRefused) {
      return std::nullopt;
    }
    out.emplace_back(std::move(filter), qos);
  }
  if (format == kFormatWithDeliveries) {
    uint64_t deliveries = 0;
    if (!in.GetVarint64(&deliveries) || deliveries > 0xFFFF) return std::nullopt;
    for (uint64_t i = 0; i < deliveries; ++i) {
      std::string lock_token;
      uint64_t deadline = 0;
      if (!in.GetVarint64(&ignored) || !in.GetLengthPrefixed(&lock_token) ||
          !in.GetFixed64BE(&deadline)) {
        return std::nullopt;
      }
    }
  }
  if (!in.done()) return std::nullopt;
  return out;
}

}  // namespace iothub::mqtt
