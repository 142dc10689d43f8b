#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "storage/store.h"

namespace iothub::core {

// The consumer group every hub has; it cannot be created or deleted.
inline constexpr std::string_view kDefaultConsumerGroup = "$Default";

// Store tables of the consumer-group registry (names are part of the stored format: never change).
inline constexpr std::string_view kConsumerGroupsTable = "telemetry_consumer_groups";
inline constexpr std::string_view kCheckpointsTable = "telemetry_checkpoints";

// A name a client may create: 1-50 characters of ASCII letters, digits, '.', '_' and '-', beginning
// and ending with a letter or digit (the Event Hubs rule). Case-sensitive. "$Default" is not
// creatable (it always exists). InvalidArgument with reason "InvalidConsumerGroupName" otherwise.
Status ValidateConsumerGroupName(std::string_view name);

// The checkpoint table key of (group, partition): "<group>/<partition as 10 decimal digits>". The
// store forbids '\0' in keys, and '/' cannot occur in a group name, so the prefix "<group>/" holds
// exactly that group's checkpoints.
std::string CheckpointKey(std::string_view group, uint32_t partition);

// The consumer groups of the telemetry log and their checkpoints. TelemetryLog owns one and checks
// partitions and offsets before calling it.
//
// Thread-safe. The set of groups is cached in memory (loaded once by Load) and changed only through
// this object, so one ConsumerGroups per store. Group changes and checkpoint writes are issued to
// the store under one mutex (and waited for outside it): a checkpoint written before a group's
// deletion is removed with it, and none is accepted after.
class ConsumerGroups {
 public:
  ConsumerGroups(storage::Store& store, Clock& clock, size_t max_groups);

  // Reads the stored groups. Call once, before any other method.
  Status Load();

  // Creates `name` (durable when this returns). InvalidArgument for a bad name; AlreadyExists
  // ("ConsumerGroupAlreadyExists") for an existing one or "$Default"; ResourceExhausted
  // ("ConsumerGroupLimitExceeded") past `max_groups` (counting "$Default"); store errors as is.
  // Unavailable ("ConsumerGroupBusy") while another create/delete of the same name is committing.
  // Blocks on the store: not for shard threads.
  Status Create(std::string_view name);
  // Deletes `name` and all its checkpoints (durable when this returns). InvalidArgument for
  // "$Default"; NotFound ("ConsumerGroupNotFound") when absent; Unavailable ("ConsumerGroupBusy")
  // as for Create. On a store error the group is kept. Blocks on the store.
  Status Delete(std::string_view name);
  // "$Default" first, then the others in byte order.
  std::vector<std::string> List() const;
  bool Exists(std::string_view name) const;

  // Stores `offset` for (group, partition), replacing any earlier one; `done` runs once it is
  // durable (on the store's thread, or on the calling thread before this returns). NotFound
  // ("ConsumerGroupNotFound") for an unknown group.
  void SetCheckpoint(std::string_view group, uint32_t partition, uint64_t offset,
                     std::function<void(Status)> done);
  // The stored offset, or nullopt when none was set. NotFound for an unknown group; Corruption
  // for an undecodable record.
  Result<std::optional<uint64_t>> GetCheckpoint(std::string_view group, uint32_t partition) const;

 private:
  bool ExistsLocked(std::string_view name) const;
  // Commits a create or delete of `group` and updates the cache; blocks without holding mu_.
  Status Change(const std::string& group, storage::WriteBatch batch, bool create);

  storage::Store& store_;
  Clock& clock_;
  const size_t max_groups_;
  mutable std::mutex mu_;
  std::set<std::string, std::less<>> groups_;    // created groups; "$Default" is implicit
  std::set<std::string, std::less<>> changing_;  // groups whose create/delete is committing
};

}  // namespace iothub::core
