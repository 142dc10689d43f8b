#include "storage/rocksdb/rocksdb_store.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>

#include <algorithm>
#include <system_error>

#include "base/log.h"
#include "storage/rocksdb/rocksdb_store_impl.h"
#include "storage/validate.h"

namespace iothub::storage {

namespace keys = rocksdb_keys;

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string message = "rocksdb " + std::string(context) + ": " + s.ToString();
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return NotFound(std::move(message));
    case rocksdb::Status::kCorruption:
      return Corruption(std::move(message));
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return Unavailable(std::move(message));
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) return ResourceExhausted(std::move(message));
      return Internal(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

namespace {

const char* const kCfNames[RocksDbStore::kCfCount] = {"default", "tables", "queues", "logs",
                                                      "meta"};

rocksdb::ColumnFamilyOptions CfOptions(const RocksDbOptions& options, RocksDbStore::Cf cf) {
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = options.write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table_options;
  if (cf == RocksDbStore::kTablesCf) {
    // Tables are read by point lookups (Get, PutIf): a Bloom filter spares most misses a read.
    table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  }
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  if (cf == RocksDbStore::kQueuesCf || cf == RocksDbStore::kLogsCf) {
    // Queue entries and log heads are deleted soon after they are written; files dense with
    // tombstones get compacted early so that range reads do not wade through them.
    cf_options.table_properties_collector_factories.push_back(
        rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
  }
  return cf_options;
}

// Reads the meta column family: the id high-water mark and every log partition's offsets.
Status LoadMeta(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta, uint64_t* id_limit,
                std::map<RocksDbStore::LogId, keys::LogMeta>* logs) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, keys::kIdLimitKey, &value);
  if (s.IsNotFound()) {
    *id_limit = 0;
  } else if (!s.ok()) {
    return FromRocks(s, "read id limit");
  } else if (!keys::DecodeFixed64(value, id_limit)) {
    return Corruption("rocksdb store: malformed id limit record");
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), meta));
  for (it->Seek(keys::kLogMetaTag); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.substr(0, keys::kLogMetaTag.size()) != keys::kLogMetaTag) break;
    RocksDbStore::LogId id;
    keys::LogMeta log_meta;
    if (!keys::ParseLogMetaKey(key, &id.first, &id.second) ||
        !keys::DecodeLogMeta(it->value().ToStringView(), &log_meta)) {
      return Corruption("rocksdb store: malformed log meta record");
    }
    (*logs)[std::move(id)] = log_meta;
  }
  return FromRocks(it->status(), "read log meta");
}

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options) {
  if (options.path.empty()) return InvalidArgument("rocksdb store: empty path");
  if (options.max_group_batches == 0) {
    return InvalidArgument("rocksdb store: max_group_batches must be positive");
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  // The WAL is shared by the column families; one written rarely (meta: tiny records) would pin
  // old WAL files until its memtable fills. Past this total, RocksDB flushes whatever pins them.
  db_options.max_total_wal_size = options.max_total_wal_bytes;
  // After a crash, recover every record up to the first torn one in the WAL: acknowledged
  // (synced) commits always lie before it.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < RocksDbStore::kCfCount; ++i) {
    descriptors.emplace_back(kCfNames[i], CfOptions(options, static_cast<RocksDbStore::Cf>(i)));
  }
  rocksdb::DB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  HUB_RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw_db), "open"));

  uint64_t id_limit = 0;
  std::map<RocksDbStore::LogId, keys::LogMeta> logs;
  Status loaded = LoadMeta(raw_db, handles[RocksDbStore::kMetaCf], &id_limit, &logs);
  if (!loaded.ok()) {
    for (auto* h : handles) raw_db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    raw_db->Close().PermitUncheckedError();
    delete raw_db;
    return loaded;
  }
  HUB_LOG_INFO("storage", "opened rocksdb store path={} id_limit={} log_partitions={}",
               options.path, id_limit, logs.size());
  auto store = std::make_unique<RocksDbStore>(options, raw_db, std::move(handles), id_limit,
                                              std::move(logs));
  HUB_RETURN_IF_ERROR(store->Start());
  return std::unique_ptr<Store>(std::move(store));
}

RocksDbStore::RocksDbStore(const RocksDbOptions& options, rocksdb::DB* db,
                           std::vector<rocksdb::ColumnFamilyHandle*> handles, uint64_t id_limit,
                           std::map<LogId, keys::LogMeta> logs)
    : options_(options),
      db_(db),
      handles_(std::move(handles)),
      // Every id up to the reserved limit may have been handed out before a crash: start past it.
      last_id_(id_limit),
      id_limit_(id_limit),
      logs_(std::move(logs)) {}

Status RocksDbStore::Start() {
  try {
    writer_ = std::thread([this] { WriterLoop(); });
  } catch (const std::system_error& e) {
    return Unavailable(std::string("rocksdb store: cannot start the writer thread: ") + e.what());
  }
  writer_id_ = writer_.get_id();
  return Status::Ok();
}

RocksDbStore::~RocksDbStore() {
  Close();
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  Status closed = FromRocks(db_->Close(), "close");
  if (!closed.ok()) HUB_LOG_WARN("storage", "{}", closed.ToString());
}

void RocksDbStore::Commit(WriteBatch batch, Durability durability, CommitCallback done) {
  {
    std::lock_guard lock(mu_);
    if (!closing_) {
      queue_.push_back(CommitRequest{std::move(batch), durability, std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  if (done) done(Unavailable("store is closed"));
}

void RocksDbStore::Close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    cv_.notify_all();
  }
  // From a commit callback: the writer drains the queue and stops by itself; joining would
  // deadlock.
  if (std::this_thread::get_id() == writer_id_) return;
  std::lock_guard lock(close_mu_);
  if (!writer_.joinable()) return;
  writer_.join();
  // The writer is gone: its state is ours now. Make kAsync commits durable on a clean close.
  if (unsynced_ && write_error_.ok()) {
    Status synced = FromRocks(db_->FlushWAL(/*sync=*/true), "sync wal at close");
    if (synced.ok()) {
      unsynced_ = false;
      ++syncs_;
    } else {
      HUB_LOG_ERROR("storage", "{}", synced.ToString());
    }
  }
}

StoreStats RocksDbStore::stats() const {
  return StoreStats{commits_.load(), write_groups_.load(), syncs_.load()};
}

Result<uint64_t> RocksDbStore::EnqueueTrim(TrimRequest request) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", request.log));
  if (std::this_thread::get_id() == writer_id_) {
    return Internal("TrimLog* called from a commit callback would deadlock");
  }
  std::promise<Result<uint64_t>> promise;
  auto future = promise.get_future();
  request.result = &promise;
  {
    std::lock_guard lock(mu_);
    if (closing_) return Unavailable("store is closed");
    queue_.push_back(std::move(request));
    cv_.notify_one();
  }
  return future.get();
}

Result<uint64_t> RocksDbStore::TrimLogBefore(std::string_view log, uint32_t partition,
                                             uint64_t before_offset) {
  return EnqueueTrim({.kind = TrimKind::kBefore,
                      .log = std::string(log),
                      .partition = partition,
                      .limit = before_offset});
}

Result<uint64_t> RocksDbStore::TrimLogOlderThan(std::string_view log, uint32_t partition,
                                                Timestamp older_than) {
  return EnqueueTrim({.kind = TrimKind::kOlderThan,
                      .log = std::string(log),
                      .partition = partition,
                      .older_than = older_than});
}

Result<uint64_t> RocksDbStore::TrimLogToSize(std::string_view log, uint32_t partition,
                                             uint64_t max_bytes) {
  return EnqueueTrim({.kind = TrimKind::kToSize,
                      .log = std::string(log),
                      .partition = partition,
                      .limit = max_bytes});
}

// --- reads ---

Status RocksDbStore::ForEach(rocksdb::Iterator* it, std::string_view start,
                             const std::optional<std::string>& upper,
                             const std::function<bool(std::string_view, std::string_view)>& fn) {
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    // iterate_upper_bound already stops the iterator; this keeps the bound exact whatever the
    // iterator (the writer's overlay iterator merges two sources).
    if (upper && key >= *upper) break;
    if (!fn(key, it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "iterate");
}

Status RocksDbStore::ScanDb(Cf c, std::string_view start, const std::optional<std::string>& upper,
                            const std::function<bool(std::string_view, std::string_view)>& fn) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice;
  if (upper) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(c)));
  return ForEach(it.get(), start, upper, fn);
}

Result<TableEntry> RocksDbStore::Get(std::string_view table, std::string_view key) {
  HUB_RETURN_IF_ERROR(ValidateName("table name", table));
  HUB_RETURN_IF_ERROR(ValidateName("table key", key));
  rocksdb::PinnableSlice stored;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kTablesCf), keys::TableKey(table, key), &stored);
  if (s.IsNotFound()) return NotFound("no such record");
  HUB_RETURN_IF_ERROR(FromRocks(s, "get"));
  TableEntry entry;
  std::string_view value;
  if (!keys::DecodeTableValue(stored.ToStringView(), &entry.revision, &value)) {
    return Corruption("rocksdb store: malformed table record");
  }
  entry.key = std::string(key);
  entry.value = std::string(value);
  return entry;
}

Result<std::vector<TableEntry>> RocksDbStore::Scan(std::string_view table, std::string_view prefix,
                                                   std::string_view start_after, size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("table name", table));
  HUB_RETURN_IF_ERROR(ValidatePrefix(prefix));
  std::vector<TableEntry> out;
  if (limit == 0) return out;
  const std::string start = keys::TablePrefix(table, std::max(prefix, start_after));
  // Keys strictly after start_after: skip start_after itself when the seek lands on it.
  const std::string skip = start_after >= prefix ? start : std::string();
  Status decode_error;
  HUB_RETURN_IF_ERROR(ScanDb(kTablesCf, start,
                             keys::PrefixSuccessor(keys::TablePrefix(table, prefix)),
                             [&](std::string_view key, std::string_view stored) {
                               if (key == skip) return true;
                               TableEntry entry;
                               std::string_view value;
                               if (!keys::DecodeTableValue(stored, &entry.revision, &value)) {
                                 decode_error = Corruption("rocksdb store: malformed table record");
                                 return false;
                               }
                               entry.key = std::string(keys::TableKeyPart(table, key));
                               entry.value = std::string(value);
                               out.push_back(std::move(entry));
                               return out.size() < limit;
                             }));
  HUB_RETURN_IF_ERROR(decode_error);
  return out;
}

Result<std::vector<QueueEntry>> RocksDbStore::ReadQueue(std::string_view queue,
                                                        std::string_view key, uint64_t from_seq,
                                                        size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  HUB_RETURN_IF_ERROR(ValidateName("queue key", key));
  std::vector<QueueEntry> out;
  if (limit == 0) return out;
  Status decode_error;
  HUB_RETURN_IF_ERROR(ScanDb(kQueuesCf, keys::QueueKey(queue, key, from_seq),
                             keys::PrefixSuccessor(keys::QueueKeyPrefix(queue, key)),
                             [&](std::string_view stored_key, std::string_view value) {
                               std::string_view k;
                               uint64_t seq = 0;
                               if (!keys::ParseQueueKey(queue, stored_key, &k, &seq)) {
                                 decode_error = Corruption("rocksdb store: malformed queue key");
                                 return false;
                               }
                               out.push_back(QueueEntry{seq, std::string(value)});
                               return out.size() < limit;
                             }));
  HUB_RETURN_IF_ERROR(decode_error);
  return out;
}

Result<uint64_t> RocksDbStore::CountQueue(std::string_view queue, std::string_view key) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  HUB_RETURN_IF_ERROR(ValidateName("queue key", key));
  // A range count: queues are short (the hub bounds their depth), so no counter is kept.
  const std::string prefix = keys::QueueKeyPrefix(queue, key);
  uint64_t count = 0;
  HUB_RETURN_IF_ERROR(ScanDb(kQueuesCf, prefix, keys::PrefixSuccessor(prefix),
                             [&](std::string_view, std::string_view) {
                               ++count;
                               return true;
                             }));
  return count;
}

Result<std::vector<std::string>> RocksDbStore::ListQueueKeys(std::string_view queue,
                                                             std::string_view start_after,
                                                             size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  std::vector<std::string> out;
  if (limit == 0) return out;
  const std::optional<std::string> upper = keys::PrefixSuccessor(keys::QueuePrefix(queue));
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice;
  if (upper) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kQueuesCf)));
  // Entries of key k sort as name \0 k \0 seq, so name \0 k \x01 lies after all of them and before
  // every greater key: seek there to skip a key's entries in one step.
  std::string target = keys::QueuePrefix(queue);
  if (!start_after.empty()) target.append(start_after).push_back('\x01');
  for (it->Seek(target); it->Valid() && out.size() < limit;) {
    const std::string_view stored_key = it->key().ToStringView();
    if (upper && stored_key >= *upper) break;
    std::string_view key;
    uint64_t seq = 0;
    if (!keys::ParseQueueKey(queue, stored_key, &key, &seq)) {
      return Corruption("rocksdb store: malformed queue key");
    }
    out.emplace_back(key);
    target = keys::QueuePrefix(queue);
    target.append(key).push_back('\x01');
    it->Seek(target);
  }
  HUB_RETURN_IF_ERROR(FromRocks(it->status(), "list queue keys"));
  return out;
}

Result<std::vector<LogEntry>> RocksDbStore::ReadLog(std::string_view log, uint32_t partition,
                                                    uint64_t from_offset, size_t max_count,
                                                    size_t max_bytes) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::vector<LogEntry> out;
  if (max_count == 0) return out;
  const std::string prefix = keys::LogPrefix(log, partition);
  uint64_t bytes = 0;
  Status decode_error;
  HUB_RETURN_IF_ERROR(ScanDb(kLogsCf, keys::LogKey(log, partition, from_offset),
                             keys::PrefixSuccessor(prefix),
                             [&](std::string_view key, std::string_view stored) {
                               LogEntry entry;
                               std::string_view value;
                               if (!keys::ParseLogKey(key, prefix.size(), &entry.offset) ||
                                   !keys::DecodeLogValue(stored, &entry.append_time, &value)) {
                                 decode_error = Corruption("rocksdb store: malformed log record");
                                 return false;
                               }
                               if (!out.empty() && bytes + value.size() > max_bytes) return false;
                               bytes += value.size();
                               entry.value = std::string(value);
                               out.push_back(std::move(entry));
                               return out.size() < max_count;
                             }));
  HUB_RETURN_IF_ERROR(decode_error);
  return out;
}

Result<LogInfo> RocksDbStore::GetLogInfo(std::string_view log, uint32_t partition) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  // The meta record is written in the same RocksDB write as the records it describes, so it is
  // as current as the records a reader can see.
  std::string stored;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kMetaCf), keys::LogMetaKey(log, partition), &stored);
  if (s.IsNotFound()) return LogInfo{};
  HUB_RETURN_IF_ERROR(FromRocks(s, "get log info"));
  keys::LogMeta meta;
  if (!keys::DecodeLogMeta(stored, &meta)) {
    return Corruption("rocksdb store: malformed log meta record");
  }
  return LogInfo{meta.first_offset, meta.next_offset, meta.bytes};
}

}  // namespace iothub::storage
