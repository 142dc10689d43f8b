#include "tests/integration/mqtt_wire.h"

#include <utility>

namespace iothub::testing::mqtt_wire {
namespace {

std::string U16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

std::string Str(std::string_view s) {
  return U16(static_cast<uint16_t>(s.size())) + std::string(s);
}

std::string Packet(uint8_t first, const std::string& body) {
  return std::string(1, static_cast<char>(first)) + EncodeRemainingLength(body.size()) + body;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string EncodeRemainingLength(size_t length) {
  std::string out;
  do {
    uint8_t byte = length % 128;
    length /= 128;
    if (length > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (length > 0);
  return out;
}

std::string ConnectPacket(const ConnectOptions& o) {
  uint8_t flags = 0;
  if (o.clean_session) flags |= 0x02;
  if (o.password) flags |= 0x40;
  if (o.user_name) flags |= 0x80;
  std::string body = Str("MQTT") + static_cast<char>(o.protocol_level) + static_cast<char>(flags) +
                     U16(o.keep_alive) + Str(o.client_id);
  if (o.user_name) body += Str(*o.user_name);
  if (o.password) body += Str(*o.password);
  return Packet(kConnect << 4, body);
}

std::string PublishPacket(std::string_view topic, std::string_view payload, uint8_t qos,
                          uint16_t packet_id, bool dup) {
  uint8_t first = (kPublish << 4) | (qos << 1) | (dup ? 0x08 : 0);
  std::string body = Str(topic);
  if (qos > 0) body += U16(packet_id);
  body += payload;
  return Packet(first, body);
}

std::string SubscribePacket(uint16_t packet_id,
                            const std::vector<std::pair<std::string, uint8_t>>& filters) {
  std::string body = U16(packet_id);
  for (const auto& [filter, qos] : filters) body += Str(filter) + static_cast<char>(qos);
  return Packet((kSubscribe << 4) | 0x02, body);
}

std::string PubackPacket(uint16_t packet_id) { return Packet(kPuback << 4, U16(packet_id)); }
std::string PingreqPacket() { return Packet(kPingreq << 4, ""); }
std::string DisconnectPacket() { return Packet(kDisconnect << 4, ""); }

std::optional<PublishView> ParsePublish(const RawPacket& packet) {
  if (packet.type() != kPublish || packet.body.size() < 2) return std::nullopt;
  PublishView view;
  view.qos = (packet.first >> 1) & 3;
  view.dup = (packet.first & 0x08) != 0;
  view.retain = (packet.first & 0x01) != 0;
  const std::string& b = packet.body;
  size_t topic_length = (static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]);
  size_t at = 2 + topic_length;
  if (at > b.size()) return std::nullopt;
  view.topic = b.substr(2, topic_length);
  if (view.qos > 0) {
    if (at + 2 > b.size()) return std::nullopt;
    view.packet_id = (static_cast<uint8_t>(b[at]) << 8) | static_cast<uint8_t>(b[at + 1]);
    at += 2;
  }
  view.payload = b.substr(at);
  return view;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && Hex(text[i + 1]) >= 0 && Hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(text[i + 1]) * 16 + Hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseBag(std::string_view bag) {
  std::map<std::string, std::string> out;
  while (!bag.empty()) {
    size_t amp = bag.find('&');
    std::string_view pair = bag.substr(0, amp);
    bag = amp == std::string_view::npos ? std::string_view() : bag.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out[PercentDecode(pair)] = "";
    } else {
      out[PercentDecode(pair.substr(0, eq))] = PercentDecode(pair.substr(eq + 1));
    }
  }
  return out;
}

std::unique_ptr<Connection> Connection::Open(const std::string& address, uint16_t port,
                                             const std::string& ca_file,
                                             const std::string& tls_name, std::string* error) {
  std::unique_ptr<ByteClient> bytes = ByteClient::Open(address, port, ca_file, tls_name, error);
  if (bytes == nullptr) return nullptr;
  return std::unique_ptr<Connection>(new Connection(std::move(bytes)));
}

bool Connection::Send(std::string_view bytes) { return bytes_->Send(bytes); }

ReadStatus Connection::Read(RawPacket* out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string& buffer = bytes_->buffer();
  while (true) {
    // A whole packet buffered?
    if (buffer.size() >= 2) {
      size_t length = 0, multiplier = 1, at = 1;
      bool complete = false;
      while (at < buffer.size() && at <= 4) {
        uint8_t byte = static_cast<uint8_t>(buffer[at]);
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        ++at;
        if ((byte & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (complete && buffer.size() >= at + length) {
        out->first = static_cast<uint8_t>(buffer[0]);
        out->body = buffer.substr(at, length);
        buffer.erase(0, at + length);
        return ReadStatus::kPacket;
      }
    }
    if (!bytes_->Fill(deadline)) {
      if (bytes_->closed()) return ReadStatus::kClosed;
      if (std::chrono::steady_clock::now() >= deadline) return ReadStatus::kTimeout;
    }
  }
}

bool Connection::WaitClosed(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  RawPacket packet;
  while (true) {
    switch (Read(&packet, TimeLeft(deadline))) {
      case ReadStatus::kClosed:
        return true;
      case ReadStatus::kTimeout:
        return false;
      case ReadStatus::kPacket:
        skipped_.push_back(packet);
        break;
    }
  }
}

std::optional<RawPacket> Connection::ReadType(uint8_t type, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  RawPacket packet;
  while (true) {
    if (Read(&packet, TimeLeft(deadline)) != ReadStatus::kPacket) {
      return std::nullopt;
    }
    if (packet.type() == type) return packet;
    skipped_.push_back(packet);
  }
}

}  // namespace iothub::testing::mqtt_wire
