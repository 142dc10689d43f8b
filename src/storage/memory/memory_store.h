#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/store.h"

namespace iothub::storage {

// An in-memory Store for tests and tools: the whole contract of store.h, no persistence.
//
// Thread-safe: one mutex guards all state. Commit applies the batch under the mutex (so commits are
// applied in the order they take it) and runs `done` on the calling thread after releasing the
// mutex, before Commit returns; `done` may therefore call back into the store. Durability is
// ignored (nothing is durable); stats().syncs counts the commits that asked for kSync.
class MemoryStore final : public Store {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  void Commit(WriteBatch batch, Durability durability, CommitCallback done) override;

  Result<TableEntry> Get(std::string_view table, std::string_view key) override;
  Result<std::vector<TableEntry>> Scan(std::string_view table, std::string_view prefix,
                                       std::string_view start_after, size_t limit) override;
  Result<std::vector<QueueEntry>> ReadQueue(std::string_view queue, std::string_view key,
                                            uint64_t from_seq, size_t limit) override;
  Result<uint64_t> CountQueue(std::string_view queue, std::string_view key) override;
  Result<std::vector<std::string>> ListQueueKeys(std::string_view queue,
                                                 std::string_view start_after,
                                                 size_t limit) override;
  Result<std::vector<LogEntry>> ReadLog(std::string_view log, uint32_t partition,
                                        uint64_t from_offset, size_t max_count,
                                        size_t max_bytes) override;
  Result<LogInfo> GetLogInfo(std::string_view log, uint32_t partition) override;
  Result<uint64_t> TrimLogBefore(std::string_view log, uint32_t partition,
                                 uint64_t before_offset) override;
  Result<uint64_t> TrimLogOlderThan(std::string_view log, uint32_t partition,
                                    Timestamp older_than) override;
  Result<uint64_t> TrimLogToSize(std::string_view log, uint32_t partition,
                                 uint64_t max_bytes) override;
  StoreStats stats() const override;
  // Later commits and trims fail with Unavailable; reads keep working.
  void Close() override;

 private:
  struct Record {
    std::string value;
    uint64_t revision = 0;
  };
  using Table = std::map<std::string, Record, std::less<>>;
  // key -> seq -> value; a key with no entries is erased, so ListQueueKeys sees only live keys.
  using Queue = std::map<std::string, std::map<uint64_t, std::string>, std::less<>>;
  struct Log {
    std::deque<LogEntry> entries;  // offsets first_offset .. next_offset-1, in order
    uint64_t first_offset = 0;
    uint64_t next_offset = 0;
    uint64_t bytes = 0;
  };
  using LogKey = std::pair<std::string, uint32_t>;
  using Undo = std::vector<std::function<void()>>;

  // Applies one op, recording how to revert it in `undo`. Caller holds mu_.
  Status ApplyOp(const WriteBatch::Op& op, uint64_t* result, Undo* undo);
  Log* FindLog(std::string_view log, uint32_t partition);
  // Drops head records while `drop(entry)` holds. Caller holds mu_.
  uint64_t TrimHead(Log* log, const std::function<bool(const Log&, const LogEntry&)>& drop);

  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t last_id_ = 0;  // revisions and queue seqs: one store-wide counter, never reused
  std::map<std::string, Table, std::less<>> tables_;
  std::map<std::string, Queue, std::less<>> queues_;
  std::map<LogKey, Log> logs_;
  StoreStats stats_;
};

}  // namespace iothub::storage
