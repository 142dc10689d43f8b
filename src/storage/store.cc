#include "storage/store.h"

#include <future>

namespace iothub::storage {

size_t WriteBatch::Add(Op op) {
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

size_t WriteBatch::Put(std::string_view table, std::string_view key, std::string_view value) {
  return Add({.type = OpType::kPut,
              .name = std::string(table),
              .key = std::string(key),
              .value = std::string(value)});
}

size_t WriteBatch::PutIf(std::string_view table, std::string_view key, std::string_view value,
                         uint64_t expected_revision) {
  return Add({.type = OpType::kPut,
              .name = std::string(table),
              .key = std::string(key),
              .value = std::string(value),
              .conditional = true,
              .expected_revision = expected_revision});
}

size_t WriteBatch::Delete(std::string_view table, std::string_view key) {
  return Add({.type = OpType::kDelete, .name = std::string(table), .key = std::string(key)});
}

size_t WriteBatch::DeleteIf(std::string_view table, std::string_view key,
                            uint64_t expected_revision) {
  return Add({.type = OpType::kDelete,
              .name = std::string(table),
              .key = std::string(key),
              .conditional = true,
              .expected_revision = expected_revision});
}

size_t WriteBatch::DeletePrefix(std::string_view table, std::string_view prefix) {
  return Add(
      {.type = OpType::kDeletePrefix, .name = std::string(table), .key = std::string(prefix)});
}

size_t WriteBatch::QueueAppend(std::string_view queue, std::string_view key,
                               std::string_view value) {
  return Add({.type = OpType::kQueueAppend,
              .name = std::string(queue),
              .key = std::string(key),
              .value = std::string(value)});
}

size_t WriteBatch::QueueDelete(std::string_view queue, std::string_view key, uint64_t seq) {
  return Add({.type = OpType::kQueueDelete,
              .name = std::string(queue),
              .key = std::string(key),
              .number = seq});
}

size_t WriteBatch::QueueDeleteAll(std::string_view queue, std::string_view key) {
  return Add(
      {.type = OpType::kQueueDeleteAll, .name = std::string(queue), .key = std::string(key)});
}

size_t WriteBatch::LogAppend(std::string_view log, uint32_t partition, Timestamp append_time,
                             std::string_view value) {
  return Add({.type = OpType::kLogAppend,
              .name = std::string(log),
              .value = std::string(value),
              .number = partition,
              .time = append_time});
}

Result<CommitResult> Store::CommitAndWait(WriteBatch batch, Durability durability) {
  std::promise<Result<CommitResult>> promise;
  auto future = promise.get_future();
  Commit(std::move(batch), durability,
         [&promise](Result<CommitResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace iothub::storage
