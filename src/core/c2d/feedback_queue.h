#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "base/listener_list.h"
#include "base/status.h"
#include "core/c2d/feedback.h"
#include "core/c2d/queue_core.h"
#include "core/message.h"
#include "storage/store.h"

namespace iothub::core {

struct FeedbackLimits {
  size_t batch_size = 64;                              // records per feedback message
  Duration batch_interval = std::chrono::seconds(15);  // max age of the oldest pending record
  Duration ttl = std::chrono::hours(1);                // of a feedback message
  Duration lock_timeout = std::chrono::seconds(60);
  uint32_t max_delivery_count = 10;  // dropped once abandoned more often than this
};

// The hub's feedback queue (PROTOCOL.md, "Feedback"). C2dQueues store feedback records durably
// and hand them over through AddRecords; this class batches them into feedback messages (at
// batch_size records, or when the oldest pending record is batch_interval old) and offers those
// messages to the service with their own lock / complete / abandon / TTL / max delivery count.
//
// A batch is one store batch: append the feedback message (which lists the seqs of the records
// it covers), then delete those records. If a crash comes between the two, Recover deletes the
// covered records instead of batching them again. Records with the same FeedbackRecord::Id()
// pending at once are emitted once.
//
// Thread: one per hub, on its own executor; every method but AddRecords must be called there.
// Callbacks run there too, always later, never inside the call that caused them. The object
// must outlive every commit it started (close the store and drain the executor first).
class FeedbackQueue {
 public:
  FeedbackQueue(storage::Store& store, const Clock& clock, Executor& executor, std::string hub_name,
                FeedbackLimits limits = {});
  FeedbackQueue(const FeedbackQueue&) = delete;
  FeedbackQueue& operator=(const FeedbackQueue&) = delete;

  // Loads stored feedback messages (with their locks) and pending records, deletes records that
  // a stored message already covers, and resumes timers. Call once, before any C2dQueues
  // recovers or runs, on any thread while the executor runs nothing of this object's. Blocks on
  // store reads; the batching of recovered records is posted to the executor.
  Status Recover();

  // Whether Recover found a stored record (pending, or batched but not yet deleted) reporting
  // the outcome of C2D message `seq` of `device_id`. Such a message was settled by a batch that a
  // crash cut short after its record: C2dQueues::Recover finishes its removal instead of
  // delivering it again. Thread-safe once Recover has returned (the set never changes later).
  bool HasRecoveredOutcome(std::string_view device_id, uint64_t c2d_seq) const;

  // Thread-safe (any thread): records just made durable by a C2dQueues. Posts to the executor.
  void AddRecords(std::vector<StoredFeedbackRecord> records);

  // Adds a listener called whenever a feedback message becomes visible. Spurious calls are
  // possible. The returned id removes it.
  uint64_t AddAvailableListener(std::function<void()> listener);
  void RemoveAvailableListener(uint64_t id);

  // Locks the oldest visible unexpired feedback message for `lock_timeout` (default
  // limits.lock_timeout); nullopt when none.
  std::optional<Message> ReceiveAndLock(std::optional<Duration> lock_timeout = {});
  // Removes the message (kSync) / makes it visible again with delivery_count + 1 (kAsync; past
  // max_delivery_count it is dropped). Unknown or stale token: PreconditionFailed
  // "DeviceMessageLockLost". On a store failure the message stays locked.
  void Complete(std::string_view lock_token, std::function<void(Status)> done);
  void Abandon(std::string_view lock_token, std::function<void(Status)> done);

  // Batches every pending record now (tests, shutdown).
  void Flush();

  // The earliest of: a feedback message's lock deadline or expiry, the batch deadline.
  std::optional<Timestamp> NextDeadline() const;
  // Handles everything due at clock.Now(): lock expiry (visible again), TTL (dropped), batching.
  // Also run at the start of every operation.
  void ProcessTimers();

  // Feedback messages held (any state).
  size_t Depth() const { return core_.index().size(); }
  // Records waiting to be batched.
  size_t PendingRecords() const { return pending_.size(); }

 private:
  void AddRecordsNow(std::vector<StoredFeedbackRecord> records);
  // Moves up to batch_size pending records (plus pending duplicates) into one feedback message.
  void MakeBatch();
  void Drop(QueuedMessage* m);
  void NotifyAvailable();
  void Reply(std::function<void(Status)> done, Status status);

  QueueCore core_;
  std::string hub_name_;
  FeedbackLimits limits_;
  ListenerList<> available_listeners_;

  std::map<uint64_t, FeedbackRecord> pending_;  // by record seq
  std::multiset<Timestamp> pending_times_;
  std::vector<uint64_t> duplicates_;             // seqs to delete with the next batch
  std::set<uint64_t> in_flight_;                 // seqs in a batch being committed
  std::unordered_set<std::string> pending_ids_;  // Id() of pending and in-flight records
  Timestamp retry_at_;                           // no timed batch before this (after a failure)
  std::set<std::pair<std::string, uint64_t>, std::less<>> recovered_outcomes_;  // (device, seq)
};

}  // namespace iothub::core
