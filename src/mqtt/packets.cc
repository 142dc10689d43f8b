#include "mqtt/packets.h"

#include <type_traits>
#include <utility>

namespace iothub::mqtt {
namespace {

// When the decoder moves its unread bytes to the front of its buffer: only once this many bytes
// were consumed and they are at least half the buffer, so each byte is moved O(1) times overall.
constexpr size_t kCompactThreshold = 4096;

// CONNECT flag bits (spec 3.1.2.3, figure 3.4).
constexpr uint8_t kUserNameFlag = 0x80;
constexpr uint8_t kPasswordFlag = 0x40;
constexpr uint8_t kWillRetainFlag = 0x20;
constexpr uint8_t kWillQosMask = 0x18;
constexpr int kWillQosShift = 3;
constexpr uint8_t kWillFlag = 0x04;
constexpr uint8_t kCleanSessionFlag = 0x02;
constexpr uint8_t kConnectReservedFlag = 0x01;

// The flags every type but PUBLISH carries (spec 2.2.2, table 2.2).
uint8_t FixedFlags(PacketType type) {
  switch (type) {
    case PacketType::kPubrel:
    case PacketType::kSubscribe:
    case PacketType::kUnsubscribe:
      return 0b0010;
    default:
      return 0;
  }
}

// For the reasons given in `*why`.
const char* PacketName(PacketType type) {
  switch (type) {
    case PacketType::kPuback:
      return "PUBACK";
    case PacketType::kPubrec:
      return "PUBREC";
    case PacketType::kPubrel:
      return "PUBREL";
    case PacketType::kPubcomp:
      return "PUBCOMP";
    case PacketType::kUnsuback:
      return "UNSUBACK";
    case PacketType::kPingreq:
      return "PINGREQ";
    case PacketType::kPingresp:
      return "PINGRESP";
    case PacketType::kDisconnect:
      return "DISCONNECT";
    default:
      return "packet";
  }
}

// Reads the variable header and payload of one packet. Every read checks the bounds; the first
// failure records why and makes every later read fail too, so decoders check once at the end of a
// group of reads.
class Reader {
 public:
  Reader(std::string_view body, std::string* why) : body_(body), why_(why) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return body_.size() - pos_; }

  bool Fail(std::string reason) {
    if (ok_) *why_ = std::move(reason);
    ok_ = false;
    return false;
  }

  uint8_t U8(const char* what) {
    if (!ok_) return 0;
    if (remaining() < 1) {
      Fail(std::string("truncated ") + what);
      return 0;
    }
    return static_cast<uint8_t>(body_[pos_++]);
  }

  uint16_t U16(const char* what) {
    if (!ok_) return 0;
    if (remaining() < 2) {
      Fail(std::string("truncated ") + what);
      return 0;
    }
    const auto value = static_cast<uint16_t>((static_cast<uint8_t>(body_[pos_]) << 8) |
                                             static_cast<uint8_t>(body_[pos_ + 1]));
    pos_ += 2;
    return value;
  }

  uint16_t PacketId(const char* packet) {
    const uint16_t id = U16("packet identifier");
    if (ok_ && id == 0) Fail(std::string(packet) + " with packet identifier 0");
    return id;
  }

  // A two-byte length and that many bytes (spec 1.5.2 binary data, the Will Message, Password).
  std::string_view Binary(const char* what) {
    const uint16_t length = U16(what);
    if (!ok_) return {};
    if (remaining() < length) {
      Fail(std::string(what) + " of " + std::to_string(length) + " bytes overruns the packet");
      return {};
    }
    std::string_view value = body_.substr(pos_, length);
    pos_ += length;
    return value;
  }

  // A UTF-8 encoded string (spec 1.5.3).
  std::string_view Utf8(const char* what) {
    std::string_view value = Binary(what);
    if (ok_ && !IsValidMqttUtf8(value)) Fail(std::string(what) + " is not valid MQTT UTF-8");
    return value;
  }

  std::string_view Rest() {
    std::string_view rest = body_.substr(pos_);
    pos_ = body_.size();
    return rest;
  }

  bool ExpectEnd(const char* packet) {
    if (ok_ && remaining() != 0) {
      Fail(std::string(packet) + " with trailing bytes (" + std::to_string(remaining()) + ")");
    }
    return ok_;
  }

 private:
  std::string_view body_;
  std::string* why_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Topic names (spec 4.7.3): at least one character, no wildcard characters.
bool IsValidTopicName(std::string_view name) {
  return !name.empty() && name.find_first_of("+#") == std::string_view::npos;
}

// Topic filters (spec 4.7.1): at least one character; `#` alone in the last level; `+` alone in
// its level.
bool IsValidTopicFilter(std::string_view filter) {
  if (filter.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t end = filter.find('/', start);
    const bool last = end == std::string_view::npos;
    if (last) end = filter.size();
    const std::string_view level = filter.substr(start, end - start);
    if (level.find('#') != std::string_view::npos && (level != "#" || !last)) return false;
    if (level.find('+') != std::string_view::npos && level != "+") return false;
    if (last) return true;
    start = end + 1;
  }
}

std::optional<Packet> DecodeConnect(Reader& r) {
  const std::string_view protocol_name = r.Utf8("protocol name");
  const uint8_t level = r.U8("protocol level");
  const uint8_t flags = r.U8("connect flags");
  const uint16_t keep_alive = r.U16("keep alive");
  if (!r.ok()) return std::nullopt;
  // Another name is not MQTT at all (spec 3.1.2.1): the server may close without a CONNACK. The
  // level is the session's to judge (CONNACK 1 for anything but 4).
  if (protocol_name != "MQTT" && protocol_name != "MQIsdp") {
    r.Fail("unknown protocol name");
    return std::nullopt;
  }
  if ((flags & kConnectReservedFlag) != 0) {
    r.Fail("CONNECT reserved flag set");
    return std::nullopt;
  }
  const uint8_t will_qos = (flags & kWillQosMask) >> kWillQosShift;
  const bool will_flag = (flags & kWillFlag) != 0;
  if (will_qos == 3) {
    r.Fail("CONNECT will QoS 3");
    return std::nullopt;
  }
  if (!will_flag && (will_qos != 0 || (flags & kWillRetainFlag) != 0)) {
    r.Fail("CONNECT will QoS or retain without the will flag");
    return std::nullopt;
  }
  if ((flags & kPasswordFlag) != 0 && (flags & kUserNameFlag) == 0) {
    r.Fail("CONNECT password without user name");
    return std::nullopt;
  }
  Connect connect;
  connect.protocol_name = protocol_name;
  connect.protocol_level = level;
  connect.clean_session = (flags & kCleanSessionFlag) != 0;
  connect.keep_alive = keep_alive;
  connect.client_id = r.Utf8("client identifier");
  if (will_flag) {
    const std::string_view topic = r.Utf8("will topic");
    const std::string_view message = r.Binary("will message");
    if (r.ok() && !IsValidTopicName(topic)) {
      r.Fail("CONNECT will topic empty or with wildcards");
    }
    connect.will = Will{.topic = std::string(topic),
                        .message = std::string(message),
                        .qos = will_qos,
                        .retain = (flags & kWillRetainFlag) != 0};
  }
  if ((flags & kUserNameFlag) != 0) connect.user_name = r.Utf8("user name");
  if ((flags & kPasswordFlag) != 0) connect.password = r.Binary("password");
  if (!r.ExpectEnd("CONNECT")) return std::nullopt;
  return connect;
}

std::optional<Packet> DecodeConnack(Reader& r) {
  const uint8_t flags = r.U8("connack flags");
  const uint8_t code = r.U8("connect return code");
  if (!r.ExpectEnd("CONNACK")) return std::nullopt;
  if ((flags & 0xfe) != 0) {
    r.Fail("CONNACK reserved flags set");
    return std::nullopt;
  }
  if (code > static_cast<uint8_t>(ConnectReturnCode::kNotAuthorized)) {
    r.Fail("CONNACK reserved return code " + std::to_string(code));
    return std::nullopt;
  }
  return Connack{.session_present = (flags & 1) != 0,
                 .return_code = static_cast<ConnectReturnCode>(code)};
}

std::optional<Packet> DecodePublish(const FixedHeader& header, Reader& r) {
  Publish publish;
  publish.dup = (header.flags & 0b1000) != 0;
  publish.qos = (header.flags >> 1) & 0b11;
  publish.retain = (header.flags & 1) != 0;
  const std::string_view topic = r.Utf8("topic name");
  if (r.ok() && !IsValidTopicName(topic)) r.Fail("PUBLISH topic empty or with wildcards");
  if (publish.qos > 0) publish.packet_id = r.PacketId("PUBLISH");
  if (!r.ok()) return std::nullopt;
  publish.topic = topic;
  publish.payload = r.Rest();
  return publish;
}

std::optional<Packet> DecodeSubscribe(Reader& r) {
  Subscribe subscribe;
  subscribe.packet_id = r.PacketId("SUBSCRIBE");
  while (r.ok() && r.remaining() > 0) {
    const std::string_view filter = r.Utf8("topic filter");
    const uint8_t qos = r.U8("requested QoS");
    if (!r.ok()) return std::nullopt;
    if (!IsValidTopicFilter(filter)) {
      r.Fail("SUBSCRIBE with a malformed topic filter");
      return std::nullopt;
    }
    if (qos > 2) {  // QoS 3 or reserved bits 7-2 set (spec 3.8.3.1)
      r.Fail("SUBSCRIBE requested QoS byte " + std::to_string(qos));
      return std::nullopt;
    }
    subscribe.subscriptions.push_back({.filter = std::string(filter), .qos = qos});
  }
  if (!r.ok()) return std::nullopt;
  if (subscribe.subscriptions.empty()) {
    r.Fail("SUBSCRIBE without topic filters");
    return std::nullopt;
  }
  return subscribe;
}

std::optional<Packet> DecodeSuback(Reader& r) {
  Suback suback;
  suback.packet_id = r.PacketId("SUBACK");
  if (!r.ok()) return std::nullopt;
  const std::string_view codes = r.Rest();
  if (codes.empty()) {
    r.Fail("SUBACK without return codes");
    return std::nullopt;
  }
  suback.return_codes.reserve(codes.size());
  for (const char c : codes) {
    const auto code = static_cast<uint8_t>(c);
    if (code > 2 && code != kSubscribeFailure) {
      r.Fail("SUBACK reserved return code " + std::to_string(code));
      return std::nullopt;
    }
    suback.return_codes.push_back(code);
  }
  return suback;
}

std::optional<Packet> DecodeUnsubscribe(Reader& r) {
  Unsubscribe unsubscribe;
  unsubscribe.packet_id = r.PacketId("UNSUBSCRIBE");
  while (r.ok() && r.remaining() > 0) {
    const std::string_view filter = r.Utf8("topic filter");
    if (!r.ok()) return std::nullopt;
    if (!IsValidTopicFilter(filter)) {
      r.Fail("UNSUBSCRIBE with a malformed topic filter");
      return std::nullopt;
    }
    unsubscribe.filters.emplace_back(filter);
  }
  if (!r.ok()) return std::nullopt;
  if (unsubscribe.filters.empty()) {
    r.Fail("UNSUBSCRIBE without topic filters");
    return std::nullopt;
  }
  return unsubscribe;
}

// The header flags, checked again: DecodeFixedHeader did, but a caller may build the header.
bool ValidFlags(const FixedHeader& header) {
  if (header.type != PacketType::kPublish) return header.flags == FixedFlags(header.type);
  const uint8_t qos = (header.flags >> 1) & 0b11;
  return header.flags <= 0x0f && qos != 3 && (qos != 0 || (header.flags & 0b1000) == 0);
}

void PutU16(uint16_t value, std::string* out) {
  out->push_back(static_cast<char>(value >> 8));
  out->push_back(static_cast<char>(value & 0xff));
}

void PutString(std::string_view value, std::string* out) {
  PutU16(static_cast<uint16_t>(value.size()), out);
  out->append(value);
}

void EncodeConnect(const Connect& c, std::string* out) {
  uint8_t flags = c.clean_session ? kCleanSessionFlag : 0;
  size_t length = 2 + c.protocol_name.size() + 1 + 1 + 2 + 2 + c.client_id.size();
  if (c.will) {
    flags |= kWillFlag | static_cast<uint8_t>((c.will->qos & 3) << kWillQosShift);
    if (c.will->retain) flags |= kWillRetainFlag;
    length += 2 + c.will->topic.size() + 2 + c.will->message.size();
  }
  if (c.user_name) {
    flags |= kUserNameFlag;
    length += 2 + c.user_name->size();
  }
  if (c.password) {
    flags |= kPasswordFlag;
    length += 2 + c.password->size();
  }
  EncodeFixedHeader(PacketType::kConnect, 0, static_cast<uint32_t>(length), out);
  out->reserve(out->size() + length);
  PutString(c.protocol_name, out);
  out->push_back(static_cast<char>(c.protocol_level));
  out->push_back(static_cast<char>(flags));
  PutU16(c.keep_alive, out);
  PutString(c.client_id, out);
  if (c.will) {
    PutString(c.will->topic, out);
    PutString(c.will->message, out);
  }
  if (c.user_name) PutString(*c.user_name, out);
  if (c.password) PutString(*c.password, out);
}

void EncodeSubscribe(const Subscribe& s, std::string* out) {
  size_t length = 2;
  for (const Subscription& sub : s.subscriptions) length += 2 + sub.filter.size() + 1;
  EncodeFixedHeader(PacketType::kSubscribe, FixedFlags(PacketType::kSubscribe),
                    static_cast<uint32_t>(length), out);
  out->reserve(out->size() + length);
  PutU16(s.packet_id, out);
  for (const Subscription& sub : s.subscriptions) {
    PutString(sub.filter, out);
    out->push_back(static_cast<char>(sub.qos));
  }
}

void EncodeUnsubscribe(const Unsubscribe& u, std::string* out) {
  size_t length = 2;
  for (const std::string& filter : u.filters) length += 2 + filter.size();
  EncodeFixedHeader(PacketType::kUnsubscribe, FixedFlags(PacketType::kUnsubscribe),
                    static_cast<uint32_t>(length), out);
  out->reserve(out->size() + length);
  PutU16(u.packet_id, out);
  for (const std::string& filter : u.filters) PutString(filter, out);
}

}  // namespace

PacketType TypeOf(const Packet& packet) {
  return std::visit(
      [](const auto& p) -> PacketType {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) return PacketType::kConnect;
        if constexpr (std::is_same_v<T, Connack>) return PacketType::kConnack;
        if constexpr (std::is_same_v<T, Publish>) return PacketType::kPublish;
        if constexpr (std::is_same_v<T, Subscribe>) return PacketType::kSubscribe;
        if constexpr (std::is_same_v<T, Suback>) return PacketType::kSuback;
        if constexpr (std::is_same_v<T, Unsubscribe>) return PacketType::kUnsubscribe;
        if constexpr (std::is_same_v<T, PacketIdOnly> || std::is_same_v<T, Empty>) return p.type;
      },
      packet);
}

std::optional<Packet> DecodePacket(const FixedHeader& header, std::string_view body,
                                   std::string* why) {
  if (body.size() != header.remaining_length) {
    *why = "body of " + std::to_string(body.size()) + " bytes for a Remaining Length of " +
           std::to_string(header.remaining_length);
    return std::nullopt;
  }
  if (!ValidFlags(header)) {
    *why = "reserved flags " + std::to_string(header.flags) + " on packet type " +
           std::to_string(static_cast<int>(header.type));
    return std::nullopt;
  }
  Reader r(body, why);
  switch (header.type) {
    case PacketType::kConnect:
      return DecodeConnect(r);
    case PacketType::kConnack:
      return DecodeConnack(r);
    case PacketType::kPublish:
      return DecodePublish(header, r);
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp:
    case PacketType::kUnsuback: {
      const uint16_t id = r.PacketId(PacketName(header.type));
      if (!r.ExpectEnd(PacketName(header.type))) return std::nullopt;
      return PacketIdOnly{.type = header.type, .packet_id = id};
    }
    case PacketType::kSubscribe:
      return DecodeSubscribe(r);
    case PacketType::kSuback:
      return DecodeSuback(r);
    case PacketType::kUnsubscribe:
      return DecodeUnsubscribe(r);
    case PacketType::kPingreq:
    case PacketType::kPingresp:
    case PacketType::kDisconnect:
      if (!r.ExpectEnd(PacketName(header.type))) return std::nullopt;
      return Empty{.type = header.type};
  }
  *why = "reserved packet type " + std::to_string(static_cast<int>(header.type));
  return std::nullopt;
}

void Decoder::Feed(std::string_view bytes) {
  if (malformed_ || bytes.empty()) return;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ >= kCompactThreshold && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

DecodeStatus Decoder::Next(Packet* out, std::string* why) {
  if (malformed_) {
    *why = "the stream was malformed earlier";
    return DecodeStatus::kMalformed;
  }
  const std::string_view input = std::string_view(buffer_).substr(consumed_);
  FixedHeader header;
  const DecodeStatus status = DecodeFixedHeader(input, kMaxRemainingLength, &header, why);
  if (status == DecodeStatus::kIncomplete) return status;
  if (status == DecodeStatus::kOk &&
      uint64_t{header.size} + header.remaining_length > max_packet_size_) {
    *why = "packet of " + std::to_string(header.size + header.remaining_length) +
           " bytes exceeds the limit of " + std::to_string(max_packet_size_);
    malformed_ = true;
    return DecodeStatus::kMalformed;
  }
  if (status == DecodeStatus::kMalformed) {
    malformed_ = true;
    return status;
  }
  const size_t total = header.size + header.remaining_length;
  if (input.size() < total) return DecodeStatus::kIncomplete;
  std::optional<Packet> packet =
      DecodePacket(header, input.substr(header.size, header.remaining_length), why);
  if (!packet) {
    malformed_ = true;
    return DecodeStatus::kMalformed;
  }
  *out = std::move(*packet);
  consumed_ += total;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return DecodeStatus::kOk;
}

void Decoder::ShrinkIfIdle() {
  if (buffered() != 0) return;
  std::string().swap(buffer_);
  consumed_ = 0;
}

void EncodePacket(const Packet& packet, std::string* out) {
  std::visit(
      [out](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Connect>) {
          EncodeConnect(p, out);
        } else if constexpr (std::is_same_v<T, Connack>) {
          EncodeFixedHeader(PacketType::kConnack, 0, 2, out);
          out->push_back(static_cast<char>(p.session_present ? 1 : 0));
          out->push_back(static_cast<char>(p.return_code));
        } else if constexpr (std::is_same_v<T, Publish>) {
          EncodePublish(p.dup, p.qos, p.retain, p.topic, p.packet_id, p.payload, out);
        } else if constexpr (std::is_same_v<T, PacketIdOnly>) {
          EncodeFixedHeader(p.type, FixedFlags(p.type), 2, out);
          PutU16(p.packet_id, out);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          EncodeSubscribe(p, out);
        } else if constexpr (std::is_same_v<T, Suback>) {
          EncodeFixedHeader(PacketType::kSuback, 0,
                            static_cast<uint32_t>(2 + p.return_codes.size()), out);
          PutU16(p.packet_id, out);
          out->append(p.return_codes.begin(), p.return_codes.end());
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          EncodeUnsubscribe(p, out);
        } else {
          static_assert(std::is_same_v<T, Empty>);
          EncodeFixedHeader(p.type, 0, 0, out);
        }
      },
      packet);
}

std::string EncodePacket(const Packet& packet) {
  std::string out;
  EncodePacket(packet, &out);
  return out;
}

void EncodePublish(bool dup, uint8_t qos, bool retain, std::string_view topic, uint16_t packet_id,
                   std::string_view payload, std::string* out) {
  const uint8_t flags =
      static_cast<uint8_t>((dup ? 0b1000 : 0) | ((qos & 3) << 1) | (retain ? 1 : 0));
  const size_t length = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  out->reserve(out->size() + 5 + length);
  EncodeFixedHeader(PacketType::kPublish, flags, static_cast<uint32_t>(length), out);
  PutString(topic, out);
  if (qos > 0) PutU16(packet_id, out);
  out->append(payload);
}

}  // namespace iothub::mqtt
