// Fuzzes the stored-message decoder: stored bytes are never trusted. Whatever decodes must
// re-encode to bytes that decode to the same message.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto decoded = iothub::core::DecodeMessage(in);
  if (decoded) {
    auto again = iothub::core::DecodeMessage(iothub::core::EncodeMessage(*decoded));
    if (!again || !(*again == *decoded)) std::abort();
  }
  return 0;
}
