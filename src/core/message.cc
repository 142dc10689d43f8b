#include "core/message.h"

#include "base/coding.h"
#include "base/strings.h"

namespace iothub::core {

std::string_view AckModeName(AckMode mode) {
  switch (mode) {
    case AckMode::kNone:
      return "none";
    case AckMode::kPositive:
      return "positive";
    case AckMode::kNegative:
      return "negative";
    case AckMode::kFull:
      return "full";
  }
  return "none";
}

bool ParseAckMode(std::string_view text, AckMode* out) {
  if (text.empty() || EqualsIgnoreCase(text, "none")) {
    *out = AckMode::kNone;
  } else if (EqualsIgnoreCase(text, "positive")) {
    *out = AckMode::kPositive;
  } else if (EqualsIgnoreCase(text, "negative")) {
    *out = AckMode::kNegative;
  } else if (EqualsIgnoreCase(text, "full")) {
    *out = AckMode::kFull;
  } else {
    return false;
  }
  return true;
}

const std::string* Message::FindProperty(std::string_view key) const {
  for (const auto& [k, v] : properties) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Message::SetProperty(std::string_view key, std::string_view value) {
  for (auto& [k, v] : properties) {
    if (k == key) {
      v.assign(value);
      return;
    }
  }
  properties.emplace_back(std::string(key), std::string(value));
}

size_t Message::Size() const {
  size_t n = body.size();
  for (const auto& [k, v] : properties) n += k.size() + v.size();
  return n;
}

namespace {

constexpr uint8_t kFormatVersion = 1;

// Field tags of the stored form. Never renumber; add new ones at the end.
enum Tag : uint64_t {
  kBody = 1,
  kMessageId = 2,
  kCorrelationId = 3,
  kTo = 4,
  kUserId = 5,
  kContentType = 6,
  kContentEncoding = 7,
  kExpiry = 8,
  kAck = 9,
  kSequenceNumber = 10,
  kEnqueuedTime = 11,
  kLockToken = 12,
  kDeliveryCount = 13,
  kConnectionDeviceId = 14,
  kConnectionAuthMethod = 15,
  kConnectionAuthGenerationId = 16,
  kProperty = 17,  // value: length-prefixed key, length-prefixed value
};

void PutString(std::string* out, Tag tag, const std::string& s) {
  if (s.empty()) return;
  PutVarint64(out, tag);
  PutLengthPrefixed(out, s);
}

void PutNumber(std::string* out, Tag tag, uint64_t v) {
  std::string tmp;
  PutVarint64(&tmp, v);
  PutVarint64(out, tag);
  PutLengthPrefixed(out, tmp);
}

bool ReadNumber(std::string_view field, uint64_t* v) {
  Decoder d(field);
  return d.GetVarint64(v) && d.done();
}

}  // namespace

std::string EncodeMessage(const Message& m) {
  std::string out;
  out.reserve(m.Size() + 64);
  out.push_back(static_cast<char>(kFormatVersion));
  if (!m.body.empty()) {
    PutVarint64(&out, kBody);
    PutLengthPrefixed(&out, m.body);
  }
  PutString(&out, kMessageId, m.message_id);
  PutString(&out, kCorrelationId, m.correlation_id);
  PutString(&out, kTo, m.to);
  PutString(&out, kUserId, m.user_id);
  PutString(&out, kContentType, m.content_type);
  PutString(&out, kContentEncoding, m.content_encoding);
  if (m.expiry) PutNumber(&out, kExpiry, static_cast<uint64_t>(ToUnixMillis(*m.expiry)));
  if (m.ack != AckMode::kNone) PutNumber(&out, kAck, static_cast<uint64_t>(m.ack));
  if (m.sequence_number != 0) PutNumber(&out, kSequenceNumber, m.sequence_number);
  if (m.enqueued_time) {
    PutNumber(&out, kEnqueuedTime, static_cast<uint64_t>(ToUnixMillis(*m.enqueued_time)));
  }
  PutString(&out, kLockToken, m.lock_token);
  if (m.delivery_count != 0) PutNumber(&out, kDeliveryCount, m.delivery_count);
  PutString(&out, kConnectionDeviceId, m.connection_device_id);
  PutString(&out, kConnectionAuthMethod, m.connection_auth_method);
  PutString(&out, kConnectionAuthGenerationId, m.connection_auth_generation_id);
  for (const auto& [k, v] : m.properties) {
    std::string kv;
    PutLengthPrefixed(&kv, k);
    PutLengthPrefixed(&kv, v);
    PutVarint64(&out, kProperty);
    PutLengthPrefixed(&out, kv);
  }
  return out;
}

Result<Message> DecodeMessage(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version;
  if (!d.GetByte(&version) || version != kFormatVersion) {
    return Corruption("stored message has an unknown format version");
  }
  Message m;
  while (!d.done()) {
    uint64_t tag;
    std::string_view field;
    if (!d.GetVarint64(&tag) || !d.GetLengthPrefixed(&field)) {
      return Corruption("stored message is truncated");
    }
    uint64_t n = 0;
    bool ok = true;
    switch (tag) {
      case kBody:
        m.body.assign(field);
        break;
      case kMessageId:
        m.message_id.assign(field);
        break;
      case kCorrelationId:
        m.correlation_id.assign(field);
        break;
      case kTo:
        m.to.assign(field);
        break;
      case kUserId:
        m.user_id.assign(field);
        break;
      case kContentType:
        m.content_type.assign(field);
        break;
      case kContentEncoding:
        m.content_encoding.assign(field);
        break;
      case kExpiry:
        ok = ReadNumber(field, &n);
        m.expiry = FromUnixMillis(static_cast<int64_t>(n));
        break;
      case kAck:
        ok = ReadNumber(field, &n) && n <= 3;
        m.ack = static_cast<AckMode>(n);
        break;
      case kSequenceNumber:
        ok = ReadNumber(field, &m.sequence_number);
        break;
      case kEnqueuedTime:
        ok = ReadNumber(field, &n);
        m.enqueued_time = FromUnixMillis(static_cast<int64_t>(n));
        break;
      case kLockToken:
        m.lock_token.assign(field);
        break;
      case kDeliveryCount:
        ok = ReadNumber(field, &n) && n <= UINT32_MAX;
        m.delivery_count = static_cast<uint32_t>(n);
        break;
      case kConnectionDeviceId:
        m.connection_device_id.assign(field);
        break;
      case kConnectionAuthMethod:
        m.connection_auth_method.assign(field);
        break;
      case kConnectionAuthGenerationId:
        m.connection_auth_generation_id.assign(field);
        break;
      case kProperty: {
        Decoder p(field);
        std::string k, v;
        ok = p.GetLengthPrefixed(&k) && p.GetLengthPrefixed(&v) && p.done();
        if (ok) m.properties.emplace_back(std::move(k), std::move(v));
        break;
      }
      default:
        break;  // a field from a newer version: skip it
    }
    if (!ok) return Corruption("stored message has a malformed field");
  }
  return m;
}

}  // namespace iothub::core
