#pragma once

// Private to src/storage/rocksdb: the RocksDB-backed Store. Only rocksdb_store.cc (open, reads,
// lifecycle) and rocksdb_writer.cc (the group-commit writer) include this, and so RocksDB headers.

#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "storage/rocksdb/rocksdb_keys.h"
#include "storage/rocksdb/rocksdb_store.h"

namespace iothub::storage {

// Converts a RocksDB status at the boundary: Corruption -> Corruption, no space ->
// ResourceExhausted, busy / timed out / shutting down -> Unavailable, other I/O errors and the rest
// -> Internal. `context` says what was being done.
Status FromRocks(const rocksdb::Status& s, std::string_view context);

// Thread-safety: every public method may be called from any thread. Reads go straight to RocksDB
// (thread-safe). Writes (commits and trims) are queued under mu_ and applied by the one writer
// thread, which alone touches the members marked "writer".
class RocksDbStore final : public Store {
 public:
  using LogId = std::pair<std::string, uint32_t>;

  // Column families, in the order OpenRocksDbStore opens them (index 0 is RocksDB's default).
  enum Cf { kDefaultCf = 0, kTablesCf, kQueuesCf, kLogsCf, kMetaCf, kCfCount };

  // Takes ownership of `db` and its `handles` (kCfCount of them). `id_limit` and `logs` are what
  // the meta column family holds.
  RocksDbStore(const RocksDbOptions& options, rocksdb::DB* db,
               std::vector<rocksdb::ColumnFamilyHandle*> handles, uint64_t id_limit,
               std::map<LogId, rocksdb_keys::LogMeta> logs);
  // Closes, then releases the database. Never from a commit callback.
  ~RocksDbStore() override;

  // Starts the writer thread; Unavailable when the system cannot create a thread. Called once,
  // before the store is shared.
  Status Start();

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
  void Close() override;

 private:
  struct CommitRequest {
    WriteBatch batch;
    Durability durability;
    CommitCallback done;
  };
  enum class TrimKind { kBefore, kOlderThan, kToSize };
  struct TrimRequest {
    TrimKind kind;
    std::string log;
    uint32_t partition = 0;
    uint64_t limit = 0;  // before_offset or max_bytes
    Timestamp older_than;
    std::promise<Result<uint64_t>>* result = nullptr;
  };
  using Request = std::variant<CommitRequest, TrimRequest>;

  // What one write group has staged on top of the committed state (rocksdb_writer.cc).
  struct Group;
  // How to revert the staged state to before one request, when that request fails.
  struct Undo {
    uint64_t last_id = 0;
    std::vector<std::pair<LogId, std::optional<rocksdb_keys::LogMeta>>> logs;
  };

  // Calls `fn(key, value)` for each key of [start, upper) (no bound when `upper` is nullopt) in
  // order, until it returns false. `it` is a fresh iterator created with `ro`, whose
  // iterate_upper_bound is already set from `upper`.
  static Status ForEach(rocksdb::Iterator* it, std::string_view start,
                        const std::optional<std::string>& upper,
                        const std::function<bool(std::string_view, std::string_view)>& fn);
  // The same over the database alone (reads from any thread).
  Status ScanDb(Cf cf, std::string_view start, const std::optional<std::string>& upper,
                const std::function<bool(std::string_view, std::string_view)>& fn);
  Result<uint64_t> EnqueueTrim(TrimRequest request);

  // --- writer thread (rocksdb_writer.cc) ---
  void WriterLoop();
  void ProcessGroup(std::vector<Request>& requests);
  Status ApplyCommit(const WriteBatch& batch, Group* group, Undo* undo, CommitResult* out);
  Result<uint64_t> ApplyTrim(const TrimRequest& trim, Group* group, Undo* undo);
  // The staged state read through the group's writes (the overlay) and the database.
  Status ScanStaged(Group* group, Cf cf, std::string_view start,
                    const std::optional<std::string>& upper,
                    const std::function<bool(std::string_view, std::string_view)>& fn);
  Result<uint64_t> StagedRevision(Group* group, const std::string& table_key);
  uint64_t NextId(Group* group);
  rocksdb_keys::LogMeta* StageLog(Group* group, const LogId& id, Undo* undo);
  static void Revert(Group* group, Undo& undo);

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[c]; }

  const RocksDbOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;  // guarded by mu_
  bool closing_ = false;       // guarded by mu_

  std::mutex close_mu_;  // serializes joining the writer
  std::thread writer_;
  std::thread::id writer_id_;  // set once in the constructor

  // Writer state: touched only by the writer thread (and by Close after joining it).
  uint64_t last_id_ = 0;   // the last revision / seq handed out
  uint64_t id_limit_ = 0;  // ids up to this are reserved by a synced write
  std::map<LogId, rocksdb_keys::LogMeta> logs_;
  Status write_error_;     // once a write failed, every later write fails with it
  bool unsynced_ = false;  // an unsynced write happened since the last sync

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> write_groups_{0};
  std::atomic<uint64_t> syncs_{0};
};

}  // namespace iothub::storage
