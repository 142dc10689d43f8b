#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "base/status.h"
#include "core/c2d/delivery_index.h"
#include "core/message.h"
#include "storage/store.h"

namespace iothub::core {

// The store mechanics shared by C2dQueues and FeedbackQueue: a DeliveryIndex mirrored in a store
// queue (immutable StoredQueueMessage values) and a state table (DeliveryStateRecord, kAsync).
// It decides no policy (limits, feedback, dead-lettering): its owners do.
//
// Thread: owned by its owner's executor thread. Store callbacks are posted back to that executor
// before touching anything, so the object (and its owner) must outlive every commit it started:
// close the store and drain the executor before destroying it.
class QueueCore {
 public:
  QueueCore(storage::Store& store, const Clock& clock, Executor& executor,
            std::string_view queue_name, std::string_view state_table);
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  DeliveryIndex& index() { return index_; }
  const DeliveryIndex& index() const { return index_; }
  const Clock& clock() const { return clock_; }
  Executor& executor() { return executor_; }
  storage::Store& store() { return store_; }

  // Runs `task` later on the executor (never inside the caller's frame).
  void Post(std::function<void()> task) { executor_.Post(std::move(task)); }

  // Locks the oldest visible, unexpired message of `key` for `lock_timeout` with a fresh UUID
  // token and persists the lock (kAsync, failures only logged: a lost lock record costs a
  // redelivery after a restart). Returns a copy with lock_token and delivery_count filled.
  std::optional<Message> ReceiveAndLock(std::string_view key, Duration lock_timeout);

  // The message locked by `token` if it belongs to `key`, is kInvisible and neither its lock nor
  // its TTL has run out; nullptr otherwise (the caller answers "lock lost").
  QueuedMessage* FindLocked(std::string_view key, std::string_view token);
  // A copy of a locked message as its receiver gets it: lock_token, lock_deadline and
  // delivery_count filled.
  static Message LockedCopy(const QueuedMessage& m);

  // kInvisible -> kEnqueued with delivery_count = `delivery_count`, at once in memory; persists
  // the state (kAsync) and calls `done` (may be empty) on the executor with the commit's status.
  void Release(QueuedMessage* m, uint32_t delivery_count, std::function<void(Status)> done);

  // Removes `messages` (none kRemoving) from the store in one batch: the ops of `prefix` first
  // (feedback records), then for each message the queue entry and its state record. They are
  // kRemoving meanwhile. On success they are erased from the index; on failure they return to
  // their previous state, with timers held back until now + kRetryDelay if `retry_later`.
  // `done` runs on the executor with the commit's result (only the prefix's ids matter).
  void Remove(const std::vector<QueuedMessage*>& messages, storage::WriteBatch prefix,
              storage::Durability durability, bool retry_later,
              std::function<void(Result<storage::CommitResult>)> done);

  // Loads every stored message of `key` and its delivery state into the index (locks as stored,
  // even if already past their deadline: the owner's timers then handle them). Undecodable
  // entries are logged and skipped; state records without a message are deleted.
  Status RecoverKey(std::string_view key);

  // Delay before retrying a timer-driven removal whose commit failed.
  static constexpr Duration kRetryDelay = std::chrono::seconds(1);

 private:
  void PersistState(const QueuedMessage& m, std::function<void(Status)> done);

  storage::Store& store_;
  const Clock& clock_;
  Executor& executor_;
  std::string queue_name_;
  std::string state_table_;
  DeliveryIndex index_;
};

}  // namespace iothub::core
