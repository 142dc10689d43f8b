// The group-commit writer of RocksDbStore: one thread drains the request queue, stages each
// request's writes in one WriteBatchWithIndex per group (whose index doubles as the overlay that
// later requests of the group read through), writes the group once, then runs the callbacks.

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include "base/log.h"
#include "base/metrics.h"
#include "storage/rocksdb/rocksdb_store_impl.h"
#include "storage/validate.h"

namespace iothub::storage {

namespace keys = rocksdb_keys;

namespace {

// Ids are reserved this many at a time by a synced write of the high-water mark, so that a
// restart (which resumes past the mark) never hands out an id twice.
constexpr uint64_t kIdBlock = uint64_t{1} << 20;

size_t RequestBytes(const WriteBatch& batch) {
  size_t bytes = 0;
  for (const auto& op : batch.ops()) bytes += op.name.size() + op.key.size() + op.value.size() + 32;
  return bytes;
}

}  // namespace

struct RocksDbStore::Group {
  // overwrite_key: the index keeps the latest write of each key, as reads through it expect.
  rocksdb::WriteBatchWithIndex batch{rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true};
  uint64_t last_id = 0;
  uint64_t id_limit = 0;
  bool id_limit_raised = false;
  std::map<LogId, keys::LogMeta> logs;  // staged meta of the partitions this group touched
};

namespace {
// One write group's RocksDB Write, including the WAL fsync when synced: the store's part of every
// acknowledged message's latency.
const metrics::Histogram synced_write_seconds = metrics::GetHistogram(
    "iothub_store_write_seconds", "Duration of one group-commit write to RocksDB.",
    {{"sync", "true"}}, metrics::LatencyBuckets());
const metrics::Histogram unsynced_write_seconds = metrics::GetHistogram(
    "iothub_store_write_seconds", "Duration of one group-commit write to RocksDB.",
    {{"sync", "false"}}, metrics::LatencyBuckets());
}  // namespace

void RocksDbStore::WriterLoop() {
  std::vector<Request> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // closing, and every request before it is done
      size_t bytes = 0;
      while (!queue_.empty() && group.size() < options_.max_group_batches &&
             (group.empty() || bytes < options_.max_group_bytes)) {
        if (const auto* commit = std::get_if<CommitRequest>(&queue_.front())) {
          bytes += RequestBytes(commit->batch);
        }
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessGroup(group);
    group.clear();
  }
}

void RocksDbStore::ProcessGroup(std::vector<Request>& requests) {
  // Per request: a commit's result or a trim's count; unset when the group failed before it.
  std::vector<std::optional<Result<CommitResult>>> commit_results(requests.size());
  std::vector<std::optional<Result<uint64_t>>> trim_results(requests.size());
  Group group;
  group.last_id = last_id_;
  group.id_limit = id_limit_;
  bool sync = false;
  Status group_status = write_error_;

  for (size_t i = 0; i < requests.size() && group_status.ok(); ++i) {
    Undo undo{group.last_id, {}};
    group.batch.SetSavePoint();
    Status s;
    if (auto* commit = std::get_if<CommitRequest>(&requests[i])) {
      CommitResult result;
      s = ValidateBatch(commit->batch);
      if (s.ok()) s = ApplyCommit(commit->batch, &group, &undo, &result);
      if (s.ok() && commit->durability == Durability::kSync) sync = true;
      commit_results[i] = s.ok() ? Result<CommitResult>(std::move(result)) : s;
    } else {
      trim_results[i] = ApplyTrim(std::get<TrimRequest>(requests[i]), &group, &undo);
      s = trim_results[i]->status();
    }
    if (s.ok()) {
      group.batch.PopSavePoint().PermitUncheckedError();
      continue;
    }
    // This request fails alone: drop what it staged, keep the group going.
    group_status = FromRocks(group.batch.RollbackToSavePoint(), "rollback");
    Revert(&group, undo);
  }

  if (group_status.ok() && group.id_limit_raised) {
    group_status = FromRocks(
        group.batch.Put(cf(kMetaCf), keys::kIdLimitKey, keys::EncodeFixed64(group.id_limit)),
        "stage id limit");
    sync = true;  // ids below the new limit are handed out only once it is on disk
  }
  for (const auto& [id, meta] : group.logs) {
    if (!group_status.ok()) break;
    auto committed = logs_.find(id);
    if (committed != logs_.end() && committed->second.first_offset == meta.first_offset &&
        committed->second.next_offset == meta.next_offset &&
        committed->second.bytes == meta.bytes) {
      continue;
    }
    group_status = FromRocks(group.batch.Put(cf(kMetaCf), keys::LogMetaKey(id.first, id.second),
                                             keys::EncodeLogMeta(meta)),
                             "stage log meta");
  }

  if (group_status.ok()) {
    rocksdb::WriteBatch* batch = group.batch.GetWriteBatch();
    if (batch->Count() > 0) {
      rocksdb::WriteOptions write_options;
      write_options.sync = sync;
      auto started = std::chrono::steady_clock::now();
      group_status = FromRocks(db_->Write(write_options, batch), "write");
      (sync ? synced_write_seconds : unsynced_write_seconds)
          .Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (group_status.ok()) {
        ++write_groups_;
        if (sync) ++syncs_;
        unsynced_ = !sync;
      }
    } else if (sync && unsynced_) {
      // Nothing to write, but a kSync commit must not be acknowledged before the kAsync commits
      // it follows are durable.
      group_status = FromRocks(db_->FlushWAL(/*sync=*/true), "sync wal");
      if (group_status.ok()) {
        ++syncs_;
        unsynced_ = false;
      }
    }
  }

  if (group_status.ok()) {
    last_id_ = group.last_id;
    id_limit_ = group.id_limit;
    for (auto& [id, meta] : group.logs) logs_[id] = meta;
  } else if (write_error_.ok()) {
    // RocksDB may have persisted part of a failed write; never guess what: refuse every later
    // write until the process restarts and recovers from the WAL.
    write_error_ = group_status;
    HUB_LOG_ERROR("storage", "write failed, the store now refuses writes: {}",
                  group_status.ToString());
  }

  // Outcomes: when the group failed, every request that had not failed by itself fails with it.
  auto outcome = [&]<typename T>(std::optional<Result<T>>& staged) -> Result<T> {
    if (staged && (!staged->has_value() || group_status.ok())) return std::move(*staged);
    return group_status;
  };
  std::vector<Result<CommitResult>> results;
  results.reserve(requests.size());
  uint64_t committed = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!std::holds_alternative<CommitRequest>(requests[i])) continue;
    results.push_back(outcome(commit_results[i]));
    if (results.back().has_value()) ++committed;
  }
  // Counted before any callback runs, so that a caller woken by one sees its commit counted.
  commits_ += committed;

  // Callbacks and trim results, in request order, after the write (and its sync) returned.
  size_t next_result = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (auto* commit = std::get_if<CommitRequest>(&requests[i])) {
      Result<CommitResult>& result = results[next_result++];
      if (!commit->done) continue;
      try {
        commit->done(std::move(result));
      } catch (const std::exception& e) {
        HUB_LOG_ERROR("storage", "commit callback threw: {}", e.what());
      } catch (...) {
        HUB_LOG_ERROR("storage", "commit callback threw");
      }
    } else {
      std::get<TrimRequest>(requests[i]).result->set_value(outcome(trim_results[i]));
    }
  }
}

Status RocksDbStore::ApplyCommit(const WriteBatch& batch, Group* group, Undo* undo,
                                 CommitResult* out) {
  using OpType = WriteBatch::OpType;
  out->revisions_or_ids.assign(batch.size(), 0);
  rocksdb::WriteBatchWithIndex& wb = group->batch;
  for (size_t i = 0; i < batch.ops().size(); ++i) {
    const WriteBatch::Op& op = batch.ops()[i];
    rocksdb::Status s;
    switch (op.type) {
      case OpType::kPut:
      case OpType::kDelete: {
        const std::string key = keys::TableKey(op.name, op.key);
        if (op.conditional) {
          HUB_ASSIGN_OR_RETURN(uint64_t current, StagedRevision(group, key));
          // DeleteIf needs the record to exist: expected 0 never matches a delete.
          if (current != op.expected_revision || (op.type == OpType::kDelete && current == 0)) {
            return PreconditionFailed("table '" + op.name + "' key '" + op.key + "': revision " +
                                      std::to_string(current) + ", expected " +
                                      std::to_string(op.expected_revision));
          }
        }
        if (op.type == OpType::kPut) {
          out->revisions_or_ids[i] = NextId(group);
          s = wb.Put(cf(kTablesCf), key,
                     keys::EncodeTableValue(out->revisions_or_ids[i], op.value));
        } else {
          s = wb.Delete(cf(kTablesCf), key);
        }
        break;
      }
      case OpType::kDeletePrefix:
      case OpType::kQueueDeleteAll: {
        // Enumerate through the overlay, so records written earlier in this group (not yet in
        // the database) are deleted too, and delete them one by one: a later op of the group
        // may write the same keys again.
        const Cf c = op.type == OpType::kDeletePrefix ? kTablesCf : kQueuesCf;
        const std::string prefix = op.type == OpType::kDeletePrefix
                                       ? keys::TablePrefix(op.name, op.key)
                                       : keys::QueueKeyPrefix(op.name, op.key);
        std::vector<std::string> doomed;
        HUB_RETURN_IF_ERROR(ScanStaged(group, c, prefix, keys::PrefixSuccessor(prefix),
                                       [&](std::string_view key, std::string_view) {
                                         doomed.emplace_back(key);
                                         return true;
                                       }));
        for (const auto& key : doomed) {
          s = wb.Delete(cf(c), key);
          if (!s.ok()) break;
        }
        break;
      }
      case OpType::kQueueAppend:
        out->revisions_or_ids[i] = NextId(group);
        s = wb.Put(cf(kQueuesCf), keys::QueueKey(op.name, op.key, out->revisions_or_ids[i]),
                   op.value);
        break;
      case OpType::kQueueDelete:
        s = wb.Delete(cf(kQueuesCf), keys::QueueKey(op.name, op.key, op.number));
        break;
      case OpType::kLogAppend: {
        const auto partition = static_cast<uint32_t>(op.number);
        keys::LogMeta* meta = StageLog(group, LogId(op.name, partition), undo);
        out->revisions_or_ids[i] = meta->next_offset;
        s = wb.Put(cf(kLogsCf), keys::LogKey(op.name, partition, meta->next_offset),
                   keys::EncodeLogValue(op.time, op.value));
        ++meta->next_offset;
        meta->bytes += op.value.size();
        break;
      }
    }
    HUB_RETURN_IF_ERROR(FromRocks(s, "stage write"));
  }
  return Status::Ok();
}

Result<uint64_t> RocksDbStore::ApplyTrim(const TrimRequest& trim, Group* group, Undo* undo) {
  const LogId id(trim.log, trim.partition);
  if (!group->logs.contains(id) && !logs_.contains(id)) return uint64_t{0};  // never written
  keys::LogMeta* meta = StageLog(group, id, undo);
  const std::string prefix = keys::LogPrefix(trim.log, trim.partition);
  std::vector<std::string> doomed;
  Status decode_error;
  bool reached_end = true;
  HUB_RETURN_IF_ERROR(
      ScanStaged(group, kLogsCf, keys::LogKey(trim.log, trim.partition, meta->first_offset),
                 keys::PrefixSuccessor(prefix), [&](std::string_view key, std::string_view stored) {
                   uint64_t offset = 0;
                   Timestamp time;
                   std::string_view value;
                   if (!keys::ParseLogKey(key, prefix.size(), &offset) ||
                       !keys::DecodeLogValue(stored, &time, &value)) {
                     decode_error = Corruption("rocksdb store: malformed log record");
                     return false;
                   }
                   bool drop = false;
                   switch (trim.kind) {
                     case TrimKind::kBefore:
                       drop = offset < trim.limit;
                       break;
                     case TrimKind::kOlderThan:
                       drop = time < trim.older_than;
                       break;
                     case TrimKind::kToSize:
                       drop = meta->bytes > trim.limit;
                       break;
                   }
                   if (!drop) {
                     reached_end = false;
                     meta->first_offset = offset;
                     return false;
                   }
                   doomed.emplace_back(key);
                   meta->bytes -= std::min<uint64_t>(meta->bytes, value.size());
                   return true;
                 }));
  HUB_RETURN_IF_ERROR(decode_error);
  if (reached_end) meta->first_offset = meta->next_offset;
  for (const auto& key : doomed) {
    HUB_RETURN_IF_ERROR(FromRocks(group->batch.Delete(cf(kLogsCf), key), "stage trim"));
  }
  return uint64_t{doomed.size()};
}

Status RocksDbStore::ScanStaged(Group* group, Cf c, std::string_view start,
                                const std::optional<std::string>& upper,
                                const std::function<bool(std::string_view, std::string_view)>& fn) {
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper_slice;
  if (upper) {
    upper_slice = *upper;
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      group->batch.NewIteratorWithBase(cf(c), db_->NewIterator(ro, cf(c)), &ro));
  return ForEach(it.get(), start, upper, fn);
}

Result<uint64_t> RocksDbStore::StagedRevision(Group* group, const std::string& table_key) {
  rocksdb::PinnableSlice stored;
  rocksdb::Status s = group->batch.GetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(),
                                                     cf(kTablesCf), table_key, &stored);
  if (s.IsNotFound()) return uint64_t{0};
  HUB_RETURN_IF_ERROR(FromRocks(s, "read revision"));
  uint64_t revision = 0;
  std::string_view value;
  if (!keys::DecodeTableValue(stored.ToStringView(), &revision, &value)) {
    return Corruption("rocksdb store: malformed table record");
  }
  return revision;
}

uint64_t RocksDbStore::NextId(Group* group) {
  if (group->last_id >= group->id_limit) {
    group->id_limit = group->last_id + kIdBlock;
    group->id_limit_raised = true;
  }
  return ++group->last_id;
}

keys::LogMeta* RocksDbStore::StageLog(Group* group, const LogId& id, Undo* undo) {
  auto staged = group->logs.find(id);
  const bool recorded = std::any_of(undo->logs.begin(), undo->logs.end(),
                                    [&](const auto& entry) { return entry.first == id; });
  if (staged != group->logs.end()) {
    if (!recorded) undo->logs.emplace_back(id, staged->second);
    return &staged->second;
  }
  auto committed = logs_.find(id);
  if (!recorded) undo->logs.emplace_back(id, std::nullopt);
  return &group->logs.emplace(id, committed == logs_.end() ? keys::LogMeta{} : committed->second)
              .first->second;
}

void RocksDbStore::Revert(Group* group, Undo& undo) {
  group->last_id = undo.last_id;
  for (auto it = undo.logs.rbegin(); it != undo.logs.rend(); ++it) {
    if (it->second) {
      group->logs[it->first] = *it->second;
    } else {
      group->logs.erase(it->first);
    }
  }
}

}  // namespace iothub::storage
