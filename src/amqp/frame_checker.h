#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iothub::amqp {

// Watches the bytes a client sends, beside Proton, for what Proton 0.37 lets through without a
// word: a frame whose body is not one well-formed described performative of its layer (AMQP
// 0x10-0x18 in AMQP frames, 0x40-0x44 in SASL frames) — Proton skips such a frame and reads on,
// where the connection must be closed with an error. Everything Proton refuses itself (a bad
// protocol header, a frame over max-frame-size, a bad data offset) stops the watch: Proton closes
// those connections.
//
// It follows the protocol headers: "AMQP" 3.1.0.0 starts SASL frames, "AMQP" 0.1.0.0 AMQP
// frames, and a new header may follow the SASL frames. It also refuses what would trip an
// assertion in Proton: the first transfer of a delivery without a delivery-id. A frame is held only
// until it is whole (at most max_frame_size bytes), and its buffer is let go of afterwards.
//
// Not thread-safe: one per connection, on its thread.
class FrameChecker {
 public:
  explicit FrameChecker(uint32_t max_frame_size) : max_frame_size_(max_frame_size) {}

  // Reads `bytes` (any split). Returns why the first bad frame is bad, or "" when all is well so
  // far; with an error, `*good` (when given) is how many of `bytes` come before the bad frame,
  // so that only those reach Proton. After an error, or once the watch stopped, further bytes are
  // not looked at.
  std::string Feed(std::string_view bytes, size_t* good = nullptr);

  bool stopped() const { return state_ == State::kStopped; }

 private:
  enum class State { kHeader, kFrames, kStopped };

  // Checks the whole frame in pending_; "" when it is fine.
  std::string CheckFrame(std::string_view frame);
  // Follows which links (channel, handle) are in the middle of a multi-frame delivery.
  std::string TrackTransfers(uint16_t channel, int64_t code,
                             const std::vector<std::string_view>& fields);

  // Links in a multi-frame delivery at once, at most (each link has at most one): Proton allows
  // 16 sessions of at most 64 links.
  static constexpr size_t kMaxDeliveriesTracked = 4096;

  const uint32_t max_frame_size_;
  State state_ = State::kHeader;
  bool sasl_ = false;    // the frames follow a SASL header
  std::string pending_;  // the start of the header or frame being read
  std::set<std::pair<uint16_t, uint32_t>> in_delivery_;  // (channel, handle) with more to come
};

}  // namespace iothub::amqp
