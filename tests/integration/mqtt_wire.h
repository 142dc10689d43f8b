#pragma once

// A deliberately small MQTT 3.1.1 client for the integration tests: hand-encoded packets (written
// from the specification, not from src/mqtt, so that the server's codec is checked by an
// independent encoder) over a blocking TCP socket, optionally TLS (OpenSSL, verifying the hub's
// CA and name: byte_client.h). It can send anything — garbage, partial packets, oversized ones —
// which the real clients (mosquitto, paho, the Node SDK) refuse to do. Everything runs on the
// test's thread.

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

namespace iothub::testing::mqtt_wire {

// Packet types (the fixed header's high nibble).
inline constexpr uint8_t kConnect = 1, kConnack = 2, kPublish = 3, kPuback = 4, kSubscribe = 8,
                         kSuback = 9, kPingreq = 12, kPingresp = 13, kDisconnect = 14;

// The variable-length Remaining Length (spec 2.2.3).
std::string EncodeRemainingLength(size_t length);

struct ConnectOptions {
  std::string client_id;
  std::optional<std::string> user_name;
  std::optional<std::string> password;
  bool clean_session = true;
  uint16_t keep_alive = 60;
  uint8_t protocol_level = 4;
};
std::string ConnectPacket(const ConnectOptions& options);
std::string PublishPacket(std::string_view topic, std::string_view payload, uint8_t qos,
                          uint16_t packet_id, bool dup = false);
std::string SubscribePacket(uint16_t packet_id,
                            const std::vector<std::pair<std::string, uint8_t>>& filters);
std::string PubackPacket(uint16_t packet_id);
std::string PingreqPacket();
std::string DisconnectPacket();

// One packet as read: the fixed header's first byte and the body (Remaining Length bytes).
struct RawPacket {
  uint8_t first = 0;
  std::string body;
  uint8_t type() const { return first >> 4; }
};

struct PublishView {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packet_id = 0;
};
// nullopt unless `packet` is a well-formed PUBLISH.
std::optional<PublishView> ParsePublish(const RawPacket& packet);

// The property bag of a topic (`k=v&k2=v2`) percent-decoded, keys included ("%24.mid" -> "$.mid").
// A key without '=' maps to "".
std::map<std::string, std::string> ParseBag(std::string_view bag);
std::string PercentDecode(std::string_view text);

enum class ReadStatus { kPacket, kTimeout, kClosed };

// A connection to the hub.
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
  // The next whole packet within `limit`.
  ReadStatus Read(RawPacket* out, std::chrono::milliseconds limit);
  // Reads (and drops) packets until the peer closes: true, or `limit` passes: false.
  bool WaitClosed(std::chrono::milliseconds limit);
  // Reads until a packet of `type` arrives (others are kept in skipped()); nullopt on
  // timeout/close.
  std::optional<RawPacket> ReadType(uint8_t type, std::chrono::milliseconds limit);
  const std::vector<RawPacket>& skipped() const { return skipped_; }
  bool closed() const { return bytes_->closed(); }

 private:
  explicit Connection(std::unique_ptr<ByteClient> bytes) : bytes_(std::move(bytes)) {}

  std::unique_ptr<ByteClient> bytes_;  // the socket and what arrived on it, not yet parsed
  std::vector<RawPacket> skipped_;
};

}  // namespace iothub::testing::mqtt_wire
