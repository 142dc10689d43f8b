#include "core/telemetry/consumer_groups.h"

#include <cstdio>
#include <future>
#include <utility>

#include "base/coding.h"
#include "base/log.h"
#include "core/telemetry/ordered_commit.h"

namespace iothub::core {
namespace {

constexpr size_t kMaxNameLength = 50;
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kScanPage = 256;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Both records are a version byte and one big-endian 64-bit number (group: creation time in unix
// milliseconds; checkpoint: the offset).
std::string EncodeRecord(uint64_t v) {
  std::string out(1, static_cast<char>(kRecordVersion));
  PutFixed64BE(&out, v);
  return out;
}

bool DecodeRecord(std::string_view bytes, uint64_t* v) {
  Decoder d(bytes);
  uint8_t version = 0;
  return d.GetByte(&version) && version == kRecordVersion && d.GetFixed64BE(v) && d.done();
}

Status GroupNotFound(std::string_view name) {
  return NotFound("consumer group '" + std::string(name) + "' does not exist",
                  "ConsumerGroupNotFound");
}

}  // namespace

Status ValidateConsumerGroupName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength && IsAlnum(name.front()) &&
            IsAlnum(name.back());
  for (char c : name) {
    if (!ok) break;
    ok = IsAlnum(c) || c == '.' || c == '_' || c == '-';
  }
  if (ok) return Status::Ok();
  return InvalidArgument(
      "consumer group names are 1-50 letters, digits, '.', '_' or '-', beginning and ending with "
      "a letter or digit",
      "InvalidConsumerGroupName");
}

std::string CheckpointKey(std::string_view group, uint32_t partition) {
  char digits[16];
  std::snprintf(digits, sizeof(digits), "%010u", static_cast<unsigned>(partition));
  std::string key(group);
  key.push_back('/');
  key.append(digits);
  return key;
}

ConsumerGroups::ConsumerGroups(storage::Store& store, Clock& clock, size_t max_groups)
    : store_(store), clock_(clock), max_groups_(max_groups) {}

Status ConsumerGroups::Load() {
  std::set<std::string, std::less<>> loaded;
  std::string after;
  while (true) {
    HUB_ASSIGN_OR_RETURN(auto page, store_.Scan(kConsumerGroupsTable, "", after, kScanPage));
    for (auto& entry : page) {
      if (!ValidateConsumerGroupName(entry.key).ok()) {
        // Only this class writes the table; a bad key means damage, and skipping it keeps the
        // rest of the hub usable.
        HUB_LOG_WARN("telemetry", "ignoring stored consumer group with an invalid name '{}'",
                     entry.key);
        continue;
      }
      loaded.insert(entry.key);
    }
    if (page.size() < kScanPage) break;
    after = page.back().key;
  }
  std::lock_guard lock(mu_);
  groups_ = std::move(loaded);
  return Status::Ok();
}

Status ConsumerGroups::Create(std::string_view name) {
  if (name == kDefaultConsumerGroup) {
    return AlreadyExists("consumer group '$Default' always exists", "ConsumerGroupAlreadyExists");
  }
  HUB_RETURN_IF_ERROR(ValidateConsumerGroupName(name));
  std::string group(name);
  storage::WriteBatch batch;
  // Checkpoints of an earlier group of the same name can survive a delete that crashed between
  // its steps (on a store without atomic batches): they must not reappear in the new group.
  batch.DeletePrefix(kCheckpointsTable, group + "/");
  // PutIf absent: the cache says absent, and a second writer over the same store must not be
  // silently overwritten.
  batch.PutIf(kConsumerGroupsTable, group,
              EncodeRecord(static_cast<uint64_t>(ToUnixMillis(clock_.Now()))), 0);
  return Change(group, std::move(batch), /*create=*/true);
}

Status ConsumerGroups::Delete(std::string_view name) {
  if (name == kDefaultConsumerGroup) {
    return InvalidArgument("consumer group '$Default' cannot be deleted",
                           "InvalidConsumerGroupName");
  }
  std::string group(name);
  storage::WriteBatch batch;
  // Group record first: once it is gone the group is gone, whatever happens to the checkpoints.
  batch.Delete(kConsumerGroupsTable, group);
  batch.DeletePrefix(kCheckpointsTable, group + "/");
  return Change(group, std::move(batch), /*create=*/false);
}

Status ConsumerGroups::Change(const std::string& group, storage::WriteBatch batch, bool create) {
  std::promise<Result<storage::CommitResult>> promise;
  auto future = promise.get_future();
  OrderedCommit commit(
      [&promise](Result<storage::CommitResult> r) { promise.set_value(std::move(r)); });
  {
    std::lock_guard lock(mu_);
    if (changing_.contains(group)) {
      return Unavailable("consumer group '" + group + "' is being changed; try again",
                         "ConsumerGroupBusy");
    }
    if (create) {
      if (groups_.contains(group)) {
        return AlreadyExists("consumer group '" + group + "' already exists",
                             "ConsumerGroupAlreadyExists");
      }
      // Groups being created or deleted count too: conservative, and only while they commit.
      if (groups_.size() + changing_.size() + 1 >= max_groups_) {
        return ResourceExhausted(
            "at most " + std::to_string(max_groups_) + " consumer groups (including $Default)",
            "ConsumerGroupLimitExceeded");
      }
    } else {
      if (!groups_.contains(group)) return GroupNotFound(group);
      // Gone for checkpoints from now on: none can be issued after the deletion's commit.
      groups_.erase(groups_.find(group));
    }
    changing_.insert(group);
    // Issued under the mutex, so it is ordered against every checkpoint commit.
    commit.Start(store_, std::move(batch), storage::Durability::kSync);
  }
  commit.Release();
  // Waited for without the mutex: store callbacks that call back into us must not deadlock.
  Result<storage::CommitResult> committed = future.get();
  std::lock_guard lock(mu_);
  changing_.erase(group);
  if (committed.has_value() == create) groups_.insert(group);  // created, or deletion failed
  return committed ? Status::Ok() : committed.error();
}

std::vector<std::string> ConsumerGroups::List() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  names.reserve(groups_.size() + 1);
  names.emplace_back(kDefaultConsumerGroup);
  names.insert(names.end(), groups_.begin(), groups_.end());
  return names;
}

bool ConsumerGroups::Exists(std::string_view name) const {
  std::lock_guard lock(mu_);
  return ExistsLocked(name);
}

bool ConsumerGroups::ExistsLocked(std::string_view name) const {
  return name == kDefaultConsumerGroup || groups_.contains(name);
}

void ConsumerGroups::SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset,
                                   std::function<void(Status)> done) {
  OrderedCommit commit(
      [done](Result<storage::CommitResult> r) { done(r ? Status::Ok() : r.error()); });
  bool exists;
  {
    std::lock_guard lock(mu_);
    exists = ExistsLocked(group);
    if (exists) {
      storage::WriteBatch batch;
      batch.Put(kCheckpointsTable, CheckpointKey(group, partition), EncodeRecord(offset));
      commit.Start(store_, std::move(batch), storage::Durability::kSync);
    }
  }
  if (!exists) {
    done(GroupNotFound(group));  // outside the mutex: `done` may call back into us
    return;
  }
  commit.Release();
}

Result<std::optional<uint64_t>> ConsumerGroups::GetCheckpoint(std::string_view group,
                                                              uint32_t partition) const {
  if (!Exists(group)) return GroupNotFound(group);
  auto entry = store_.Get(kCheckpointsTable, CheckpointKey(group, partition));
  if (!entry) {
    if (entry.error().code() == StatusCode::kNotFound) return std::optional<uint64_t>();
    return entry.error();
  }
  uint64_t offset = 0;
  if (!DecodeRecord(entry->value, &offset)) {
    return Corruption("undecodable checkpoint for consumer group '" + std::string(group) + "'");
  }
  return std::optional<uint64_t>(offset);
}

}  // namespace iothub::core
