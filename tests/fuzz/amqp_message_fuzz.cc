// Fuzzes the AMQP message decoder (amqp/message_codec.h): a client's message bytes are never
// trusted. Whatever decodes must survive the hub's own encoding: EncodeMessage of it decodes to an
// equal message. (A decoded message carries no hub stamps, and the encoder writes every field the
// decoder keeps — ids and properties as strings, user-id as binary, ack as `iothub-ack` — so the
// whole message must match.)
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "amqp/message_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto decoded = iothub::amqp::DecodeMessage(in);
  if (decoded) {
    auto again = iothub::amqp::DecodeMessage(iothub::amqp::EncodeMessage(*decoded));
    if (!again || !(*again == *decoded)) std::abort();
  }
  return 0;
}
