// Fuzzes every decoder of stored records: the store's bytes are never trusted (a corrupt or
// foreign record must give Corruption, never a crash). Whatever decodes must survive a re-encode.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/auth/policy.h"
#include "core/c2d/feedback.h"
#include "core/c2d/stored_formats.h"
#include "core/registry/device.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace iothub::core;
  if (size == 0) return 0;
  // The first byte picks the decoder, so one corpus serves them all.
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto m = DecodeStoredQueueMessage(in);
      if (m && !DecodeStoredQueueMessage(EncodeStoredQueueMessage(*m))) std::abort();
      break;
    }
    case 1: {
      auto s = DecodeDeliveryState(in);
      if (s) {
        auto again = DecodeDeliveryState(EncodeDeliveryState(*s));
        if (!again || !(*again == *s)) std::abort();
      }
      break;
    }
    case 2: {
      auto r = DecodeFeedbackRecord(in);
      if (r && !DecodeFeedbackRecord(EncodeFeedbackRecord(*r))) std::abort();
      break;
    }
    case 3: {
      auto d = DecodeDeviceIdentity(in);
      if (d) {
        auto bytes = EncodeDeviceIdentity(*d);
        if (bytes && !DecodeDeviceIdentity(*bytes)) std::abort();
      }
      break;
    }
    case 4:
      (void)DecodeDeviceActivity(in);
      break;
    case 5: {
      auto p = auth::DecodePolicy(in);
      if (p && !auth::DecodePolicy(auth::EncodePolicy(*p))) std::abort();
      break;
    }
  }
  return 0;
}
