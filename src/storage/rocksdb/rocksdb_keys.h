#pragma once

// Key and value layout of the RocksDB store (no RocksDB headers: pure byte encodings, testable
// alone). Names and table/queue keys never contain '\0' (validate.h), so '\0' separates the parts
// of a composite key unambiguously, and big-endian numbers make bytewise order numeric order.
//
//   column family  key                                      value
//   tables         name \0 key                              revision(BE64) value
//   queues         name \0 key \0 seq(BE64)                 value
//   logs           name \0 partition(BE32) offset(BE64)     append_time_ms(BE64) value
//   meta           "I"                                      id_limit(BE64)
//   meta           "L" name \0 partition(BE32)              first(BE64) next(BE64) bytes(BE64)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace iothub::storage::rocksdb_keys {

std::string TableKey(std::string_view table, std::string_view key);
// The key of every record of `table` whose key starts with `prefix` starts with this.
std::string TablePrefix(std::string_view table, std::string_view prefix);
// The table key from a tables key of `table` (the caller checked it starts with TablePrefix).
std::string_view TableKeyPart(std::string_view table, std::string_view stored_key);

std::string QueueKey(std::string_view queue, std::string_view key, uint64_t seq);
// Every entry of (queue, key) starts with this.
std::string QueueKeyPrefix(std::string_view queue, std::string_view key);
// Every entry of `queue` starts with this.
std::string QueuePrefix(std::string_view queue);
// Splits a stored queue key of `queue` into its key and seq; false when malformed.
bool ParseQueueKey(std::string_view queue, std::string_view stored_key, std::string_view* key,
                   uint64_t* seq);

std::string LogKey(std::string_view log, uint32_t partition, uint64_t offset);
std::string LogPrefix(std::string_view log, uint32_t partition);
// The offset of a stored log key of (log, partition); false when malformed.
bool ParseLogKey(std::string_view stored_key, size_t prefix_size, uint64_t* offset);

inline constexpr std::string_view kIdLimitKey = "I";
inline constexpr std::string_view kLogMetaTag = "L";
std::string LogMetaKey(std::string_view log, uint32_t partition);
// Splits a LogMetaKey; false when malformed.
bool ParseLogMetaKey(std::string_view stored_key, std::string* log, uint32_t* partition);

// The smallest string greater than every string starting with `prefix` (an exclusive upper
// bound for a prefix scan); nullopt when there is none (prefix empty or all 0xff).
std::optional<std::string> PrefixSuccessor(std::string_view prefix);

std::string EncodeTableValue(uint64_t revision, std::string_view value);
bool DecodeTableValue(std::string_view stored, uint64_t* revision, std::string_view* value);

std::string EncodeLogValue(Timestamp append_time, std::string_view value);
bool DecodeLogValue(std::string_view stored, Timestamp* append_time, std::string_view* value);

struct LogMeta {
  uint64_t first_offset = 0;
  uint64_t next_offset = 0;
  uint64_t bytes = 0;
};
std::string EncodeLogMeta(const LogMeta& meta);
bool DecodeLogMeta(std::string_view stored, LogMeta* meta);

std::string EncodeFixed64(uint64_t v);
bool DecodeFixed64(std::string_view stored, uint64_t* v);

}  // namespace iothub::storage::rocksdb_keys
