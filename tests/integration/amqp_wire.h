#pragma once

// A deliberately small AMQP 1.0 wire client for the integration tests: frames and performatives
// encoded by hand from the specification (not from src/amqp or Proton, so the hub's parser meets
// an independent encoder), a decoder for what the hub answers, and a blocking TCP or TLS socket
// (OpenSSL, verifying the hub's CA and address: byte_client.h) that can send anything: garbage,
// oversized frames, transfers on handles never attached. Also a WebSocket client handshake and
// binary messages, for AMQP over WebSockets (AMQPWSB10). Everything runs on the test's thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/byte_client.h"

namespace iothub::testing::amqp_wire {

// The protocol headers (spec 2.2 and 5.3.1): "AMQP" 0 1 0 0 and the SASL one, "AMQP" 3 1 0 0.
std::string AmqpHeader();
std::string SaslHeader();

// Performative descriptors (spec 2.7, 2.8.14) and the error's (2.8.14 is 0x1d).
inline constexpr uint64_t kOpen = 0x10, kBegin = 0x11, kAttach = 0x12, kFlow = 0x13,
                          kTransfer = 0x14, kDisposition = 0x15, kDetach = 0x16, kEnd = 0x17,
                          kClose = 0x18, kSaslMechanisms = 0x40;

// Encoders of the few AMQP types the frames need (spec 1.6). Each returns one encoded value.
namespace enc {
std::string Null();
std::string Bool(bool value);
std::string Uint(uint32_t value);
std::string Ulong(uint64_t value);
std::string String(std::string_view value);
std::string Symbol(std::string_view value);
std::string Binary(std::string_view value);
std::string List(const std::vector<std::string>& items);
std::string Described(uint64_t descriptor, const std::string& value);
}  // namespace enc

// A whole frame (spec 2.3.1): size, data offset 2, `type` (0: AMQP, 1: SASL), channel, body.
std::string Frame(uint16_t channel, std::string_view body, uint8_t type = 0);
std::string OpenFrame(std::string_view container_id, std::string_view hostname);
std::string BeginFrame(uint16_t channel);
// ATTACH of `name` on `handle`; `receiver`: the client receives (role true), the source being
// `address`; otherwise the client sends to the target `address`.
std::string AttachFrame(uint16_t channel, std::string_view name, uint32_t handle, bool receiver,
                        std::string_view address);
std::string TransferFrame(uint16_t channel, uint32_t handle, uint32_t delivery_id,
                          std::string_view tag, std::string_view payload);
std::string CloseFrame();

// A decoded AMQP value. Integers of every width are `number` (signed ones as their bits);
// string, symbol and binary are `text`; list, array and map entries are `items` (a map's keys
// and values alternate); a described value keeps its numeric or symbolic descriptor and has the
// value as its single item.
struct Value {
  enum Kind { kNull, kBool, kNumber, kText, kList, kMap, kArray, kDescribed, kOther };
  Kind kind = kNull;
  uint8_t code = 0;  // the format code it was read from
  uint64_t number = 0;
  std::string text;
  std::vector<Value> items;
  std::optional<uint64_t> descriptor;

  // Field `i` of a described list (a performative, an error, a terminus); nullptr if absent
  // or null.
  const Value* Field(size_t i) const;
};

// Decodes one value from the front of `*in` and advances it; nullopt when malformed or short.
std::optional<Value> Decode(std::string_view* in);

struct ParsedFrame {
  uint8_t type = 0;
  uint16_t channel = 0;
  std::optional<Value> performative;  // absent: an empty (heartbeat) frame
  std::string payload;                // what follows the performative (a transfer's message)
  uint64_t code() const {
    return performative && performative->descriptor ? *performative->descriptor : 0;
  }
  // Field `i` of the performative, or nullptr.
  const Value* Field(size_t i) const { return performative ? performative->Field(i) : nullptr; }
  // The condition symbol of an error field (CLOSE 0, DETACH 2), "" when none.
  std::string ErrorCondition(size_t field) const;
  std::string ErrorDescription(size_t field) const;
};

enum class ReadStatus { kOk, kTimeout, kClosed, kMalformed };

// A connection to the hub (TCP, or TLS over it), reading raw bytes or AMQP frames.
class Connection {
 public:
  // TCP to address:port; with `ca_file` non-empty, TLS on top (SNI and name check: `tls_name`).
  // nullptr and `*error` when it cannot connect or the handshake fails.
  static std::unique_ptr<Connection> Open(const std::string& address, uint16_t port,
                                          const std::string& ca_file, const std::string& tls_name,
                                          std::string* error);
  ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // False when the peer is gone (write failed).
  bool Send(std::string_view bytes);
  // Exactly `n` bytes within `limit`.
  ReadStatus ReadBytes(size_t n, std::string* out, std::chrono::milliseconds limit);
  // Bytes up to and including `delimiter` (an HTTP head) within `limit`.
  ReadStatus ReadUntil(std::string_view delimiter, std::string* out,
                       std::chrono::milliseconds limit);
  // The next frame within `limit`.
  ReadStatus ReadFrame(ParsedFrame* out, std::chrono::milliseconds limit);
  // Reads frames until one with performative `code` arrives (the others are kept in seen());
  // nullopt on timeout, close or garbage.
  std::optional<ParsedFrame> ReadUntilFrame(uint64_t code, std::chrono::milliseconds limit);
  // Reads (and keeps in seen()) frames until the peer closes: true, or `limit` passes: false.
  bool WaitClosed(std::chrono::milliseconds limit);
  const std::vector<ParsedFrame>& seen() const { return seen_; }
  bool closed() const { return bytes_->closed(); }

 private:
  explicit Connection(std::unique_ptr<ByteClient> bytes) : bytes_(std::move(bytes)) {}

  std::unique_ptr<ByteClient> bytes_;  // the socket and what arrived on it, not yet parsed
  std::vector<ParsedFrame> seen_;
};

// `bytes` with everything but printable ASCII as \xNN, for failure messages.
std::string Printable(std::string_view bytes);

// WebSockets (RFC 6455), client side: the upgrade request for `path` offering `protocol`, and
// binary messages (masked, as a client must).
std::string WebSocketUpgrade(std::string_view host, std::string_view path,
                             std::string_view protocol);
std::string WebSocketBinary(std::string_view payload);
struct WebSocketFrame {
  uint8_t opcode = 0;
  std::string payload;
};
// The next WebSocket frame the server sent on `connection`, within `limit` per piece.
ReadStatus ReadWebSocketFrame(Connection& connection, WebSocketFrame* out,
                              std::chrono::milliseconds limit);

}  // namespace iothub::testing::amqp_wire
