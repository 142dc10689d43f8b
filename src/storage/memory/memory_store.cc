#include "storage/memory/memory_store.h"

#include <algorithm>
#include <optional>

#include "storage/validate.h"

namespace iothub::storage {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

void MemoryStore::Commit(WriteBatch batch, Durability durability, CommitCallback done) {
  Result<CommitResult> result = [&]() -> Result<CommitResult> {
    HUB_RETURN_IF_ERROR(ValidateBatch(batch));
    std::lock_guard lock(mu_);
    if (closed_) return Unavailable("store is closed");
    CommitResult out;
    out.revisions_or_ids.resize(batch.size(), 0);
    Undo undo;
    const uint64_t last_id_before = last_id_;
    for (size_t i = 0; i < batch.ops().size(); ++i) {
      Status s = ApplyOp(batch.ops()[i], &out.revisions_or_ids[i], &undo);
      if (!s.ok()) {
        // All or nothing: revert what the earlier ops of this batch did, newest first.
        for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
        last_id_ = last_id_before;
        return s;
      }
    }
    ++stats_.commits;
    ++stats_.write_groups;
    if (durability == Durability::kSync) ++stats_.syncs;
    return out;
  }();
  if (done) done(std::move(result));
}

Status MemoryStore::ApplyOp(const WriteBatch::Op& op, uint64_t* result, Undo* undo) {
  using OpType = WriteBatch::OpType;
  switch (op.type) {
    case OpType::kPut:
    case OpType::kDelete: {
      Table& table = tables_[op.name];
      auto it = table.find(op.key);
      if (op.conditional) {
        const uint64_t current = it == table.end() ? 0 : it->second.revision;
        // DeleteIf needs the record to exist: expected 0 never matches a delete.
        if (current != op.expected_revision || (op.type == OpType::kDelete && current == 0)) {
          return PreconditionFailed("table '" + op.name + "' key '" + op.key + "': revision " +
                                    std::to_string(current) + ", expected " +
                                    std::to_string(op.expected_revision));
        }
      }
      std::optional<Record> old;
      if (it != table.end()) old = it->second;
      undo->push_back([this, name = op.name, key = op.key, old = std::move(old)] {
        Table& t = tables_[name];
        if (old) {
          t[key] = *old;
        } else {
          t.erase(key);
        }
      });
      if (op.type == OpType::kPut) {
        *result = ++last_id_;
        table[op.key] = Record{op.value, *result};
      } else if (it != table.end()) {
        table.erase(it);
      }
      return Status::Ok();
    }
    case OpType::kDeletePrefix: {
      Table& table = tables_[op.name];
      std::vector<std::pair<std::string, Record>> removed;
      for (auto it = table.lower_bound(op.key);
           it != table.end() && StartsWith(it->first, op.key);) {
        removed.emplace_back(it->first, std::move(it->second));
        it = table.erase(it);
      }
      undo->push_back([this, name = op.name, removed = std::move(removed)] {
        Table& t = tables_[name];
        for (const auto& [key, record] : removed) t[key] = record;
      });
      return Status::Ok();
    }
    case OpType::kQueueAppend: {
      *result = ++last_id_;
      queues_[op.name][op.key][*result] = op.value;
      undo->push_back([this, name = op.name, key = op.key, seq = *result] {
        Queue& q = queues_[name];
        auto it = q.find(key);
        it->second.erase(seq);
        if (it->second.empty()) q.erase(it);
      });
      return Status::Ok();
    }
    case OpType::kQueueDelete: {
      Queue& queue = queues_[op.name];
      auto key_it = queue.find(op.key);
      if (key_it == queue.end()) return Status::Ok();
      auto entry = key_it->second.find(op.number);
      if (entry == key_it->second.end()) return Status::Ok();
      undo->push_back([this, name = op.name, key = op.key, seq = op.number,
                       value = std::move(entry->second)] { queues_[name][key][seq] = value; });
      key_it->second.erase(entry);
      if (key_it->second.empty()) queue.erase(key_it);
      return Status::Ok();
    }
    case OpType::kQueueDeleteAll: {
      Queue& queue = queues_[op.name];
      auto key_it = queue.find(op.key);
      if (key_it == queue.end()) return Status::Ok();
      undo->push_back([this, name = op.name, key = op.key, entries = std::move(key_it->second)] {
        queues_[name][key] = entries;
      });
      queue.erase(key_it);
      return Status::Ok();
    }
    case OpType::kLogAppend: {
      Log& log = logs_[LogKey(op.name, static_cast<uint32_t>(op.number))];
      *result = log.next_offset;
      log.entries.push_back(LogEntry{log.next_offset, op.time, op.value});
      ++log.next_offset;
      log.bytes += op.value.size();
      undo->push_back([&log] {
        log.bytes -= log.entries.back().value.size();
        --log.next_offset;
        log.entries.pop_back();
      });
      return Status::Ok();
    }
  }
  return InvalidArgument("unknown write op");
}

Result<TableEntry> MemoryStore::Get(std::string_view table, std::string_view key) {
  HUB_RETURN_IF_ERROR(ValidateName("table name", table));
  HUB_RETURN_IF_ERROR(ValidateName("table key", key));
  std::lock_guard lock(mu_);
  auto t = tables_.find(table);
  if (t == tables_.end()) return NotFound("no such record");
  auto it = t->second.find(key);
  if (it == t->second.end()) return NotFound("no such record");
  return TableEntry{it->first, it->second.value, it->second.revision};
}

Result<std::vector<TableEntry>> MemoryStore::Scan(std::string_view table, std::string_view prefix,
                                                  std::string_view start_after, size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("table name", table));
  HUB_RETURN_IF_ERROR(ValidatePrefix(prefix));
  std::vector<TableEntry> out;
  std::lock_guard lock(mu_);
  auto t = tables_.find(table);
  if (t == tables_.end()) return out;
  auto it =
      start_after >= prefix ? t->second.upper_bound(start_after) : t->second.lower_bound(prefix);
  for (; it != t->second.end() && out.size() < limit && StartsWith(it->first, prefix); ++it) {
    out.push_back(TableEntry{it->first, it->second.value, it->second.revision});
  }
  return out;
}

Result<std::vector<QueueEntry>> MemoryStore::ReadQueue(std::string_view queue, std::string_view key,
                                                       uint64_t from_seq, size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  HUB_RETURN_IF_ERROR(ValidateName("queue key", key));
  std::vector<QueueEntry> out;
  std::lock_guard lock(mu_);
  auto q = queues_.find(queue);
  if (q == queues_.end()) return out;
  auto k = q->second.find(key);
  if (k == q->second.end()) return out;
  for (auto it = k->second.lower_bound(from_seq); it != k->second.end() && out.size() < limit;
       ++it) {
    out.push_back(QueueEntry{it->first, it->second});
  }
  return out;
}

Result<uint64_t> MemoryStore::CountQueue(std::string_view queue, std::string_view key) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  HUB_RETURN_IF_ERROR(ValidateName("queue key", key));
  std::lock_guard lock(mu_);
  auto q = queues_.find(queue);
  if (q == queues_.end()) return uint64_t{0};
  auto k = q->second.find(key);
  return k == q->second.end() ? uint64_t{0} : uint64_t{k->second.size()};
}

Result<std::vector<std::string>> MemoryStore::ListQueueKeys(std::string_view queue,
                                                            std::string_view start_after,
                                                            size_t limit) {
  HUB_RETURN_IF_ERROR(ValidateName("queue name", queue));
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  auto q = queues_.find(queue);
  if (q == queues_.end()) return out;
  for (auto it = q->second.upper_bound(start_after); it != q->second.end() && out.size() < limit;
       ++it) {
    out.push_back(it->first);
  }
  return out;
}

MemoryStore::Log* MemoryStore::FindLog(std::string_view log, uint32_t partition) {
  auto it = logs_.find(LogKey(std::string(log), partition));
  return it == logs_.end() ? nullptr : &it->second;
}

Result<std::vector<LogEntry>> MemoryStore::ReadLog(std::string_view log, uint32_t partition,
                                                   uint64_t from_offset, size_t max_count,
                                                   size_t max_bytes) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::vector<LogEntry> out;
  std::lock_guard lock(mu_);
  const Log* l = FindLog(log, partition);
  if (l == nullptr || from_offset >= l->next_offset) return out;
  uint64_t bytes = 0;
  for (uint64_t i = std::max(from_offset, l->first_offset) - l->first_offset;
       i < l->entries.size() && out.size() < max_count; ++i) {
    const LogEntry& e = l->entries[i];
    if (!out.empty() && bytes + e.value.size() > max_bytes) break;
    bytes += e.value.size();
    out.push_back(e);
  }
  return out;
}

Result<LogInfo> MemoryStore::GetLogInfo(std::string_view log, uint32_t partition) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::lock_guard lock(mu_);
  const Log* l = FindLog(log, partition);
  if (l == nullptr) return LogInfo{};
  return LogInfo{l->first_offset, l->next_offset, l->bytes};
}

uint64_t MemoryStore::TrimHead(Log* log,
                               const std::function<bool(const Log&, const LogEntry&)>& drop) {
  uint64_t dropped = 0;
  while (!log->entries.empty() && drop(*log, log->entries.front())) {
    log->bytes -= log->entries.front().value.size();
    ++log->first_offset;
    log->entries.pop_front();
    ++dropped;
  }
  return dropped;
}

Result<uint64_t> MemoryStore::TrimLogBefore(std::string_view log, uint32_t partition,
                                            uint64_t before_offset) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::lock_guard lock(mu_);
  if (closed_) return Unavailable("store is closed");
  Log* l = FindLog(log, partition);
  if (l == nullptr) return uint64_t{0};
  return TrimHead(l, [&](const Log&, const LogEntry& e) { return e.offset < before_offset; });
}

Result<uint64_t> MemoryStore::TrimLogOlderThan(std::string_view log, uint32_t partition,
                                               Timestamp older_than) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::lock_guard lock(mu_);
  if (closed_) return Unavailable("store is closed");
  Log* l = FindLog(log, partition);
  if (l == nullptr) return uint64_t{0};
  return TrimHead(l, [&](const Log&, const LogEntry& e) { return e.append_time < older_than; });
}

Result<uint64_t> MemoryStore::TrimLogToSize(std::string_view log, uint32_t partition,
                                            uint64_t max_bytes) {
  HUB_RETURN_IF_ERROR(ValidateName("log name", log));
  std::lock_guard lock(mu_);
  if (closed_) return Unavailable("store is closed");
  Log* l = FindLog(log, partition);
  if (l == nullptr) return uint64_t{0};
  return TrimHead(l, [&](const Log& lg, const LogEntry&) { return lg.bytes > max_bytes; });
}

StoreStats MemoryStore::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void MemoryStore::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

}  // namespace iothub::storage
