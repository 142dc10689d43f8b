#include "core/c2d/feedback_queue.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "base/crypto.h"
#include "base/log.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {
namespace {

constexpr size_t kRecoveryPage = 256;

Status LockLost() {
  return PreconditionFailed("the lock token is unknown, expired or already settled",
                            "DeviceMessageLockLost");
}

void LogIfError(std::string_view what, const Status& s) {
  if (!s.ok()) HUB_LOG_WARN("feedback", "{} failed: {}", what, s.ToString());
}

}  // namespace

FeedbackQueue::FeedbackQueue(storage::Store& store, const Clock& clock, Executor& executor,
                             std::string hub_name, FeedbackLimits limits)
    : core_(store, clock, executor, kFeedbackQueue, kFeedbackStateTable),
      hub_name_(std::move(hub_name)),
      limits_(limits) {
  if (limits_.batch_size == 0) limits_.batch_size = 1;
}

void FeedbackQueue::Reply(std::function<void(Status)> done, Status status) {
  if (!done) return;
  core_.Post([done = std::move(done), status = std::move(status)] { done(status); });
}

uint64_t FeedbackQueue::AddAvailableListener(std::function<void()> listener) {
  return available_listeners_.Add(std::move(listener));
}

void FeedbackQueue::RemoveAvailableListener(uint64_t id) { available_listeners_.Remove(id); }

void FeedbackQueue::NotifyAvailable() {
  if (available_listeners_.empty()) return;
  core_.Post([this] { available_listeners_.Notify(); });
}

void FeedbackQueue::AddRecords(std::vector<StoredFeedbackRecord> records) {
  core_.Post([this, records = std::move(records)]() mutable { AddRecordsNow(std::move(records)); });
}

void FeedbackQueue::AddRecordsNow(std::vector<StoredFeedbackRecord> records) {
  for (StoredFeedbackRecord& r : records) {
    // Already known (recovery and a late hand-over may both bring it).
    if (pending_.contains(r.seq) || in_flight_.contains(r.seq) ||
        std::find(duplicates_.begin(), duplicates_.end(), r.seq) != duplicates_.end()) {
      continue;
    }
    if (!pending_ids_.insert(r.record.Id()).second) {
      duplicates_.push_back(r.seq);  // the same outcome recorded twice: delete, do not emit
      continue;
    }
    pending_times_.insert(r.record.time);
    pending_.emplace(r.seq, std::move(r.record));
  }
  while (pending_.size() >= limits_.batch_size && core_.clock().Now() >= retry_at_) MakeBatch();
  ProcessTimers();
}

void FeedbackQueue::MakeBatch() {
  if (pending_.empty() && duplicates_.empty()) return;
  Timestamp now = core_.clock().Now();
  std::vector<uint64_t> seqs;
  std::vector<FeedbackRecord> records;
  for (auto it = pending_.begin(); it != pending_.end() && records.size() < limits_.batch_size;) {
    seqs.push_back(it->first);
    in_flight_.insert(it->first);
    pending_times_.erase(pending_times_.find(it->second.time));
    records.push_back(std::move(it->second));
    it = pending_.erase(it);
  }
  std::vector<uint64_t> duplicates = std::move(duplicates_);
  duplicates_.clear();

  storage::WriteBatch batch;
  std::optional<StoredQueueMessage> stored;
  if (!records.empty()) {
    Message msg;
    msg.message_id = NewUuid();
    msg.content_type = std::string(kFeedbackContentType);
    msg.user_id = hub_name_;
    msg.body = FeedbackRecordsToJson(records);
    msg.enqueued_time = now;
    stored = StoredQueueMessage{.generation_id = {},
                                .expiry = now + limits_.ttl,
                                .covered_records = seqs,
                                .message = std::move(msg)};
    stored->covered_records.insert(stored->covered_records.end(), duplicates.begin(),
                                   duplicates.end());
    // The message first: it names the records it covers, so a crash before their deletion
    // leaves them recognisable as already batched.
    batch.QueueAppend(kFeedbackQueue, kFeedbackKey, EncodeStoredQueueMessage(*stored));
  }
  for (uint64_t seq : seqs) batch.QueueDelete(kFeedbackRecordQueue, kFeedbackKey, seq);
  for (uint64_t seq : duplicates) batch.QueueDelete(kFeedbackRecordQueue, kFeedbackKey, seq);

  core_.store().Commit(std::move(batch), storage::Durability::kSync,
                       [this, seqs = std::move(seqs), records = std::move(records),
                        duplicates = std::move(duplicates),
                        stored = std::move(stored)](Result<storage::CommitResult> r) {
                         core_.Post([this, seqs, records, duplicates, stored, r]() {
                           for (uint64_t seq : seqs) in_flight_.erase(seq);
                           if (!r) {
                             LogIfError("writing a feedback batch", r.status());
                             for (size_t i = 0; i < seqs.size(); ++i) {
                               pending_times_.insert(records[i].time);
                               pending_.emplace(seqs[i], records[i]);
                             }
                             duplicates_.insert(duplicates_.end(), duplicates.begin(),
                                                duplicates.end());
                             retry_at_ = core_.clock().Now() + QueueCore::kRetryDelay;
                             return;
                           }
                           for (const FeedbackRecord& record : records)
                             pending_ids_.erase(record.Id());
                           if (!stored) return;
                           QueuedMessage m;
                           m.key = std::string(kFeedbackKey);
                           m.seq = r->revisions_or_ids.at(0);
                           m.stored = *stored;
                           if (core_.index().Insert(std::move(m)) != nullptr) NotifyAvailable();
                         });
                       });
}

void FeedbackQueue::Flush() {
  while (!pending_.empty() || !duplicates_.empty()) {
    size_t before = pending_.size() + duplicates_.size();
    MakeBatch();
    // A commit that failed at once returned its records: stop rather than spin.
    if (pending_.size() + duplicates_.size() >= before) break;
  }
}

std::optional<Message> FeedbackQueue::ReceiveAndLock(std::optional<Duration> lock_timeout) {
  ProcessTimers();
  Duration timeout =
      lock_timeout && lock_timeout->count() > 0 ? *lock_timeout : limits_.lock_timeout;
  return core_.ReceiveAndLock(kFeedbackKey, timeout);
}

void FeedbackQueue::Complete(std::string_view lock_token, std::function<void(Status)> done) {
  ProcessTimers();
  QueuedMessage* m = core_.FindLocked(kFeedbackKey, lock_token);
  if (m == nullptr) return Reply(std::move(done), LockLost());
  core_.Remove({m}, {}, storage::Durability::kSync, /*retry_later=*/false,
               [done = std::move(done)](Result<storage::CommitResult> r) {
                 if (done) done(r.status());
               });
}

void FeedbackQueue::Abandon(std::string_view lock_token, std::function<void(Status)> done) {
  ProcessTimers();
  QueuedMessage* m = core_.FindLocked(kFeedbackKey, lock_token);
  if (m == nullptr) return Reply(std::move(done), LockLost());
  uint32_t count = m->delivery_count + 1;
  if (count > limits_.max_delivery_count) {
    core_.Remove({m}, {}, storage::Durability::kSync, /*retry_later=*/false,
                 [done = std::move(done)](Result<storage::CommitResult> r) {
                   if (done) done(r.status());
                 });
    return;
  }
  core_.Release(m, count, std::move(done));
  NotifyAvailable();
}

void FeedbackQueue::Drop(QueuedMessage* m) {
  core_.Remove({m}, {}, storage::Durability::kSync, /*retry_later=*/true,
               [](Result<storage::CommitResult> r) {
                 LogIfError("dropping an expired feedback message", r.status());
               });
}

bool FeedbackQueue::HasRecoveredOutcome(std::string_view device_id, uint64_t c2d_seq) const {
  return recovered_outcomes_.contains(std::make_pair(std::string(device_id), c2d_seq));
}

std::optional<Timestamp> FeedbackQueue::NextDeadline() const {
  std::optional<Timestamp> next = core_.index().NextDeadline();
  if (!pending_.empty()) {
    Timestamp batch_at = std::max(*pending_times_.begin() + limits_.batch_interval, retry_at_);
    next = next ? std::min(*next, batch_at) : batch_at;
  }
  return next;
}

void FeedbackQueue::ProcessTimers() {
  Timestamp now = core_.clock().Now();
  for (const auto& [key, seq] : core_.index().Due(now)) {
    QueuedMessage* m = core_.index().Find(key, seq);
    if (m == nullptr || !m->timer_armed || m->timer_at > now) continue;
    if (m->stored.expiry <= now) {
      Drop(m);
    } else if (m->state == DeliveryState::kInvisible && m->lock_deadline <= now) {
      core_.Release(m, m->delivery_count, nullptr);
      NotifyAvailable();
    }
  }
  while (!pending_.empty() && now >= retry_at_ &&
         *pending_times_.begin() + limits_.batch_interval <= now) {
    MakeBatch();
  }
}

Status FeedbackQueue::Recover() {
  HUB_RETURN_IF_ERROR(core_.RecoverKey(kFeedbackKey));
  std::unordered_set<uint64_t> covered;
  for (QueuedMessage* m : core_.index().Messages(kFeedbackKey)) {
    covered.insert(m->stored.covered_records.begin(), m->stored.covered_records.end());
  }
  storage::WriteBatch cleanup;
  std::vector<StoredFeedbackRecord> records;
  for (uint64_t from = 0;;) {
    HUB_ASSIGN_OR_RETURN(auto entries, core_.store().ReadQueue(kFeedbackRecordQueue, kFeedbackKey,
                                                               from, kRecoveryPage));
    for (const storage::QueueEntry& e : entries) {
      auto record = DecodeFeedbackRecord(e.value);
      if (record) recovered_outcomes_.emplace(record->device_id, record->c2d_seq);
      if (covered.contains(e.seq)) {
        // Batched before a crash that came ahead of the records' deletion.
        cleanup.QueueDelete(kFeedbackRecordQueue, kFeedbackKey, e.seq);
        continue;
      }
      if (!record) {
        HUB_LOG_ERROR("feedback", "skipping undecodable feedback record {}: {}", e.seq,
                      record.error().ToString());
        continue;
      }
      records.push_back({.seq = e.seq, .record = std::move(record).value()});
    }
    if (entries.size() < kRecoveryPage) break;
    from = entries.back().seq + 1;
  }
  if (!cleanup.empty()) {
    core_.store().Commit(std::move(cleanup), storage::Durability::kSync,
                         [](Result<storage::CommitResult> r) {
                           LogIfError("deleting already batched records", r.status());
                         });
  }
  HUB_LOG_INFO("feedback", "recovered {} feedback message(s) and {} pending record(s)",
               core_.index().size(), records.size());
  // Batching commits, and commit callbacks run on the executor, which may already be running: so
  // the batching starts there, first in its queue.
  core_.Post([this, records = std::move(records)]() mutable { AddRecordsNow(std::move(records)); });
  return Status::Ok();
}

}  // namespace iothub::core
