#include "storage/rocksdb/rocksdb_keys.h"

#include "base/coding.h"

namespace iothub::storage::rocksdb_keys {

namespace {

void PutFixed32BE(std::string* dst, uint32_t v) {
  const char buf[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  dst->append(buf, 4);
}

uint32_t DecodeFixed32BE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Joined(std::string_view name, std::string_view rest) {
  std::string out;
  out.reserve(name.size() + 1 + rest.size() + 9);
  out.append(name);
  out.push_back('\0');
  out.append(rest);
  return out;
}

}  // namespace

std::string TableKey(std::string_view table, std::string_view key) { return Joined(table, key); }

std::string TablePrefix(std::string_view table, std::string_view prefix) {
  return Joined(table, prefix);
}

std::string_view TableKeyPart(std::string_view table, std::string_view stored_key) {
  return stored_key.substr(table.size() + 1);
}

std::string QueueKey(std::string_view queue, std::string_view key, uint64_t seq) {
  std::string out = QueueKeyPrefix(queue, key);
  PutFixed64BE(&out, seq);
  return out;
}

std::string QueueKeyPrefix(std::string_view queue, std::string_view key) {
  std::string out = Joined(queue, key);
  out.push_back('\0');
  return out;
}

std::string QueuePrefix(std::string_view queue) { return Joined(queue, {}); }

bool ParseQueueKey(std::string_view queue, std::string_view stored_key, std::string_view* key,
                   uint64_t* seq) {
  // name \0 key \0 seq(8), with a non-empty key.
  if (stored_key.size() < queue.size() + 1 + 1 + 1 + 8) return false;
  const size_t sep = stored_key.size() - 9;
  if (stored_key[sep] != '\0') return false;
  *key = stored_key.substr(queue.size() + 1, sep - queue.size() - 1);
  if (key->find('\0') != std::string_view::npos) return false;
  *seq = DecodeFixed64BE(stored_key.data() + sep + 1);
  return true;
}

std::string LogKey(std::string_view log, uint32_t partition, uint64_t offset) {
  std::string out = LogPrefix(log, partition);
  PutFixed64BE(&out, offset);
  return out;
}

std::string LogPrefix(std::string_view log, uint32_t partition) {
  std::string out = Joined(log, {});
  PutFixed32BE(&out, partition);
  return out;
}

bool ParseLogKey(std::string_view stored_key, size_t prefix_size, uint64_t* offset) {
  if (stored_key.size() != prefix_size + 8) return false;
  *offset = DecodeFixed64BE(stored_key.data() + prefix_size);
  return true;
}

std::string LogMetaKey(std::string_view log, uint32_t partition) {
  std::string out(kLogMetaTag);
  out.append(LogPrefix(log, partition));
  return out;
}

bool ParseLogMetaKey(std::string_view stored_key, std::string* log, uint32_t* partition) {
  if (stored_key.substr(0, kLogMetaTag.size()) != kLogMetaTag) return false;
  stored_key.remove_prefix(kLogMetaTag.size());
  // name \0 partition(4), with a non-empty name.
  if (stored_key.size() < 1 + 1 + 4 || stored_key[stored_key.size() - 5] != '\0') return false;
  *log = std::string(stored_key.substr(0, stored_key.size() - 5));
  if (log->find('\0') != std::string::npos) return false;
  *partition = DecodeFixed32BE(stored_key.data() + stored_key.size() - 4);
  return true;
}

std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(out.back());
    if (last != 0xff) {
      ++last;
      return out;
    }
    out.pop_back();
  }
  return std::nullopt;
}

std::string EncodeTableValue(uint64_t revision, std::string_view value) {
  std::string out;
  out.reserve(8 + value.size());
  PutFixed64BE(&out, revision);
  out.append(value);
  return out;
}

bool DecodeTableValue(std::string_view stored, uint64_t* revision, std::string_view* value) {
  if (stored.size() < 8) return false;
  *revision = DecodeFixed64BE(stored.data());
  *value = stored.substr(8);
  return *revision != 0;
}

std::string EncodeLogValue(Timestamp append_time, std::string_view value) {
  std::string out;
  out.reserve(8 + value.size());
  PutFixed64BE(&out, static_cast<uint64_t>(ToUnixMillis(append_time)));
  out.append(value);
  return out;
}

bool DecodeLogValue(std::string_view stored, Timestamp* append_time, std::string_view* value) {
  if (stored.size() < 8) return false;
  *append_time = FromUnixMillis(static_cast<int64_t>(DecodeFixed64BE(stored.data())));
  *value = stored.substr(8);
  return true;
}

std::string EncodeLogMeta(const LogMeta& meta) {
  std::string out;
  PutFixed64BE(&out, meta.first_offset);
  PutFixed64BE(&out, meta.next_offset);
  PutFixed64BE(&out, meta.bytes);
  return out;
}

bool DecodeLogMeta(std::string_view stored, LogMeta* meta) {
  Decoder d(stored);
  return d.GetFixed64BE(&meta->first_offset) && d.GetFixed64BE(&meta->next_offset) &&
         d.GetFixed64BE(&meta->bytes) && d.done() && meta->first_offset <= meta->next_offset;
}

std::string EncodeFixed64(uint64_t v) {
  std::string out;
  PutFixed64BE(&out, v);
  return out;
}

bool DecodeFixed64(std::string_view stored, uint64_t* v) {
  Decoder d(stored);
  return d.GetFixed64BE(v) && d.done();
}

}  // namespace iothub::storage::rocksdb_keys
