#include "amqp/message_codec.h"

namespace iothub::amqp {

Result<core::Message> DecodeMessage(std::string_view /*bytes*/) {
  return Internal("amqp message decoding is not written yet");
}

std::string EncodeMessage(const core::Message& /*message*/) { return {}; }

}  // namespace iothub::amqp
