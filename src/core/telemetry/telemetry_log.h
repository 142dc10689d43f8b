#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "core/message.h"
#include "core/telemetry/consumer_groups.h"
#include "storage/store.h"

namespace iothub::core {

// Store names of the telemetry log (part of the stored format: never change).
inline constexpr std::string_view kTelemetryLogName = "telemetry";
inline constexpr std::string_view kTelemetryMetaTable = "telemetry_meta";

struct TelemetryOptions {
  // Fixed for the life of a data directory: the first Open stores it and later Opens must match.
  uint32_t partitions = 4;  // 1..1024
  Duration retention = std::chrono::hours(24);
  uint64_t max_bytes_per_partition = 1ull << 30;  // stored record bytes, checked by ApplyRetention
  size_t max_message_size =
      size_t{256} * 1024;           // Message::Size() of one message, and of a whole batch
  size_t max_consumer_groups = 20;  // including "$Default" (IoT Hub's standard-tier limit)
};

// Checks ranges; InvalidArgument naming the bad field.
Status ValidateTelemetryOptions(const TelemetryOptions& options);

// Where an appended message landed. `offset` is also its sequence number.
struct Position {
  uint32_t partition = 0;
  uint64_t offset = 0;
  friend bool operator==(const Position&, const Position&) = default;
};

// How the sending device authenticated, stamped on each message it sends.
struct AppendContext {
  // JSON text, e.g. {"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}
  std::string auth_method;
  std::string generation_id;  // the device's registry generationId
};

struct PartitionInfo {
  uint32_t partition = 0;
  uint64_t first_offset = 0;  // oldest record still held (== next_offset when empty)
  uint64_t next_offset = 0;   // offset of the next append ("@latest" position)
  uint64_t bytes = 0;         // stored bytes held
  std::optional<Timestamp> last_enqueued_time;  // of the newest record; nullopt when empty
};

// Where a reader starts, as Event Hubs clients ask for it. Resolve with TelemetryLog::ResolveStart.
struct StartPosition {
  enum class Kind { kOffset, kStart, kEnd, kEnqueuedTime };
  Kind kind = Kind::kStart;
  uint64_t offset = 0;    // kOffset (offsets and sequence numbers are the same here)
  Timestamp time;         // kEnqueuedTime
  bool inclusive = true;  // kOffset: start at `offset` itself (else after it); kEnqueuedTime:
                          // include a record enqueued exactly at `time` (else strictly after)

  static StartPosition FromOffset(uint64_t offset, bool inclusive = true) {
    return {.kind = Kind::kOffset, .offset = offset, .inclusive = inclusive};
  }
  static StartPosition Start() { return {.kind = Kind::kStart}; }
  static StartPosition End() { return {.kind = Kind::kEnd}; }  // "@latest": only new records
  static StartPosition FromEnqueuedTime(Timestamp t, bool inclusive = false) {
    return {.kind = Kind::kEnqueuedTime, .time = t, .inclusive = inclusive};
  }
};

// The durable device-to-cloud telemetry log: the core of the Event Hubs-compatible endpoint.
// Messages are partitioned by device (so one device's messages stay in order), stamped by the hub,
// held in the store's partitioned log until retention drops them, read by offset, and followed live
// through Subscribe. Consumer groups and their checkpoints live in store tables.
//
// Everything is in the store: a new TelemetryLog over the same store sees the same records, offsets
// continue, groups and checkpoints survive. One TelemetryLog per store (it caches the groups).
//
// Thread-safe: every method may be called from any thread (every shard appends). Callbacks (`done`,
// listeners) run on a store thread, or on the calling thread before the call returns (for
// validation errors, and always with the memory store); they must be quick and post real work to
// their owner's Executor. The methods marked "blocks" wait for the store: not for shard threads.
// Destroying the log while appends are in flight is safe (their callbacks still run).
class TelemetryLog {
 public:
  // Validates `options`, checks (or, on first use of the store, records) the partition count, and
  // loads the consumer groups. InvalidArgument for bad options or a partition count that differs
  // from the stored one ("PartitionCountMismatch": changing it would move devices between
  // partitions); store errors as is. Blocks. `store` and `clock` must outlive the log.
  static Result<std::unique_ptr<TelemetryLog>> Open(storage::Store& store, Clock& clock,
                                                    TelemetryOptions options = {});

  ~TelemetryLog();
  TelemetryLog(const TelemetryLog&) = delete;
  TelemetryLog& operator=(const TelemetryLog&) = delete;

  const TelemetryOptions& options() const { return options_; }
  uint32_t partition_count() const { return options_.partitions; }

  // StableHash(device_id) % partitions. Stable across builds and restarts: never change it.
  uint32_t PartitionOf(std::string_view device_id) const;

  // Appends `msg` from device `device_id` to the device's partition. The hub stamps enqueued_time
  // (the clock, kept non-decreasing per partition so that time seeks and age retention are exact),
  // connection_device_id, connection_auth_method and connection_auth_generation_id from `ctx`, and
  // clears what only the hub may set (sequence number, lock token, delivery count); the sequence
  // number is the offset, assigned by the store and set on messages returned by Read. `done` runs
  // once the record is durable (Durability::kSync, group-committed), with its Position; or with
  // InvalidArgument (empty device id), TooLarge "MessageTooLarge" (Size() > max_message_size), or
  // the store's error. Listeners are told after `done` returns.
  void Append(std::string_view device_id, Message msg, const AppendContext& ctx,
              std::function<void(Result<Position>)> done);

  // Appends `msgs` (an HTTP batch send) in one WriteBatch, in order, all with the same stamps and
  // one partition; the whole batch or nothing. InvalidArgument when empty; TooLarge
  // "MessageTooLarge" when one message or the sum of their sizes exceeds max_message_size.
  void AppendBatch(std::string_view device_id, std::vector<Message> msgs, const AppendContext& ctx,
                   std::function<void(Result<std::vector<Position>>)> done);

  // Up to `max_count` records of `partition` from `from_offset` on (records below the oldest
  // offset still held are gone: reading starts at the oldest), and beyond the first at most
  // `max_bytes` of stored bytes. Each message carries sequence_number = offset and every stamped
  // property. Empty at or past the end. InvalidArgument for a bad partition; Corruption for an
  // undecodable record.
  Result<std::vector<Message>> Read(uint32_t partition, uint64_t from_offset, size_t max_count,
                                    size_t max_bytes = std::numeric_limits<size_t>::max()) const;

  // Offsets and size of `partition`, and the newest record's enqueued time (one extra point
  // read). InvalidArgument for a bad partition.
  Result<PartitionInfo> GetPartitionInfo(uint32_t partition) const;

  // The offset a reader starting at `start` reads first. kStart: the oldest held; kEnd: the next
  // offset (only records appended from now on); kOffset: the offset (+1 when not inclusive), raised
  // to the oldest held, and not capped at the end (the reader then waits for it); kEnqueuedTime:
  // the first record enqueued at/after `time`, or the end when none. The time seek is a binary
  // search over offsets: O(log2 n) single-record point reads (about 30 for a billion records), no
  // scan. InvalidArgument for a bad partition.
  Result<uint64_t> ResolveStart(uint32_t partition, const StartPosition& start) const;

  // Live following. `on_append(partition, next_offset)` runs after each durable append (batch:
  // once, after its last record), on the store's thread: listeners must be quick (post to their
  // owner and return) and must not block. Returns an id for Unsubscribe. A notification already
  // under way may still arrive after Unsubscribe returns: capture a weak_ptr, not a raw owner.
  uint64_t Subscribe(std::function<void(uint32_t partition, uint64_t next_offset)> on_append);
  void Unsubscribe(uint64_t id);  // unknown ids are ignored

  // Consumer groups (see consumer_groups.h for names and errors). "$Default" always exists.
  Status CreateConsumerGroup(std::string_view name);  // blocks
  Status DeleteConsumerGroup(std::string_view name);  // blocks; also deletes its checkpoints
  std::vector<std::string> ListConsumerGroups() const;

  // Records that `group` has consumed `partition` up to, not including, `offset` (the offset to
  // resume from). Valid offsets are 0..next_offset (a trimmed offset is fine: readers start at the
  // oldest held). InvalidArgument for a bad partition or an offset past the end; NotFound for an
  // unknown group. The async form runs `done` once durable; the other blocks.
  void SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset,
                     std::function<void(Status)> done);
  Status SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset);
  // The stored checkpoint, nullopt when none. NotFound for an unknown group.
  Result<std::optional<uint64_t>> GetCheckpoint(std::string_view group, uint32_t partition) const;

  // Drops, in every partition, the records enqueued before now - retention, then the oldest ones
  // until at most max_bytes_per_partition remain. Returns how many records it dropped. Stops at
  // the first store error (the next run continues). Call it every RetentionInterval().
  Result<uint64_t> ApplyRetention();
  // How often to call ApplyRetention: retention / 100, between 1 s and 1 min (1 min by default).
  // Trimming is cheap (a head range delete), and size is only enforced at these calls.
  Duration RetentionInterval() const;

 private:
  struct Partition;
  struct Listeners;

  TelemetryLog(storage::Store& store, Clock& clock, TelemetryOptions options);

  Status CheckPartition(uint32_t partition) const;
  // Stamps `msgs`, appends them as one batch and reports their offsets.
  void AppendStamped(std::string_view device_id, std::vector<Message> msgs,
                     const AppendContext& ctx,
                     std::function<void(Result<std::vector<Position>>)> done);

  storage::Store& store_;
  Clock& clock_;
  const TelemetryOptions options_;
  std::unique_ptr<Partition[]> partitions_;
  std::shared_ptr<Listeners> listeners_;  // shared with in-flight append callbacks
  ConsumerGroups groups_;
};

}  // namespace iothub::core
