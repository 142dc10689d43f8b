#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iothub::amqp {

// Watches the bytes a client sends, beside Proton, for what Proton 0.37 lets through without a
// word: a frame whose body is not one well-formed described performative of its layer (AMQP
// 0x10-0x18 in AMQP frames, 0x40-0x44 in SASL frames) — Proton skips such a frame and reads on,
// where the connection must be closed with an error. Everything Proton refuses itself (a bad
// protocol header, a frame over max-frame-size, a bad data offset) stops the watch: Proton closes
// those connections.
//
// It follows the protocol headers: "AMQP" 3.1.0.0 starts SASL frames, "AMQP" 0.1.0.0 AMQP
// frames, and a new header may follow the SASL frames. A frame is held only until it is whole
// (at most max_frame_size bytes), and its buffer is let go of afterwards.
//
// Not thread-safe: one per connection, on its thread.
class FrameChecker {
 public:
  explicit FrameChecker(uint32_t max_frame_size) : max_frame_size_(max_frame_size) {}

  // Reads `bytes` (any split). Returns why the first bad frame is bad, or "" when all is well so
  // far. After an error, or once the watch stopped, further bytes are not looked at.
  std::string Feed(std::string_view bytes);

  bool stopped() const { return state_ == State::kStopped; }

 private:
  enum class State { kHeader, kFrames, kStopped };

  // Checks the whole frame in pending_; "" when it is fine.
  std::string CheckFrame(std::string_view frame) const;

  const uint32_t max_frame_size_;
  State state_ = State::kHeader;
  bool sasl_ = false;    // the frames follow a SASL header
  std::string pending_;  // the start of the header or frame being read
};

}  // namespace iothub::amqp
