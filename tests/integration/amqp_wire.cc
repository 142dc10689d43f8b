#include "tests/integration/amqp_wire.h"

#include <utility>

namespace iothub::testing::amqp_wire {
namespace {

std::string BigEndian(uint64_t v, int bytes) {
  std::string out(bytes, '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

uint64_t ReadBigEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

// Takes `n` bytes from the front of `*in` into `*out`; false when there are fewer.
bool Take(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// Fixed-width bytes of each format code that is not variable or compound (spec 1.6).
int FixedWidth(uint8_t code) {
  switch (code) {
    case 0x40:
    case 0x41:
    case 0x42:
    case 0x43:
    case 0x44:
    case 0x45:
      return 0;
    case 0x50:
    case 0x51:
    case 0x52:
    case 0x53:
    case 0x54:
    case 0x55:
    case 0x56:
      return 1;
    case 0x60:
    case 0x61:
      return 2;
    case 0x70:
    case 0x71:
    case 0x72:
    case 0x73:
    case 0x74:
      return 4;
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
    case 0x84:
      return 8;
    case 0x94:
    case 0x98:
      return 16;
    default:
      return -1;
  }
}

std::optional<Value> DecodeAs(uint8_t code, std::string_view* in);

// The items of a list, map or array: `count` values, each with its own constructor except in an
// array, where `element` (0: none) is the constructor they share.
bool DecodeItems(std::string_view body, size_t count, uint8_t element, Value* out) {
  for (size_t i = 0; i < count; ++i) {
    std::optional<Value> v = element != 0 ? DecodeAs(element, &body) : Decode(&body);
    if (!v) return false;
    out->items.push_back(std::move(*v));
  }
  return true;
}

std::optional<Value> DecodeAs(uint8_t code, std::string_view* in) {
  Value v;
  v.code = code;
  std::string_view bytes;
  int width = FixedWidth(code);
  if (width >= 0) {
    if (!Take(in, static_cast<size_t>(width), &bytes)) return std::nullopt;
    switch (code) {
      case 0x40:
        v.kind = Value::kNull;
        return v;
      case 0x41:
      case 0x42:
      case 0x56:
        v.kind = Value::kBool;
        v.number = code == 0x41 || (code == 0x56 && bytes[0] != 0);
        return v;
      case 0x45:
        v.kind = Value::kList;
        return v;
      case 0x94:
      case 0x98:
        v.kind = Value::kText;  // uuid, decimal128: kept as their bytes
        v.text = std::string(bytes);
        return v;
      default:
        v.kind = Value::kNumber;
        v.number = ReadBigEndian(bytes);
        return v;
    }
  }
  const bool wide = (code & 0xf0) == 0xb0 || (code & 0xf0) == 0xd0 || (code & 0xf0) == 0xf0;
  std::string_view size_bytes;
  if (!Take(in, wide ? 4 : 1, &size_bytes)) return std::nullopt;
  size_t size = ReadBigEndian(size_bytes);
  std::string_view body;
  if (!Take(in, size, &body)) return std::nullopt;
  switch (code) {
    case 0xa0:
    case 0xb0:
    case 0xa1:
    case 0xb1:
    case 0xa3:
    case 0xb3:
      v.kind = Value::kText;
      v.text = std::string(body);
      return v;
    case 0xc0:
    case 0xd0:
    case 0xc1:
    case 0xd1:
    case 0xe0:
    case 0xf0: {
      std::string_view count_bytes;
      if (!Take(&body, wide ? 4 : 1, &count_bytes)) return std::nullopt;
      size_t count = ReadBigEndian(count_bytes);
      uint8_t element = 0;
      if (code == 0xe0 || code == 0xf0) {
        v.kind = Value::kArray;
        if (count > 0) {
          if (body.empty() || body[0] == 0) return std::nullopt;  // described arrays: unused
          element = static_cast<uint8_t>(body[0]);
          body.remove_prefix(1);
        }
      } else {
        v.kind = (code & 0x0f) == 1 ? Value::kMap : Value::kList;
      }
      if (!DecodeItems(body, count, element, &v)) return std::nullopt;
      return v;
    }
    default:
      return std::nullopt;
  }
}

std::string Str(uint8_t short_code, uint8_t long_code, std::string_view value) {
  if (value.size() < 256) {
    return std::string(1, static_cast<char>(short_code)) + BigEndian(value.size(), 1) +
           std::string(value);
  }
  return std::string(1, static_cast<char>(long_code)) + BigEndian(value.size(), 4) +
         std::string(value);
}

std::string Performative(uint64_t code, const std::vector<std::string>& fields) {
  return enc::Described(code, enc::List(fields));
}

}  // namespace

std::string AmqpHeader() { return std::string("AMQP\x00\x01\x00\x00", 8); }
std::string SaslHeader() { return std::string("AMQP\x03\x01\x00\x00", 8); }

namespace enc {
std::string Null() { return "\x40"; }
std::string Bool(bool value) { return value ? "\x41" : "\x42"; }
std::string Uint(uint32_t value) { return "\x70" + BigEndian(value, 4); }
std::string Ulong(uint64_t value) { return "\x80" + BigEndian(value, 8); }
std::string String(std::string_view value) { return Str(0xa1, 0xb1, value); }
std::string Symbol(std::string_view value) { return Str(0xa3, 0xb3, value); }
std::string Binary(std::string_view value) { return Str(0xa0, 0xb0, value); }
std::string List(const std::vector<std::string>& items) {
  std::string content;
  for (const std::string& item : items) content += item;
  return "\xd0" + BigEndian(content.size() + 4, 4) + BigEndian(items.size(), 4) + content;
}
std::string Described(uint64_t descriptor, const std::string& value) {
  return std::string(1, '\0') + Ulong(descriptor) + value;
}
}  // namespace enc

std::string Frame(uint16_t channel, std::string_view body, uint8_t type) {
  return BigEndian(body.size() + 8, 4) + "\x02" + std::string(1, static_cast<char>(type)) +
         BigEndian(channel, 2) + std::string(body);
}

std::string OpenFrame(std::string_view container_id, std::string_view hostname) {
  return Frame(0, Performative(kOpen, {enc::String(container_id), enc::String(hostname)}));
}

std::string BeginFrame(uint16_t channel) {
  return Frame(channel,
               Performative(kBegin, {enc::Null(), enc::Uint(0), enc::Uint(2048), enc::Uint(2048)}));
}

std::string AttachFrame(uint16_t channel, std::string_view name, uint32_t handle, bool receiver,
                        std::string_view address) {
  std::string with_address = enc::List({enc::String(address)});
  std::string empty = enc::List({});
  std::string source = enc::Described(0x28, receiver ? with_address : empty);
  std::string target = enc::Described(0x29, receiver ? empty : with_address);
  std::vector<std::string> fields{enc::String(name),
                                  enc::Uint(handle),
                                  enc::Bool(receiver),
                                  enc::Null(),
                                  enc::Null(),
                                  source,
                                  target};
  if (!receiver) {
    // unsettled, incomplete-unsettled, initial-delivery-count (a sender must set it)
    fields.insert(fields.end(), {enc::Null(), enc::Null(), enc::Uint(0)});
  }
  return Frame(channel, Performative(kAttach, fields));
}

std::string TransferFrame(uint16_t channel, uint32_t handle, uint32_t delivery_id,
                          std::string_view tag, std::string_view payload) {
  return Frame(channel, Performative(kTransfer, {enc::Uint(handle), enc::Uint(delivery_id),
                                                 enc::Binary(tag), enc::Uint(0)}) +
                            std::string(payload));
}

std::string CloseFrame() { return Frame(0, Performative(kClose, {})); }

const Value* Value::Field(size_t i) const {
  const Value* list = this;
  if (kind == kDescribed && !items.empty()) list = &items[0];
  if (list->kind != kList || i >= list->items.size()) return nullptr;
  const Value* f = &list->items[i];
  return f->kind == kNull ? nullptr : f;
}

std::optional<Value> Decode(std::string_view* in) {
  if (in->empty()) return std::nullopt;
  uint8_t code = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  if (code != 0) return DecodeAs(code, in);
  std::optional<Value> descriptor = Decode(in);
  if (!descriptor) return std::nullopt;
  std::optional<Value> value = Decode(in);
  if (!value) return std::nullopt;
  Value v;
  v.kind = Value::kDescribed;
  if (descriptor->kind == Value::kNumber) v.descriptor = descriptor->number;
  v.text = descriptor->text;  // a symbolic descriptor
  v.items.push_back(std::move(*value));
  return v;
}

std::string ParsedFrame::ErrorCondition(size_t field) const {
  const Value* error = Field(field);
  const Value* condition = error != nullptr ? error->Field(0) : nullptr;
  return condition != nullptr ? condition->text : "";
}

std::string ParsedFrame::ErrorDescription(size_t field) const {
  const Value* error = Field(field);
  const Value* description = error != nullptr ? error->Field(1) : nullptr;
  return description != nullptr ? description->text : "";
}

std::unique_ptr<Connection> Connection::Open(const std::string& address, uint16_t port,
                                             const std::string& ca_file,
                                             const std::string& tls_name, std::string* error) {
  std::unique_ptr<ByteClient> bytes = ByteClient::Open(address, port, ca_file, tls_name, error);
  if (bytes == nullptr) return nullptr;
  return std::unique_ptr<Connection>(new Connection(std::move(bytes)));
}

bool Connection::Send(std::string_view bytes) { return bytes_->Send(bytes); }

ReadStatus Connection::ReadBytes(size_t n, std::string* out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string& buffer = bytes_->buffer();
  while (buffer.size() < n) {
    if (!bytes_->Fill(deadline)) {
      if (bytes_->closed()) return ReadStatus::kClosed;
      if (std::chrono::steady_clock::now() >= deadline) return ReadStatus::kTimeout;
    }
  }
  *out = buffer.substr(0, n);
  buffer.erase(0, n);
  return ReadStatus::kOk;
}

ReadStatus Connection::ReadUntil(std::string_view delimiter, std::string* out,
                                 std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string& buffer = bytes_->buffer();
  size_t at;
  while ((at = buffer.find(delimiter)) == std::string::npos) {
    if (!bytes_->Fill(deadline)) {
      if (bytes_->closed()) return ReadStatus::kClosed;
      if (std::chrono::steady_clock::now() >= deadline) return ReadStatus::kTimeout;
    }
  }
  *out = buffer.substr(0, at + delimiter.size());
  buffer.erase(0, at + delimiter.size());
  return ReadStatus::kOk;
}

ReadStatus Connection::ReadFrame(ParsedFrame* out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string head;
  ReadStatus s = ReadBytes(8, &head, TimeLeft(deadline));
  if (s != ReadStatus::kOk) return s;
  size_t size = ReadBigEndian(std::string_view(head).substr(0, 4));
  size_t doff = static_cast<uint8_t>(head[4]) * 4u;
  if (size < 8 || doff < 8 || doff > size) return ReadStatus::kMalformed;
  std::string rest;
  s = ReadBytes(size - 8, &rest, TimeLeft(deadline));
  if (s != ReadStatus::kOk) return s;
  *out = ParsedFrame();
  out->type = static_cast<uint8_t>(head[5]);
  out->channel = static_cast<uint16_t>(ReadBigEndian(std::string_view(head).substr(6, 2)));
  std::string_view body = std::string_view(rest).substr(doff - 8);
  if (!body.empty()) {
    out->performative = Decode(&body);
    if (!out->performative) return ReadStatus::kMalformed;
    out->payload = std::string(body);
  }
  return ReadStatus::kOk;
}

std::optional<ParsedFrame> Connection::ReadUntilFrame(uint64_t code,
                                                      std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  ParsedFrame frame;
  while (true) {
    if (ReadFrame(&frame, TimeLeft(deadline)) != ReadStatus::kOk) {
      return std::nullopt;
    }
    if (frame.code() == code) return frame;
    seen_.push_back(frame);
  }
}

bool Connection::WaitClosed(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  ParsedFrame frame;
  while (true) {
    switch (ReadFrame(&frame, TimeLeft(deadline))) {
      case ReadStatus::kClosed:
        return true;
      case ReadStatus::kTimeout:
        return false;
      case ReadStatus::kMalformed:
        break;  // not a frame: keep reading until the end
      case ReadStatus::kOk:
        seen_.push_back(frame);
        break;
    }
  }
}

std::string Printable(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<uint8_t>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    }
  }
  return out;
}

std::string WebSocketUpgrade(std::string_view host, std::string_view path,
                             std::string_view protocol) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: " +
         std::string(protocol) + "\r\n\r\n";
}

std::string WebSocketBinary(std::string_view payload) {
  std::string out = "\x82";  // FIN, binary
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    out += static_cast<char>(0x80 | 126);
    out += BigEndian(payload.size(), 2);
  } else {
    out += static_cast<char>(0x80 | 127);
    out += BigEndian(payload.size(), 8);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  out.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

ReadStatus ReadWebSocketFrame(Connection& connection, WebSocketFrame* out,
                              std::chrono::milliseconds limit) {
  std::string head;
  ReadStatus s = connection.ReadBytes(2, &head, limit);
  if (s != ReadStatus::kOk) return s;
  uint64_t length = static_cast<uint8_t>(head[1]) & 0x7f;
  if (length == 126 || length == 127) {
    std::string extended;
    s = connection.ReadBytes(length == 126 ? 2 : 8, &extended, limit);
    if (s != ReadStatus::kOk) return s;
    length = ReadBigEndian(extended);
  }
  std::string mask;
  if ((static_cast<uint8_t>(head[1]) & 0x80) != 0) {  // a server must not mask; undo it anyway
    s = connection.ReadBytes(4, &mask, limit);
    if (s != ReadStatus::kOk) return s;
  }
  out->opcode = static_cast<uint8_t>(head[0] & 0x0f);
  s = connection.ReadBytes(length, &out->payload, limit);
  if (s != ReadStatus::kOk) return s;
  for (size_t i = 0; !mask.empty() && i < out->payload.size(); ++i) out->payload[i] ^= mask[i % 4];
  return ReadStatus::kOk;
}

}  // namespace iothub::testing::amqp_wire
