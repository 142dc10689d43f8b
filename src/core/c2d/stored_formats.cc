#include "core/c2d/stored_formats.h"

#include "base/coding.h"

namespace iothub::core {
namespace {

constexpr uint8_t kQueueMessageVersion = 1;
constexpr uint8_t kDeliveryStateVersion = 1;

void PutTime(std::string* out, Timestamp t) {
  PutFixed64BE(out, static_cast<uint64_t>(ToUnixMillis(t)));
}

bool GetTime(Decoder* d, Timestamp* t) {
  uint64_t v;
  if (!d->GetFixed64BE(&v)) return false;
  *t = FromUnixMillis(static_cast<int64_t>(v));
  return true;
}

}  // namespace

std::string EncodeStoredQueueMessage(const StoredQueueMessage& m) {
  std::string out;
  out.push_back(static_cast<char>(kQueueMessageVersion));
  PutLengthPrefixed(&out, m.generation_id);
  PutTime(&out, m.expiry);
  PutVarint64(&out, m.covered_records.size());
  for (uint64_t seq : m.covered_records) PutVarint64(&out, seq);
  PutLengthPrefixed(&out, EncodeMessage(m.message));
  return out;
}

Result<StoredQueueMessage> DecodeStoredQueueMessage(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version;
  if (!d.GetByte(&version) || version != kQueueMessageVersion) {
    return Corruption("stored queue message has an unknown format version");
  }
  StoredQueueMessage m;
  uint64_t count;
  if (!d.GetLengthPrefixed(&m.generation_id) || !GetTime(&d, &m.expiry) || !d.GetVarint64(&count) ||
      count > bytes.size()) {
    return Corruption("stored queue message is truncated");
  }
  m.covered_records.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t seq;
    if (!d.GetVarint64(&seq)) return Corruption("stored queue message is truncated");
    m.covered_records.push_back(seq);
  }
  std::string_view encoded;
  if (!d.GetLengthPrefixed(&encoded) || !d.done()) {
    return Corruption("stored queue message is truncated");
  }
  HUB_ASSIGN_OR_RETURN(m.message, DecodeMessage(encoded));
  return m;
}

std::string EncodeDeliveryState(const DeliveryStateRecord& s) {
  std::string out;
  out.push_back(static_cast<char>(kDeliveryStateVersion));
  PutVarint64(&out, s.delivery_count);
  PutLengthPrefixed(&out, s.lock_token);
  PutTime(&out, s.lock_deadline);
  return out;
}

Result<DeliveryStateRecord> DecodeDeliveryState(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version;
  if (!d.GetByte(&version) || version != kDeliveryStateVersion) {
    return Corruption("stored delivery state has an unknown format version");
  }
  DeliveryStateRecord s;
  uint64_t count;
  if (!d.GetVarint64(&count) || count > UINT32_MAX || !d.GetLengthPrefixed(&s.lock_token) ||
      !GetTime(&d, &s.lock_deadline) || !d.done()) {
    return Corruption("stored delivery state is malformed");
  }
  s.delivery_count = static_cast<uint32_t>(count);
  return s;
}

std::string StateKeyPrefix(std::string_view queue_key) {
  std::string out(queue_key);
  out.push_back('/');
  return out;
}

std::string StateKey(std::string_view queue_key, uint64_t seq) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = StateKeyPrefix(queue_key);
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(seq >> shift) & 0xf]);
  return out;
}

bool ParseStateKey(std::string_view table_key, std::string_view queue_key, uint64_t* seq) {
  if (table_key.size() != queue_key.size() + 1 + 16 ||
      table_key.substr(0, queue_key.size()) != queue_key || table_key[queue_key.size()] != '/') {
    return false;
  }
  uint64_t v = 0;
  for (char c : table_key.substr(queue_key.size() + 1)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(digit);
  }
  *seq = v;
  return true;
}

}  // namespace iothub::core
