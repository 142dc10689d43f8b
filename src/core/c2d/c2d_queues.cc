#include "core/c2d/c2d_queues.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {
namespace {

constexpr std::string_view kLockLost = "DeviceMessageLockLost";
constexpr std::string_view kDeviceNotFound = "DeviceNotFound";

Status LockLost() {
  return PreconditionFailed("the lock token is unknown, expired or already settled",
                            std::string(kLockLost));
}

Status DeviceNotFoundError(std::string_view device_id) {
  return NotFound("device '" + std::string(device_id) + "' not found",
                  std::string(kDeviceNotFound));
}

void LogIfError(std::string_view what, const Status& s) {
  if (!s.ok()) HUB_LOG_WARN("c2d", "{} failed: {}", what, s.ToString());
}

}  // namespace

C2dQueues::C2dQueues(storage::Store& store, const Clock& clock, Executor& executor,
                     DeviceLookup lookup, C2dLimits limits)
    : core_(store, clock, executor, kC2dQueue, kC2dStateTable),
      lookup_(std::move(lookup)),
      limits_(limits) {}

template <typename T>
void C2dQueues::Reply(std::function<void(T)> done, T value) {
  if (!done) return;
  core_.Post([done = std::move(done), value = std::move(value)]() { done(value); });
}

uint64_t C2dQueues::AddAvailableListener(std::function<void(const std::string&)> listener) {
  return available_listeners_.Add(std::move(listener));
}

void C2dQueues::RemoveAvailableListener(uint64_t id) { available_listeners_.Remove(id); }

void C2dQueues::SetFeedbackCallback(FeedbackSink sink) { feedback_sink_ = std::move(sink); }

void C2dQueues::NotifyAvailable(const std::string& device_id) {
  if (available_listeners_.empty()) return;
  core_.Post([this, device_id] { available_listeners_.Notify(device_id); });
}

void C2dQueues::Enqueue(std::string_view device_id, Message msg,
                        std::function<void(Result<uint64_t>)> done) {
  ProcessTimers();
  std::optional<DeviceInfo> device = lookup_(device_id);
  if (!device) return Reply<Result<uint64_t>>(std::move(done), DeviceNotFoundError(device_id));
  if (msg.Size() > limits_.max_message_size) {
    return Reply<Result<uint64_t>>(
        std::move(done),
        TooLarge("message of " + std::to_string(msg.Size()) + " bytes exceeds the limit of " +
                     std::to_string(limits_.max_message_size),
                 "MessageTooLarge"));
  }
  Timestamp now = core_.clock().Now();
  Timestamp expiry = now + limits_.default_ttl;
  if (msg.expiry) {
    // A sender's own expiry is not bound by the minimum, which is for the hub's default TTL
    // (Azure's samples send now + 10 s): one beyond the maximum TTL is capped to it, and one at or
    // before now is stored all the same and expires at the next timer run, before any delivery.
    expiry = std::min(*msg.expiry, now + limits_.max_ttl);
  }
  std::string id(device_id);
  PendingSends& pending = pending_[id];
  if (pending.count == 0) pending.incarnation = next_incarnation_++;
  if (core_.index().Count(id) + pending.count >= limits_.max_queue_depth) {
    if (pending.count == 0) pending_.erase(id);
    return Reply<Result<uint64_t>>(
        std::move(done),
        ResourceExhausted("the queue of device '" + id + "' holds " +
                              std::to_string(limits_.max_queue_depth) + " messages",
                          "DeviceMaximumQueueDepthExceeded"));
  }
  ++pending.count;

  msg.sequence_number = 0;
  msg.lock_token.clear();
  msg.lock_deadline.reset();
  msg.delivery_count = 0;
  msg.enqueued_time = now;
  if (msg.to.empty()) msg.to = "/devices/" + id + "/messages/deviceBound";
  StoredQueueMessage stored{.generation_id = std::move(device->generation_id),
                            .expiry = expiry,
                            .covered_records = {},
                            .message = std::move(msg)};
  storage::WriteBatch batch;
  batch.QueueAppend(kC2dQueue, id, EncodeStoredQueueMessage(stored));
  uint64_t incarnation = pending.incarnation;
  core_.store().Commit(
      std::move(batch), storage::Durability::kSync,
      [this, id, incarnation, stored = std::move(stored),
       done = std::move(done)](Result<storage::CommitResult> r) mutable {
        // Moved, not copied, on the way back: the body may be 64 KiB.
        core_.Post([this, id = std::move(id), incarnation, stored = std::move(stored),
                    done = std::move(done), r = std::move(r)]() mutable {
          auto it = pending_.find(id);
          if (it == pending_.end() || it->second.incarnation != incarnation) {
            // RemoveDevice ran meanwhile; its later commit deleted this entry too.
            if (!done) return;
            if (r) {
              done(DeviceNotFoundError(id));
            } else {
              done(r.error());
            }
            return;
          }
          if (--it->second.count == 0) pending_.erase(it);
          if (!r) {
            if (done) done(r.error());
            return;
          }
          QueuedMessage m;
          m.key = id;
          m.seq = r->revisions_or_ids.at(0);
          m.stored = std::move(stored);
          if (core_.index().Insert(std::move(m)) == nullptr) {
            if (done) done(Internal("store returned a duplicate sequence number"));
            return;
          }
          if (done) done(r->revisions_or_ids.at(0));
          NotifyAvailable(id);
        });
      });
}

std::optional<Message> C2dQueues::ReceiveAndLock(std::string_view device_id,
                                                 std::optional<Duration> lock_timeout) {
  ProcessTimers();
  Duration timeout =
      lock_timeout && lock_timeout->count() > 0 ? *lock_timeout : limits_.lock_timeout;
  return core_.ReceiveAndLock(device_id, timeout);
}

std::vector<Message> C2dQueues::ReceiveAndLockUpTo(std::string_view device_id, size_t max_count,
                                                   std::optional<Duration> lock_timeout) {
  std::vector<Message> out;
  while (out.size() < max_count) {
    std::optional<Message> m = ReceiveAndLock(device_id, lock_timeout);
    if (!m) break;
    out.push_back(std::move(*m));
  }
  return out;
}

std::vector<Message> C2dQueues::Locked(std::string_view device_id) {
  ProcessTimers();
  std::vector<Message> out;
  for (QueuedMessage* m : core_.index().Messages(device_id)) {
    if (m->state != DeliveryState::kInvisible || m->lock_token.empty()) continue;
    if (core_.FindLocked(device_id, m->lock_token) == nullptr) continue;  // ran out
    out.push_back(QueueCore::LockedCopy(*m));
  }
  return out;
}

void C2dQueues::Complete(std::string_view device_id, std::string_view lock_token,
                         std::function<void(Status)> done) {
  Settle(device_id, lock_token, Outcome::kComplete, std::move(done));
}

void C2dQueues::Reject(std::string_view device_id, std::string_view lock_token,
                       std::function<void(Status)> done) {
  Settle(device_id, lock_token, Outcome::kReject, std::move(done));
}

void C2dQueues::Settle(std::string_view device_id, std::string_view lock_token, Outcome outcome,
                       std::function<void(Status)> done) {
  ProcessTimers();
  QueuedMessage* m = core_.FindLocked(device_id, lock_token);
  if (m == nullptr) return Reply<Status>(std::move(done), LockLost());
  RemoveWithFeedback(
      {m}, outcome == Outcome::kComplete ? FeedbackStatus::kSuccess : FeedbackStatus::kRejected,
      /*retry_later=*/false, std::move(done));
}

void C2dQueues::Abandon(std::string_view device_id, std::string_view lock_token,
                        std::function<void(Status)> done) {
  ProcessTimers();
  QueuedMessage* m = core_.FindLocked(device_id, lock_token);
  if (m == nullptr) return Reply<Status>(std::move(done), LockLost());
  uint32_t count = m->delivery_count + 1;
  if (count > limits_.max_delivery_count) {
    RemoveWithFeedback({m}, FeedbackStatus::kDeliveryCountExceeded, /*retry_later=*/false,
                       std::move(done));
    return;
  }
  std::string key = m->key;
  core_.Release(m, count, std::move(done));
  NotifyAvailable(key);
}

void C2dQueues::Release(std::string_view device_id, std::string_view lock_token,
                        std::function<void(Status)> done) {
  ProcessTimers();
  QueuedMessage* m = core_.FindLocked(device_id, lock_token);
  if (m == nullptr) return Reply<Status>(std::move(done), LockLost());
  std::string key = m->key;
  core_.Release(m, m->delivery_count, std::move(done));
  NotifyAvailable(key);
}

void C2dQueues::RemoveWithFeedback(const std::vector<QueuedMessage*>& messages,
                                   FeedbackStatus status, bool retry_later,
                                   std::function<void(Status)> done) {
  storage::WriteBatch batch;
  std::vector<FeedbackRecord> records;
  Timestamp now = core_.clock().Now();
  for (const QueuedMessage* m : messages) {
    if (!AckWants(m->stored.message.ack, status)) continue;
    FeedbackRecord r{.original_message_id = m->stored.message.message_id,
                     .time = now,
                     .status = status,
                     .device_id = m->key,
                     .device_generation_id = m->stored.generation_id,
                     .c2d_seq = m->seq};
    batch.QueueAppend(kFeedbackRecordQueue, kFeedbackKey, EncodeFeedbackRecord(r));
    records.push_back(std::move(r));
  }
  core_.Remove(messages, std::move(batch), storage::Durability::kSync, retry_later,
               [this, records = std::move(records),
                done = std::move(done)](Result<storage::CommitResult> r) {
                 if (r && !records.empty()) {
                   // The records' appends are the first ops of the batch.
                   std::vector<StoredFeedbackRecord> stored;
                   stored.reserve(records.size());
                   for (size_t i = 0; i < records.size(); ++i) {
                     stored.push_back({.seq = r->revisions_or_ids.at(i), .record = records[i]});
                   }
                   if (feedback_sink_) feedback_sink_(std::move(stored));
                 }
                 if (done) done(r.status());
               });
}

void C2dQueues::Purge(std::string_view device_id, std::function<void(Result<uint64_t>)> done) {
  ProcessTimers();
  if (!lookup_(device_id)) {
    return Reply<Result<uint64_t>>(std::move(done), DeviceNotFoundError(device_id));
  }
  std::vector<QueuedMessage*> victims;
  for (QueuedMessage* m : core_.index().Messages(device_id)) {
    if (m->state != DeliveryState::kRemoving) victims.push_back(m);
  }
  uint64_t count = victims.size();
  if (count == 0) return Reply<Result<uint64_t>>(std::move(done), uint64_t{0});
  RemoveWithFeedback(victims, FeedbackStatus::kPurged, /*retry_later=*/false,
                     [count, done = std::move(done)](Status s) {
                       if (!done) return;
                       if (s.ok()) {
                         done(count);
                       } else {
                         done(std::move(s));
                       }
                     });
}

void C2dQueues::RemoveDevice(std::string_view device_id, std::function<void(Status)> done) {
  core_.index().EraseKey(device_id);
  pending_.erase(std::string(device_id));
  storage::WriteBatch batch;
  batch.QueueDeleteAll(kC2dQueue, device_id);
  batch.DeletePrefix(kC2dStateTable, StateKeyPrefix(device_id));
  core_.store().Commit(std::move(batch), storage::Durability::kSync,
                       [this, done = std::move(done)](Result<storage::CommitResult> r) {
                         LogIfError("dropping a device's C2D queue", r.status());
                         if (done) core_.Post([done, s = r.status()] { done(s); });
                       });
}

uint64_t C2dQueues::Depth(std::string_view device_id) const {
  return core_.index().Count(device_id);
}

uint64_t C2dQueues::TotalDepth() const { return core_.index().size(); }

std::optional<Timestamp> C2dQueues::NextDeadline() const { return core_.index().NextDeadline(); }

void C2dQueues::ProcessTimers() {
  Timestamp now = core_.clock().Now();
  for (const auto& [key, seq] : core_.index().Due(now)) {
    QueuedMessage* m = core_.index().Find(key, seq);
    // Handled meanwhile (a callback run inline by the executor may have changed it).
    if (m == nullptr || !m->timer_armed || m->timer_at > now) continue;
    if (m->stored.expiry <= now) {
      RemoveWithFeedback({m}, FeedbackStatus::kExpired, /*retry_later=*/true,
                         [](Status s) { LogIfError("dead-lettering an expired message", s); });
    } else if (m->state == DeliveryState::kInvisible && m->lock_deadline <= now) {
      ExpireLock(m);
    }
  }
}

void C2dQueues::ExpireLock(QueuedMessage* m) {
  uint32_t count = m->delivery_count + (limits_.lock_expiry_counts_as_delivery ? 1 : 0);
  if (count > limits_.max_delivery_count) {
    RemoveWithFeedback({m}, FeedbackStatus::kDeliveryCountExceeded, /*retry_later=*/true,
                       [](Status s) { LogIfError("dead-lettering a message", s); });
    return;
  }
  std::string key = m->key;
  core_.Release(m, count, nullptr);
  NotifyAvailable(key);
}

Status C2dQueues::Recover(const std::function<bool(std::string_view)>& owns,
                          const SettledLookup& settled) {
  constexpr size_t kPage = 1000;
  std::vector<QueuedMessage*> half_settled;
  for (std::string after;;) {
    HUB_ASSIGN_OR_RETURN(auto keys, core_.store().ListQueueKeys(kC2dQueue, after, kPage));
    for (const std::string& device_id : keys) {
      if (owns && !owns(device_id)) continue;
      HUB_RETURN_IF_ERROR(core_.RecoverKey(device_id));
      // Messages sent to an earlier device of the same id (deleted, re-created, and a crash
      // before the old queue was dropped) are dropped too, without feedback: they never reach
      // the new device.
      std::optional<DeviceInfo> device = lookup_(device_id);
      for (QueuedMessage* m : core_.index().Messages(device_id)) {
        if ((settled && settled(device_id, m->seq)) ||
            (device && m->stored.generation_id != device->generation_id)) {
          half_settled.push_back(m);
        }
      }
    }
    if (keys.size() < kPage) break;
    after = keys.back();
  }
  HUB_LOG_INFO("c2d", "recovered {} C2D message(s), {} already settled or stale",
               core_.index().size(), half_settled.size());
  // What follows commits, and commit callbacks run on the executor, which may already be running
  // (the daemon's shards are): so it runs there too, first in its queue, never beside Recover's
  // caller. Nothing else touches the index before it runs, so the pointers stay valid.
  core_.Post([this, half_settled = std::move(half_settled)] {
    if (!half_settled.empty()) {
      core_.Remove(half_settled, {}, storage::Durability::kSync, /*retry_later=*/false,
                   [](Result<storage::CommitResult> r) {
                     LogIfError("finishing settlements cut short by a crash", r.status());
                   });
    }
    ProcessTimers();
  });
  return Status::Ok();
}

}  // namespace iothub::core
