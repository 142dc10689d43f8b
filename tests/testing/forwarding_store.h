#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace iothub::testing {

// A Store that forwards every call to another one. Tests and benchmarks derive from it and
// override only what they intercept (usually Commit: injecting failures, holding commits back,
// dropping syncs). `inner` must outlive it; it may be a member of the derived class (it is only
// stored here, never used during construction).
class ForwardingStore : public storage::Store {
 public:
  explicit ForwardingStore(storage::Store& inner) : inner_(inner) {}

  void Commit(storage::WriteBatch batch, storage::Durability durability,
              storage::CommitCallback done) override {
    inner_.Commit(std::move(batch), durability, std::move(done));
  }
  Result<storage::TableEntry> Get(std::string_view table, std::string_view key) override {
    return inner_.Get(table, key);
  }
  Result<std::vector<storage::TableEntry>> Scan(std::string_view table, std::string_view prefix,
                                                std::string_view start_after,
                                                size_t limit) override {
    return inner_.Scan(table, prefix, start_after, limit);
  }
  Result<std::vector<storage::QueueEntry>> ReadQueue(std::string_view queue, std::string_view key,
                                                     uint64_t from_seq, size_t limit) override {
    return inner_.ReadQueue(queue, key, from_seq, limit);
  }
  Result<uint64_t> CountQueue(std::string_view queue, std::string_view key) override {
    return inner_.CountQueue(queue, key);
  }
  Result<std::vector<std::string>> ListQueueKeys(std::string_view queue,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    return inner_.ListQueueKeys(queue, start_after, limit);
  }
  Result<std::vector<storage::LogEntry>> ReadLog(std::string_view log, uint32_t partition,
                                                 uint64_t from_offset, size_t max_count,
                                                 size_t max_bytes) override {
    return inner_.ReadLog(log, partition, from_offset, max_count, max_bytes);
  }
  Result<storage::LogInfo> GetLogInfo(std::string_view log, uint32_t partition) override {
    return inner_.GetLogInfo(log, partition);
  }
  Result<uint64_t> TrimLogBefore(std::string_view log, uint32_t partition,
                                 uint64_t before_offset) override {
    return inner_.TrimLogBefore(log, partition, before_offset);
  }
  Result<uint64_t> TrimLogOlderThan(std::string_view log, uint32_t partition,
                                    Timestamp older_than) override {
    return inner_.TrimLogOlderThan(log, partition, older_than);
  }
  Result<uint64_t> TrimLogToSize(std::string_view log, uint32_t partition,
                                 uint64_t max_bytes) override {
    return inner_.TrimLogToSize(log, partition, max_bytes);
  }
  storage::StoreStats stats() const override { return inner_.stats(); }
  void Close() override { inner_.Close(); }

 protected:
  storage::Store& inner_;
};

}  // namespace iothub::testing
