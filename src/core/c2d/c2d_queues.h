#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/executor.h"
#include "base/listener_list.h"
#include "base/result.h"
#include "core/c2d/feedback.h"
#include "core/c2d/queue_core.h"
#include "core/message.h"
#include "storage/store.h"

namespace iothub::core {

// IoT Hub's cloud-to-device limits (PROTOCOL.md, "C2D limits").
struct C2dLimits {
  uint32_t max_queue_depth = 50;
  size_t max_message_size = size_t{64} * 1024;  // Message::Size(): body plus application properties
  Duration default_ttl = std::chrono::hours(1);
  Duration min_ttl = std::chrono::minutes(1);
  Duration max_ttl = std::chrono::hours(48);
  Duration lock_timeout = std::chrono::seconds(60);
  uint32_t max_delivery_count = 10;  // dead-lettered once the delivery count exceeds this
  bool lock_expiry_counts_as_delivery = false;
};

// What the C2D queues need to know about a device.
struct DeviceInfo {
  std::string generation_id;
};
// Returns the device if it exists. Called on the queues' thread: it must be thread-safe.
using DeviceLookup = std::function<std::optional<DeviceInfo>(std::string_view device_id)>;
// Receives feedback records once they are durable in the store (FeedbackQueue::AddRecords).
using FeedbackSink = std::function<void(std::vector<StoredFeedbackRecord>)>;

// The C2D queues of the devices of one shard, with IoT Hub semantics (ARCHITECTURE.md, "C2D
// semantics"): Enqueued -> Invisible (locked) -> Completed | Rejected | Abandoned (Enqueued again)
// | dead-lettered (TTL, delivery count); purge; feedback records per ack mode.
//
// Thread: every method must be called on `executor`'s thread (the shard's), except construction.
// Callbacks (`done`, the available and feedback callbacks) run on that thread too, always later,
// never inside the call that caused them. Store callbacks are posted back to `executor`, so the
// object must outlive every commit it started: close the store and drain the executor first.
//
// Errors (Status code, reason): unknown device -> NotFound "DeviceNotFound"; too large ->
// TooLarge "MessageTooLarge"; queue full -> ResourceExhausted "DeviceMaximumQueueDepthExceeded";
// unknown, stale or settled lock token -> PreconditionFailed "DeviceMessageLockLost"; store
// failures as the store reports them.
class C2dQueues {
 public:
  C2dQueues(storage::Store& store, const Clock& clock, Executor& executor, DeviceLookup lookup,
            C2dLimits limits = {});
  C2dQueues(const C2dQueues&) = delete;
  C2dQueues& operator=(const C2dQueues&) = delete;

  // Loads the stored queues of the devices `owns` accepts (all when empty) and resumes their
  // timers: a lock that ran out while the hub was down returns its message to Enqueued, a TTL that
  // ran out dead-letters it. A message for which `settled` is true (pass
  // FeedbackQueue::HasRecoveredOutcome) already has its feedback record: a crash cut its removal
  // short, so it is removed without a second record. Call once, before anything else, and after
  // the FeedbackQueue has recovered (records made here reach it through the feedback callback),
  // on any thread while the executor runs nothing of this object's. Recover itself only reads
  // (blocking on the store); the part that commits — those removals and the expiries due — is
  // posted to the executor, ahead of any later call, so it never races the caller.
  using SettledLookup = std::function<bool(std::string_view device_id, uint64_t seq)>;
  Status Recover(const std::function<bool(std::string_view device_id)>& owns = {},
                 const SettledLookup& settled = {});

  // Adds a listener called with a device id whenever that device gains a visible message (enqueue,
  // abandon, lock expiry), so that a front-end session may pull. Spurious calls are possible.
  // Every front-end (MQTT, AMQP) adds its own; the returned id removes it. Both may be called on
  // any thread (a front-end registers from the control thread while the shard runs).
  uint64_t AddAvailableListener(std::function<void(const std::string& device_id)> listener);
  void RemoveAvailableListener(uint64_t id);
  // Where durable feedback records go (see FeedbackSink). Without it, records stay in the store
  // until the FeedbackQueue recovers them.
  void SetFeedbackCallback(FeedbackSink sink);

  // Appends `msg` to the device's queue. Stamps enqueued_time, `to` (if empty:
  // "/devices/<id>/messages/deviceBound") and the sequence number (the store's seq); the
  // effective expiry is msg.expiry when set (capped to now + max_ttl; one at or before now
  // expires the message at once: Expired feedback when asked for, never delivered) else
  // now + default_ttl; msg.expiry itself is kept as the sender set it. `done` gets the sequence
  // number once the message is durable (kSync).
  // The depth limit counts every message not yet settled, locked ones and in-flight sends too.
  void Enqueue(std::string_view device_id, Message msg, std::function<void(Result<uint64_t>)> done);

  // Locks the device's oldest visible unexpired message for `lock_timeout` (default
  // limits.lock_timeout) and returns it with lock_token, delivery_count and sequence_number set;
  // nullopt when none is visible. The lock is persisted asynchronously.
  std::optional<Message> ReceiveAndLock(std::string_view device_id,
                                        std::optional<Duration> lock_timeout = {});
  // Up to `max_count` messages, oldest first (AMQP credit, MQTT in-flight window).
  std::vector<Message> ReceiveAndLockUpTo(std::string_view device_id, size_t max_count,
                                          std::optional<Duration> lock_timeout = {});

  // Every message of the device whose lock still holds (as ReceiveAndLock returned it, with its
  // lock_deadline), oldest first: the deliveries a device's persistent session has not settled,
  // which it sends again on reconnect. Locks survive a restart (Recover), and so does this list.
  std::vector<Message> Locked(std::string_view device_id);

  // Settles the message locked by `lock_token`. Complete removes it (feedback Success); Reject
  // dead-letters it (Rejected); both call `done` once that is durable (kSync). Abandon makes it
  // visible again with delivery_count + 1 at once and calls `done` once the new state is written
  // (kAsync: a crash may forget the increment); past max_delivery_count it is dead-lettered
  // instead (DeliveryCountExceeded, kSync). On a store failure the message stays locked.
  void Complete(std::string_view device_id, std::string_view lock_token,
                std::function<void(Status)> done);
  void Reject(std::string_view device_id, std::string_view lock_token,
              std::function<void(Status)> done);
  void Abandon(std::string_view device_id, std::string_view lock_token,
               std::function<void(Status)> done);
  // Gives back a message that never reached the device (its connection went while the message
  // was on its way to it): visible again at once, its delivery_count unchanged (a device that
  // reconnects often must not see its messages dead-lettered unseen). `done` as for Abandon.
  void Release(std::string_view device_id, std::string_view lock_token,
               std::function<void(Status)> done);

  // Removes every message of the device, locked ones too (feedback Purged), and returns how many
  // (messages whose sending or removal is still in flight are not counted). NotFound when the
  // device does not exist.
  void Purge(std::string_view device_id, std::function<void(Result<uint64_t>)> done);

  // The device was deleted: forgets its queue at once and deletes it from the store without
  // feedback; `done` reports the commit. In-flight sends to it fail with DeviceNotFound.
  void RemoveDevice(std::string_view device_id, std::function<void(Status)> done);

  // Messages of the device not yet completed, rejected, dead-lettered or purged.
  uint64_t Depth(std::string_view device_id) const;
  // The same summed over every device of this shard.
  uint64_t TotalDepth() const;

  // The earliest lock deadline or expiry held (arm a timer for it), or nullopt.
  std::optional<Timestamp> NextDeadline() const;
  // Handles every lock expiry and TTL expiry due at clock.Now(). Also run at the start of every
  // operation, so results never depend on when the timer fired.
  void ProcessTimers();

  const C2dLimits& limits() const { return limits_; }

 private:
  struct PendingSends {
    uint32_t count = 0;
    uint64_t incarnation = 0;  // changes when the device's queue is dropped
  };
  enum class Outcome { kComplete, kReject };

  void Settle(std::string_view device_id, std::string_view lock_token, Outcome outcome,
              std::function<void(Status)> done);
  // Removes `messages` in one batch, writing a feedback record of `status` (before the deletions)
  // for each whose ack mode asks for it; records reach the feedback sink after the commit.
  void RemoveWithFeedback(const std::vector<QueuedMessage*>& messages, FeedbackStatus status,
                          bool retry_later, std::function<void(Status)> done);
  void ExpireLock(QueuedMessage* m);
  void NotifyAvailable(const std::string& device_id);
  template <typename T>
  void Reply(std::function<void(T)> done, T value);

  QueueCore core_;
  DeviceLookup lookup_;
  C2dLimits limits_;
  std::unordered_map<std::string, PendingSends> pending_;
  uint64_t next_incarnation_ = 1;
  ListenerList<const std::string&> available_listeners_;
  FeedbackSink feedback_sink_;
};

}  // namespace iothub::core
