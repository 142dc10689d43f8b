#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"

namespace iothub::storage {

// The storage layer knows no IoT Hub semantics. It offers the core four shapes that every backend
// (RocksDB now, NATS JetStream later) can serve natively:
//   tables  - key -> value records with a revision for compare-and-set (JetStream: KV buckets)
//   queues  - per-key ordered entries with store-assigned sequence numbers (JetStream: a stream
//             with one subject per key)
//   logs    - partitioned append-only logs with dense offsets and append times (JetStream: streams)
//   checkpoints are table records; the core keeps them in a table of its own.
//
// Names of tables, queues and logs, table keys and queue keys are non-empty and contain no '\0'
// byte (an operation breaking this fails with InvalidArgument). Values are opaque bytes.

// A table record as stored. `revision` is assigned by the store on every write: strictly greater
// than any revision the store handed out before (store-wide, never reused, also across restarts).
struct TableEntry {
  std::string key;
  std::string value;
  uint64_t revision = 0;
};

// A queue entry. `seq` is assigned by the store on append: unique in the queue, increasing in
// append order for each key, never reused (also across restarts and after deletes).
struct QueueEntry {
  uint64_t seq = 0;
  std::string value;
};

// A log record. `offset` is dense per partition (0, 1, 2, ...) and never reused once a kSync
// commit acknowledged it (a kAsync append lost to a power failure frees its offset); `append_time`
// is the time the caller gave at append (the hub's enqueued time).
struct LogEntry {
  uint64_t offset = 0;
  Timestamp append_time;
  std::string value;
};

struct LogInfo {
  uint64_t first_offset = 0;  // oldest offset still held (== next_offset when empty)
  uint64_t next_offset = 0;   // offset the next append will get
  uint64_t bytes = 0;         // sum of value sizes held
};

enum class Durability {
  kSync,   // acknowledged only once in the synced write-ahead log (survives power loss)
  kAsync,  // acknowledged once written to the log, not synced (survives a process crash only)
};

// A set of writes committed together, in order. Preconditions (the *If forms) are checked at commit
// time against the store as left by every earlier commit; if one fails, nothing of the batch is
// applied and the commit fails with PreconditionFailed.
//
// The embedded store applies a batch atomically. The core must not rely on that for correctness
// (the cluster store will not have cross-object transactions): it orders multi-step changes so that
// a crash between the steps is harmless (ARCHITECTURE.md, "Durability contract").
class WriteBatch {
 public:
  enum class OpType {
    kPut,
    kDelete,
    kDeletePrefix,
    kQueueAppend,
    kQueueDelete,
    kQueueDeleteAll,
    kLogAppend
  };
  struct Op {
    OpType type;
    std::string name;  // table, queue or log name
    std::string key;   // table key / queue key / table key prefix
    std::string value;
    uint64_t number = 0;  // queue seq for kQueueDelete; partition for kLogAppend
    bool conditional = false;
    uint64_t expected_revision = 0;  // with `conditional`: 0 means "must not exist"
    Timestamp time;                  // append time for kLogAppend
  };

  // Table writes. The returned index finds the new revision in CommitResult::revisions_or_ids.
  size_t Put(std::string_view table, std::string_view key, std::string_view value);
  // Put only if the record's current revision is `expected_revision` (0: only if absent).
  size_t PutIf(std::string_view table, std::string_view key, std::string_view value,
               uint64_t expected_revision);
  // Deleting an absent key is not an error.
  size_t Delete(std::string_view table, std::string_view key);
  // Delete only if the record exists with revision `expected_revision`.
  size_t DeleteIf(std::string_view table, std::string_view key, uint64_t expected_revision);
  // Deletes every record of `table` whose key starts with `prefix`.
  size_t DeletePrefix(std::string_view table, std::string_view prefix);

  // Queue writes. QueueAppend's index finds the assigned seq in CommitResult::revisions_or_ids.
  size_t QueueAppend(std::string_view queue, std::string_view key, std::string_view value);
  // Deleting an absent entry is not an error.
  size_t QueueDelete(std::string_view queue, std::string_view key, uint64_t seq);
  size_t QueueDeleteAll(std::string_view queue, std::string_view key);

  // Log append. The index finds the assigned offset in CommitResult::revisions_or_ids.
  size_t LogAppend(std::string_view log, uint32_t partition, Timestamp append_time,
                   std::string_view value);

  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  size_t Add(Op op);
  std::vector<Op> ops_;
};

struct CommitResult {
  // One entry per op of the batch, in order: the new revision for Put/PutIf, the seq for
  // QueueAppend, the offset for LogAppend, 0 for every other op.
  std::vector<uint64_t> revisions_or_ids;
};

using CommitCallback = std::function<void(Result<CommitResult>)>;

// Counters for tests, metrics and benchmarks.
struct StoreStats {
  uint64_t commits = 0;       // batches committed
  uint64_t write_groups = 0;  // groups written (several batches may share one)
  uint64_t syncs = 0;         // WAL syncs performed
};

// Thread-safe: every method may be called from any thread.
class Store {
 public:
  virtual ~Store() = default;

  // Commits `batch`. `done` runs once the batch is applied and as durable as `durability` asks, or
  // failed. It runs on a store thread (or, in the memory store, before Commit returns): it must be
  // quick, and must hop to its owner's Executor for anything more. Commits are applied in the order
  // Commit was called; concurrent synced commits share WAL syncs (group commit).
  virtual void Commit(WriteBatch batch, Durability durability, CommitCallback done) = 0;

  // Commit and block until done. For start-up, tools and tests; never on a shard thread.
  Result<CommitResult> CommitAndWait(WriteBatch batch, Durability durability);

  // --- reads: they see every commit whose callback has run ---

  // NotFound when absent.
  virtual Result<TableEntry> Get(std::string_view table, std::string_view key) = 0;
  // Records of `table` with keys starting with `prefix` and greater than `start_after` (all when
  // empty), in key order, at most `limit`.
  virtual Result<std::vector<TableEntry>> Scan(std::string_view table, std::string_view prefix,
                                               std::string_view start_after, size_t limit) = 0;

  // Entries of (queue, key) with seq >= from_seq, in seq order, at most `limit`.
  virtual Result<std::vector<QueueEntry>> ReadQueue(std::string_view queue, std::string_view key,
                                                    uint64_t from_seq, size_t limit) = 0;
  virtual Result<uint64_t> CountQueue(std::string_view queue, std::string_view key) = 0;
  // Keys of `queue` that hold at least one entry, greater than `start_after`, in order, at most
  // `limit`. Used for recovery after a restart.
  virtual Result<std::vector<std::string>> ListQueueKeys(std::string_view queue,
                                                         std::string_view start_after,
                                                         size_t limit) = 0;

  // Records of (log, partition) with offset >= from_offset, in order, at most `max_count` records
  // and (beyond the first record) at most `max_bytes` of values.
  virtual Result<std::vector<LogEntry>> ReadLog(std::string_view log, uint32_t partition,
                                                uint64_t from_offset, size_t max_count,
                                                size_t max_bytes) = 0;
  virtual Result<LogInfo> GetLogInfo(std::string_view log, uint32_t partition) = 0;
  // Trims the log's head: drops records with offset < `before_offset`, records appended before
  // `older_than`, or the oldest records until at most `max_bytes` remain. Returns how many it
  // dropped.
  virtual Result<uint64_t> TrimLogBefore(std::string_view log, uint32_t partition,
                                         uint64_t before_offset) = 0;
  virtual Result<uint64_t> TrimLogOlderThan(std::string_view log, uint32_t partition,
                                            Timestamp older_than) = 0;
  virtual Result<uint64_t> TrimLogToSize(std::string_view log, uint32_t partition,
                                         uint64_t max_bytes) = 0;

  virtual StoreStats stats() const = 0;

  // Waits for every pending commit and stops accepting new ones (they then fail with Unavailable).
  virtual void Close() = 0;
};

}  // namespace iothub::storage
