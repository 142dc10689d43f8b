// Fuzzes the MQTT part of a stored persistent session (src/mqtt/session_state.h), read back from
// the store after a restart: stored bytes are trusted no more than the network's. Input:
// "<device id>\n<bytes>", or just bytes for device "dev1". Never a crash, and what decodes holds
// at most 5 subscriptions, each a filter of the device's own with QoS 0 or 1, and re-encodes to
// bytes that decode back equal.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mqtt/session_state.h"
#include "mqtt/topics.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace iothub::mqtt;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view device_id = "dev1";
  if (size_t newline = input.find('\n'); newline != std::string_view::npos && newline > 0) {
    device_id = input.substr(0, newline);
    input.remove_prefix(newline + 1);
  }
  constexpr size_t kMaxSubscriptions = 5;
  auto decoded = DecodeSessionState(device_id, input, kMaxSubscriptions);
  if (!decoded) return 0;
  Check(decoded->size() <= kMaxSubscriptions);
  for (const auto& [filter, qos] : *decoded) {
    Check(qos <= 1);
    Check(ClassifyFilter(device_id, filter) != FilterKind::kRefused);
  }
  auto again = DecodeSessionState(device_id, EncodeSessionState(*decoded), kMaxSubscriptions);
  Check(again.has_value() && *again == *decoded);
  return 0;
}
