#include "core/c2d/queue_core.h"

#include <map>
#include <utility>

#include "base/crypto.h"
#include "base/log.h"

namespace iothub::core {
namespace {

constexpr size_t kRecoveryPage = 256;

}  // namespace

QueueCore::QueueCore(storage::Store& store, const Clock& clock, Executor& executor,
                     std::string_view queue_name, std::string_view state_table)
    : store_(store),
      clock_(clock),
      executor_(executor),
      queue_name_(queue_name),
      state_table_(state_table) {}

std::optional<Message> QueueCore::ReceiveAndLock(std::string_view key, Duration lock_timeout) {
  Timestamp now = clock_.Now();
  uint64_t after = 0;
  while (QueuedMessage* m = index_.NextVisible(key, after)) {
    after = m->seq;
    // Expired but still here: its dead-letter commit failed and waits for a retry.
    if (m->stored.expiry <= now) continue;
    index_.Lock(m, NewUuid(), now + lock_timeout);
    PersistState(*m, nullptr);
    return LockedCopy(*m);
  }
  return std::nullopt;
}

Message QueueCore::LockedCopy(const QueuedMessage& m) {
  Message out = m.stored.message;
  out.lock_token = m.lock_token;
  out.lock_deadline = m.lock_deadline;
  out.delivery_count = m.delivery_count;
  return out;
}

QueuedMessage* QueueCore::FindLocked(std::string_view key, std::string_view token) {
  QueuedMessage* m = index_.FindByLockToken(token);
  if (m == nullptr || m->key != key || m->state != DeliveryState::kInvisible) return nullptr;
  Timestamp now = clock_.Now();
  if (m->lock_deadline <= now || m->stored.expiry <= now) return nullptr;
  return m;
}

void QueueCore::Release(QueuedMessage* m, uint32_t delivery_count,
                        std::function<void(Status)> done) {
  index_.Unlock(m);
  m->delivery_count = delivery_count;
  PersistState(*m, std::move(done));
}

void QueueCore::PersistState(const QueuedMessage& m, std::function<void(Status)> done) {
  storage::WriteBatch batch;
  batch.Put(state_table_, StateKey(m.key, m.seq),
            EncodeDeliveryState({.delivery_count = m.delivery_count,
                                 .lock_token = m.lock_token,
                                 .lock_deadline = m.lock_deadline}));
  store_.Commit(std::move(batch), storage::Durability::kAsync,
                [this, done = std::move(done), queue = queue_name_, key = m.key,
                 seq = m.seq](Result<storage::CommitResult> r) {
                  if (!r) {
                    HUB_LOG_WARN("c2d", "persisting delivery state of {}/{}/{} failed: {}", queue,
                                 key, seq, r.error().ToString());
                  }
                  if (done) Post([done, status = r.status()] { done(status); });
                });
}

void QueueCore::Remove(const std::vector<QueuedMessage*>& messages, storage::WriteBatch prefix,
                       storage::Durability durability, bool retry_later,
                       std::function<void(Result<storage::CommitResult>)> done) {
  std::vector<std::pair<std::string, uint64_t>> ids;
  ids.reserve(messages.size());
  // The prefix (feedback records) comes first: a crash after it but before the deletions costs a
  // redelivery, never a lost record (ARCHITECTURE.md, "Durability contract").
  for (QueuedMessage* m : messages) {
    prefix.QueueDelete(queue_name_, m->key, m->seq);
    prefix.Delete(state_table_, StateKey(m->key, m->seq));
    ids.emplace_back(m->key, m->seq);
  }
  for (QueuedMessage* m : messages) index_.BeginRemoval(m);
  store_.Commit(std::move(prefix), durability,
                [this, ids = std::move(ids), retry_later,
                 done = std::move(done)](Result<storage::CommitResult> r) {
                  Post([this, ids, retry_later, done, r = std::move(r)]() {
                    Timestamp retry_at = retry_later ? clock_.Now() + kRetryDelay : Timestamp();
                    for (const auto& [key, seq] : ids) {
                      QueuedMessage* m = index_.Find(key, seq);
                      // Gone or changed: the key was dropped meanwhile (RemoveDevice).
                      if (m == nullptr || m->state != DeliveryState::kRemoving) continue;
                      if (r) {
                        index_.Erase(m);
                      } else {
                        index_.CancelRemoval(m, retry_at);
                      }
                    }
                    if (!r) {
                      HUB_LOG_WARN("c2d", "removing {} message(s) from {} failed: {}", ids.size(),
                                   queue_name_, r.error().ToString());
                    }
                    if (done) done(r);
                  });
                });
}

Status QueueCore::RecoverKey(std::string_view key) {
  std::map<uint64_t, QueuedMessage> loaded;
  for (uint64_t from = 0;;) {
    HUB_ASSIGN_OR_RETURN(auto entries, store_.ReadQueue(queue_name_, key, from, kRecoveryPage));
    for (storage::QueueEntry& e : entries) {
      auto decoded = DecodeStoredQueueMessage(e.value);
      if (!decoded) {
        HUB_LOG_ERROR("c2d", "skipping undecodable entry {}/{}/{}: {}", queue_name_, key, e.seq,
                      decoded.error().ToString());
        continue;
      }
      QueuedMessage m;
      m.key = std::string(key);
      m.seq = e.seq;
      m.stored = std::move(decoded).value();
      loaded.emplace(e.seq, std::move(m));
    }
    if (entries.size() < kRecoveryPage) break;
    from = entries.back().seq + 1;
  }

  storage::WriteBatch orphans;
  std::string prefix = StateKeyPrefix(key);
  for (std::string after;;) {
    HUB_ASSIGN_OR_RETURN(auto rows, store_.Scan(state_table_, prefix, after, kRecoveryPage));
    for (const storage::TableEntry& row : rows) {
      uint64_t seq;
      if (!ParseStateKey(row.key, key, &seq)) continue;  // another key sharing the prefix
      auto it = loaded.find(seq);
      if (it == loaded.end()) {
        // The message was deleted but a crash came before its state record went.
        orphans.Delete(state_table_, row.key);
        continue;
      }
      auto state = DecodeDeliveryState(row.value);
      if (!state) {
        HUB_LOG_ERROR("c2d", "ignoring undecodable state {}/{}: {}", state_table_, row.key,
                      state.error().ToString());
        continue;
      }
      QueuedMessage& m = it->second;
      m.delivery_count = state->delivery_count;
      if (!state->lock_token.empty()) {
        m.state = DeliveryState::kInvisible;
        m.lock_token = state->lock_token;
        m.lock_deadline = state->lock_deadline;
      }
    }
    if (rows.size() < kRecoveryPage) break;
    after = rows.back().key;
  }

  for (auto& [seq, m] : loaded) {
    if (!m.lock_token.empty() && index_.FindByLockToken(m.lock_token) != nullptr) {
      m.state = DeliveryState::kEnqueued;  // a clashing token cannot be trusted: just unlock
      m.lock_token.clear();
    }
    index_.Insert(std::move(m));  // nullptr (already present) only if recovered twice
  }
  if (!orphans.empty()) {
    store_.Commit(
        std::move(orphans), storage::Durability::kAsync, [](Result<storage::CommitResult> r) {
          if (!r) HUB_LOG_WARN("c2d", "deleting orphan states failed: {}", r.error().ToString());
        });
  }
  return Status::Ok();
}

}  // namespace iothub::core
