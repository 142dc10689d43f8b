#include "amqp/message_codec.h"

#include <proton/codec.h>

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "amqp/value_scanner.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/strings.h"

// Why not pn_message_decode: in Proton 0.37 it returns 0 for garbage and for truncated bytes, and
// keeps only the last of several Data sections. So the sections are split here and each one is
// decoded with pn_data_decode, which does report malformed input.
// ScanAmqpValue (value_scanner.h) first finds each section's end and bounds its nesting.

namespace iothub::amqp {
namespace {

// Section descriptors (AMQP 1.0 messaging, 3.2).
constexpr uint64_t kHeader = 0x70;
constexpr uint64_t kDeliveryAnnotations = 0x71;
constexpr uint64_t kMessageAnnotations = 0x72;
constexpr uint64_t kProperties = 0x73;
constexpr uint64_t kApplicationProperties = 0x74;
constexpr uint64_t kData = 0x75;
constexpr uint64_t kAmqpSequence = 0x76;
constexpr uint64_t kAmqpValue = 0x77;
constexpr uint64_t kFooter = 0x78;

struct DataDeleter {
  void operator()(pn_data_t* data) const { pn_data_free(data); }
};
using Data = std::unique_ptr<pn_data_t, DataDeleter>;

Status Malformed(std::string_view what) {
  return InvalidArgument("malformed AMQP message: " + std::string(what));
}

std::string_view View(pn_bytes_t bytes) { return {bytes.start, bytes.size}; }

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

// Whether `bytes` is well-formed UTF-8 without control characters (C0, DEL, C1).
bool IsPrintableUtf8(std::string_view bytes) {
  if (!IsValidUtf8(bytes)) return false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x20 || c == 0x7f) return false;
    // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xc2 && i + 1 < bytes.size() && static_cast<unsigned char>(bytes[i + 1]) < 0xa0) {
      return false;
    }
  }
  return true;
}

std::string BinaryToString(std::string_view bytes) {
  return IsPrintableUtf8(bytes) ? std::string(bytes) : Hex(bytes);
}

std::string UuidToString(const pn_uuid_t& uuid) {
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    auto c = static_cast<unsigned char>(uuid.bytes[i]);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

template <typename T>
std::string Decimal(T value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  HUB_CHECK(ec == std::errc());
  return std::string(buf, end);
}

std::string Utf8(uint32_t code) {
  std::string out;
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
    return out;
  }
  int continuation = code < 0x800 ? 1 : code < 0x10000 ? 2 : 3;
  static constexpr uint8_t kLead[] = {0, 0xc0, 0xe0, 0xf0};
  out.push_back(static_cast<char>(kLead[continuation] | (code >> (6 * continuation))));
  for (int i = continuation - 1; i >= 0; --i) {
    out.push_back(static_cast<char>(0x80 | ((code >> (6 * i)) & 0x3f)));
  }
  return out;
}

// The text of the value types ids and application properties share: null "", strings and
// symbols as is, uuids canonical, binary as its bytes or hex, integers in decimal. nullopt for
// other types.
std::optional<std::string> CommonText(const pn_atom_t& atom) {
  switch (atom.type) {
    case PN_NULL:
      return std::string();
    case PN_STRING:
    case PN_SYMBOL:
      return std::string(View(atom.u.as_bytes));
    case PN_BINARY:
      return BinaryToString(View(atom.u.as_bytes));
    case PN_UUID:
      return UuidToString(atom.u.as_uuid);
    case PN_UBYTE:
      return Decimal(atom.u.as_ubyte);
    case PN_BYTE:
      return Decimal(atom.u.as_byte);
    case PN_USHORT:
      return Decimal(atom.u.as_ushort);
    case PN_SHORT:
      return Decimal(atom.u.as_short);
    case PN_UINT:
      return Decimal(atom.u.as_uint);
    case PN_INT:
      return Decimal(atom.u.as_int);
    case PN_ULONG:
      return Decimal(atom.u.as_ulong);
    case PN_LONG:
      return Decimal(atom.u.as_long);
    default:
      return std::nullopt;
  }
}

// message-id / correlation-id: string, uuid, ulong or binary (leniently also symbols and other
// integers). Null is unset.
Result<std::string> IdText(pn_data_t* data, std::string_view field) {
  if (auto text = CommonText(pn_data_get_atom(data))) return *std::move(text);
  return InvalidArgument("unsupported AMQP " + std::string(field) + " type");
}

// A field that must be text (to, content-type, ...): string or symbol; null is unset.
Result<std::string> TextField(pn_data_t* data, std::string_view field) {
  pn_atom_t atom = pn_data_get_atom(data);
  if (atom.type == PN_NULL) return std::string();
  if (atom.type == PN_STRING || atom.type == PN_SYMBOL) return std::string(View(atom.u.as_bytes));
  return InvalidArgument("AMQP " + std::string(field) + " is not a string");
}

// An application property value as text (message_codec.h lists the mapping).
Result<std::string> PropertyValueText(pn_data_t* data) {
  pn_atom_t atom = pn_data_get_atom(data);
  if (auto text = CommonText(atom)) return *std::move(text);
  switch (atom.type) {
    case PN_BOOL:
      return std::string(atom.u.as_bool ? "true" : "false");
    case PN_FLOAT:
      return Decimal(atom.u.as_float);
    case PN_DOUBLE:
      return Decimal(atom.u.as_double);
    case PN_TIMESTAMP:
      return FormatIso8601(FromUnixMillis(atom.u.as_timestamp));
    case PN_CHAR:
      if (atom.u.as_char > 0x10ffff || (atom.u.as_char >= 0xd800 && atom.u.as_char <= 0xdfff)) {
        return InvalidArgument("AMQP application property holds an invalid char");
      }
      return Utf8(atom.u.as_char);
    default:
      return InvalidArgument(std::string("unsupported AMQP application property type ") +
                             pn_type_name(atom.type));
  }
}

// Fills `message` from the sections of one message, one section at a time.
class SectionReader {
 public:
  explicit SectionReader(core::Message* message) : message_(*message) {}

  // `data` holds one decoded value (rewound).
  Status Read(pn_data_t* data) {
    if (!pn_data_next(data) || pn_data_type(data) != PN_DESCRIBED) {
      return Malformed("a section is not a described value");
    }
    pn_data_enter(data);
    if (!pn_data_next(data)) return Malformed("a section has no descriptor");
    std::optional<uint64_t> code = SectionCode(data);
    if (!code) return Malformed("unknown section");
    if (!pn_data_next(data)) return Malformed("a section has no value");
    switch (*code) {
      case kProperties:
        if (seen_properties_) return Malformed("two properties sections");
        seen_properties_ = true;
        return ReadProperties(data);
      case kApplicationProperties:
        if (seen_application_properties_) return Malformed("two application-properties sections");
        seen_application_properties_ = true;
        return ReadApplicationProperties(data);
      case kData:
        if (pn_data_type(data) != PN_BINARY) return Malformed("a data section is not binary");
        if (body_ != Body::kNone && body_ != Body::kData) return Malformed("mixed body sections");
        body_ = Body::kData;
        message_.body.append(View(pn_data_get_binary(data)));
        return Status::Ok();
      case kAmqpSequence:
        return InvalidArgument("unsupported body: amqp-sequence");
      case kAmqpValue:
        if (body_ != Body::kNone) return Malformed("more than one body");
        body_ = Body::kValue;
        return ReadValueBody(data);
      default:
        return Status::Ok();  // header, annotations, footer: ignored
    }
  }

 private:
  enum class Body { kNone, kData, kValue };

  static std::optional<uint64_t> SectionCode(pn_data_t* data) {
    uint64_t code = 0;
    if (pn_data_type(data) == PN_ULONG) {
      code = pn_data_get_ulong(data);
    } else if (pn_data_type(data) == PN_SYMBOL) {
      static constexpr std::pair<std::string_view, uint64_t> kNames[] = {
          {"amqp:header:list", kHeader},
          {"amqp:delivery-annotations:map", kDeliveryAnnotations},
          {"amqp:message-annotations:map", kMessageAnnotations},
          {"amqp:properties:list", kProperties},
          {"amqp:application-properties:map", kApplicationProperties},
          {"amqp:data:binary", kData},
          {"amqp:amqp-sequence:list", kAmqpSequence},
          {"amqp:amqp-value:*", kAmqpValue},
          {"amqp:footer:map", kFooter},
      };
      std::string_view name = View(pn_data_get_symbol(data));
      for (const auto& [known, known_code] : kNames) {
        if (name == known) code = known_code;
      }
    }
    if (code < kHeader || code > kFooter) return std::nullopt;
    return code;
  }

  Status ReadProperties(pn_data_t* data) {
    if (pn_data_type(data) == PN_NULL) return Status::Ok();
    if (pn_data_type(data) != PN_LIST) return Malformed("properties is not a list");
    pn_data_enter(data);
    for (int field = 0; pn_data_next(data); ++field) {
      switch (field) {
        case 0: {
          HUB_ASSIGN_OR_RETURN(message_.message_id, IdText(data, "message-id"));
          break;
        }
        case 1:
          if (pn_data_type(data) == PN_BINARY) {
            message_.user_id = View(pn_data_get_binary(data));
          } else {
            HUB_ASSIGN_OR_RETURN(message_.user_id, TextField(data, "user-id"));
          }
          break;
        case 2: {
          HUB_ASSIGN_OR_RETURN(message_.to, TextField(data, "to"));
          break;
        }
        case 5: {
          HUB_ASSIGN_OR_RETURN(message_.correlation_id, IdText(data, "correlation-id"));
          break;
        }
        case 6: {
          HUB_ASSIGN_OR_RETURN(message_.content_type, TextField(data, "content-type"));
          break;
        }
        case 7: {
          HUB_ASSIGN_OR_RETURN(message_.content_encoding, TextField(data, "content-encoding"));
          break;
        }
        case 8: {
          HUB_RETURN_IF_ERROR(ReadExpiry(data));
          break;
        }
        default:
          break;  // subject, reply-to, creation-time, group-id, ...: not kept
      }
    }
    pn_data_exit(data);
    return Status::Ok();
  }

  // absolute-expiry-time: a timestamp (leniently any integer), ms since the epoch. 0 means unset,
  // as in Proton's own pn_message_t.
  Status ReadExpiry(pn_data_t* data) {
    int64_t ms;
    switch (pn_data_type(data)) {
      case PN_NULL:
        return Status::Ok();
      case PN_TIMESTAMP:
        ms = pn_data_get_timestamp(data);
        break;
      case PN_LONG:
        ms = pn_data_get_long(data);
        break;
      case PN_INT:
        ms = pn_data_get_int(data);
        break;
      case PN_UINT:
        ms = pn_data_get_uint(data);
        break;
      case PN_ULONG: {
        uint64_t value = pn_data_get_ulong(data);
        if (value > static_cast<uint64_t>(INT64_MAX)) {
          return InvalidArgument("AMQP absolute-expiry-time out of range");
        }
        ms = static_cast<int64_t>(value);
        break;
      }
      default:
        return InvalidArgument("AMQP absolute-expiry-time is not a timestamp");
    }
    if (ms != 0) message_.expiry = FromUnixMillis(ms);
    return Status::Ok();
  }

  Status ReadApplicationProperties(pn_data_t* data) {
    if (pn_data_type(data) == PN_NULL) return Status::Ok();
    if (pn_data_type(data) != PN_MAP) return Malformed("application-properties is not a map");
    pn_data_enter(data);
    while (pn_data_next(data)) {
      std::string key;
      if (pn_data_type(data) == PN_STRING) {
        key = View(pn_data_get_string(data));
      } else if (pn_data_type(data) == PN_SYMBOL) {
        key = View(pn_data_get_symbol(data));
      } else {
        return InvalidArgument("AMQP application property key is not a string");
      }
      if (!pn_data_next(data)) return Malformed("application property without a value");
      HUB_ASSIGN_OR_RETURN(std::string value, PropertyValueText(data));
      if (EqualsIgnoreCase(key, "iothub-ack")) {
        if (!core::ParseAckMode(value, &message_.ack)) {
          return InvalidArgument("unknown iothub-ack value '" + value + "'");
        }
      } else {
        message_.SetProperty(key, value);
      }
    }
    pn_data_exit(data);
    return Status::Ok();
  }

  Status ReadValueBody(pn_data_t* data) {
    switch (pn_data_type(data)) {
      case PN_NULL:
        return Status::Ok();
      case PN_STRING:
        message_.body = View(pn_data_get_string(data));
        return Status::Ok();
      case PN_BINARY:
        message_.body = View(pn_data_get_binary(data));
        return Status::Ok();
      case PN_SYMBOL:
        message_.body = View(pn_data_get_symbol(data));
        return Status::Ok();
      default:
        return InvalidArgument(std::string("unsupported body: amqp-value of type ") +
                               pn_type_name(pn_data_type(data)));
    }
  }

  core::Message& message_;
  bool seen_properties_ = false;
  bool seen_application_properties_ = false;
  Body body_ = Body::kNone;
};

// Encoding helpers. Most sections go through pn_data_t; the application-properties map and the
// Data section are written by hand: a pn_data_t holds at most 65535 nodes (so ~32k properties),
// and copying the body into one only to copy it out again buys nothing.

void AppendEncoded(pn_data_t* data, std::string* out) {
  ssize_t size = pn_data_encoded_size(data);
  HUB_CHECK(size >= 0);  // a handful of nodes we built ourselves
  size_t offset = out->size();
  out->resize(offset + static_cast<size_t>(size));
  ssize_t written = pn_data_encode(data, out->data() + offset, static_cast<size_t>(size));
  HUB_CHECK(written == size);
}

void AppendBigEndian(uint64_t value, size_t width, std::string* out) {
  for (size_t i = width; i-- > 0;) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void AppendSectionDescriptor(uint64_t code, std::string* out) {
  out->push_back(0x00);                     // described
  out->push_back(0x53);                     // smallulong
  out->push_back(static_cast<char>(code));  // the section's code
}

// str8-utf8 / str32-utf8 (0xa1 / 0xb1) or vbin8 / vbin32 (0xa0 / 0xb0).
void AppendVariable(bool binary, std::string_view bytes, std::string* out) {
  bool small = bytes.size() <= 0xff;
  out->push_back(static_cast<char>((small ? 0xa0 : 0xb0) | (binary ? 0 : 1)));
  AppendBigEndian(bytes.size(), small ? 1 : 4, out);
  out->append(bytes);
}

void AppendApplicationProperties(const core::Message& message, std::string* out) {
  std::string entries;
  size_t count = 0;
  bool has_ack = false;
  for (const auto& [key, value] : message.properties) {
    has_ack = has_ack || EqualsIgnoreCase(key, "iothub-ack");
    AppendVariable(false, key, &entries);
    AppendVariable(false, value, &entries);
    count += 2;
  }
  if (message.ack != core::AckMode::kNone && !has_ack) {
    AppendVariable(false, "iothub-ack", &entries);
    AppendVariable(false, core::AckModeName(message.ack), &entries);
    count += 2;
  }
  if (count == 0) return;
  AppendSectionDescriptor(kApplicationProperties, out);
  bool small = entries.size() + 1 <= 0xff && count <= 0xff;  // the size counts the count too
  out->push_back(static_cast<char>(small ? 0xc1 : 0xd1));    // map8 / map32
  size_t width = small ? 1 : 4;
  AppendBigEndian(entries.size() + width, width, out);
  AppendBigEndian(count, width, out);
  out->append(entries);
}

pn_bytes_t Bytes(std::string_view s) { return pn_bytes(s.size(), s.data()); }

// The header: durable (the hub stored the message), and the delivery-count, where AMQP clients
// read how often a message was handed out before (AMQP 1.0, 3.2.1).
void AppendHeader(const core::Message& message, pn_data_t* data, std::string* out) {
  pn_data_clear(data);
  pn_data_put_described(data);
  pn_data_enter(data);
  pn_data_put_ulong(data, kHeader);
  pn_data_put_list(data);
  pn_data_enter(data);
  pn_data_put_bool(data, true);  // durable
  pn_data_put_null(data);        // priority
  pn_data_put_null(data);        // ttl
  pn_data_put_null(data);        // first-acquirer
  pn_data_put_uint(data, message.delivery_count);
  pn_data_exit(data);
  pn_data_exit(data);
  AppendEncoded(data, out);
}

void AppendMessageAnnotations(const core::Message& message, pn_data_t* data, std::string* out) {
  pn_data_clear(data);
  pn_data_put_described(data);
  pn_data_enter(data);
  pn_data_put_ulong(data, kMessageAnnotations);
  pn_data_put_map(data);
  pn_data_enter(data);
  if (message.enqueued_time) {
    pn_data_put_symbol(data, Bytes("iothub-enqueuedtime"));
    pn_data_put_timestamp(data, ToUnixMillis(*message.enqueued_time));
  }
  pn_data_put_symbol(data, Bytes("iothub-deliverycount"));
  pn_data_put_uint(data, message.delivery_count);
  if (message.sequence_number != 0) {
    pn_data_put_symbol(data, Bytes("x-opt-sequence-number"));
    pn_data_put_long(data, static_cast<int64_t>(message.sequence_number));
  }
  pn_data_exit(data);
  pn_data_exit(data);
  AppendEncoded(data, out);
}

void AppendProperties(const core::Message& message, pn_data_t* data, std::string* out) {
  // The list ends at the last field set (trailing nulls may be omitted).
  int last = -1;
  if (!message.message_id.empty()) last = 0;
  if (!message.user_id.empty()) last = 1;
  if (!message.to.empty()) last = 2;
  if (!message.correlation_id.empty()) last = 5;
  if (!message.content_type.empty()) last = 6;
  if (!message.content_encoding.empty()) last = 7;
  if (message.expiry) last = 8;
  if (message.enqueued_time) last = 9;
  if (last < 0) return;

  pn_data_clear(data);
  pn_data_put_described(data);
  pn_data_enter(data);
  pn_data_put_ulong(data, kProperties);
  pn_data_put_list(data);
  pn_data_enter(data);
  auto string_or_null = [data](const std::string& value) {
    value.empty() ? pn_data_put_null(data) : pn_data_put_string(data, Bytes(value));
  };
  auto symbol_or_null = [data](const std::string& value) {
    value.empty() ? pn_data_put_null(data) : pn_data_put_symbol(data, Bytes(value));
  };
  auto time_or_null = [data](const std::optional<Timestamp>& value) {
    value ? pn_data_put_timestamp(data, ToUnixMillis(*value)) : pn_data_put_null(data);
  };
  for (int field = 0; field <= last; ++field) {
    switch (field) {
      case 0:
        string_or_null(message.message_id);
        break;
      case 1:
        message.user_id.empty() ? pn_data_put_null(data)
                                : pn_data_put_binary(data, Bytes(message.user_id));
        break;
      case 2:
        string_or_null(message.to);
        break;
      case 5:
        string_or_null(message.correlation_id);
        break;
      case 6:
        symbol_or_null(message.content_type);
        break;
      case 7:
        symbol_or_null(message.content_encoding);
        break;
      case 8:
        time_or_null(message.expiry);
        break;
      case 9:
        time_or_null(message.enqueued_time);
        break;  // creation-time
      default:
        pn_data_put_null(data);
        break;  // subject, reply-to
    }
  }
  pn_data_exit(data);
  pn_data_exit(data);
  AppendEncoded(data, out);
}

}  // namespace

Result<core::Message> DecodeMessage(std::string_view bytes) {
  if (bytes.empty()) return Malformed("no sections");
  Data data(pn_data(16));
  HUB_CHECK(data != nullptr);
  core::Message message;
  SectionReader reader(&message);
  while (!bytes.empty()) {
    size_t size = ScanAmqpValue(bytes);
    if (size == 0) return Malformed("bad encoding");
    pn_data_clear(data.get());
    ssize_t decoded = pn_data_decode(data.get(), bytes.data(), size);
    if (decoded < 0 || static_cast<size_t>(decoded) != size) return Malformed("bad encoding");
    pn_data_rewind(data.get());
    HUB_RETURN_IF_ERROR(reader.Read(data.get()));
    bytes.remove_prefix(size);
  }
  return message;
}

std::string EncodeMessage(const core::Message& message) {
  std::string out;
  out.reserve(message.Size() + 256);
  Data data(pn_data(16));
  HUB_CHECK(data != nullptr);
  AppendHeader(message, data.get(), &out);
  AppendMessageAnnotations(message, data.get(), &out);
  AppendProperties(message, data.get(), &out);
  AppendApplicationProperties(message, &out);
  AppendSectionDescriptor(kData, &out);
  AppendVariable(true, message.body, &out);
  return out;
}

}  // namespace iothub::amqp
