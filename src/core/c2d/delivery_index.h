#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "core/c2d/stored_formats.h"

namespace iothub::core {

enum class DeliveryState : uint8_t {
  kEnqueued,   // visible: the next receive may lock it
  kInvisible,  // locked by a receiver until lock_deadline
  kRemoving,   // a commit removing it (settle, dead-letter, purge) is in flight
};

// One queued message with its delivery state. Owned by a DeliveryIndex; pointers to it stay valid
// until it is erased. Fields marked "index" are changed only through DeliveryIndex.
struct QueuedMessage {
  std::string key;  // device id (C2D) or kFeedbackKey
  uint64_t seq = 0;
  StoredQueueMessage stored;  // stored.message.sequence_number == seq
  uint32_t delivery_count = 0;
  std::string lock_token;   // index; non-empty while locked (also while kRemoving from a lock)
  Timestamp lock_deadline;  // index
  DeliveryState state = DeliveryState::kEnqueued;                 // index
  DeliveryState state_before_removal = DeliveryState::kEnqueued;  // index
  Timestamp retry_at;        // index: no timer fires before this (after a failed commit)
  Timestamp timer_at;        // index
  bool timer_armed = false;  // index
};

// The in-memory state of a set of locked queues (one per key): messages in seq order, the visible
// ones, lock tokens and one timer per message (its expiry, or its lock deadline if earlier).
// Receive and settle are O(log n) without store reads. Pure data structure: no store, no clock,
// no callbacks. Not thread-safe: owned by the queue object that holds it.
class DeliveryIndex {
 public:
  DeliveryIndex() = default;
  DeliveryIndex(const DeliveryIndex&) = delete;
  DeliveryIndex& operator=(const DeliveryIndex&) = delete;

  // Adds `m` (state kEnqueued, or kInvisible with a lock token). Returns nullptr if (key, seq) is
  // already present or the lock token is in use.
  QueuedMessage* Insert(QueuedMessage m);

  QueuedMessage* Find(std::string_view key, uint64_t seq);
  // The message locked with `token`, in any state; nullptr if none.
  QueuedMessage* FindByLockToken(std::string_view token);
  // The first kEnqueued message of `key` with seq > after_seq.
  QueuedMessage* NextVisible(std::string_view key, uint64_t after_seq = 0);
  // Every message of `key`, in seq order.
  std::vector<QueuedMessage*> Messages(std::string_view key);
  // Keys holding at least one message.
  std::vector<std::string> Keys() const;

  // kEnqueued -> kInvisible with `token` (unique) until `deadline`.
  void Lock(QueuedMessage* m, std::string token, Timestamp deadline);
  // kInvisible -> kEnqueued; forgets the token.
  void Unlock(QueuedMessage* m);
  // Any state but kRemoving -> kRemoving (no timer; a lock token stays known).
  void BeginRemoval(QueuedMessage* m);
  // kRemoving -> the state before it; its timer fires no earlier than `retry_at`.
  void CancelRemoval(QueuedMessage* m, Timestamp retry_at);
  // Forgets `m` (any state); `m` dangles afterwards.
  void Erase(QueuedMessage* m);
  // Forgets every message of `key`.
  void EraseKey(std::string_view key);

  size_t Count(std::string_view key) const;
  size_t size() const { return size_; }

  // The earliest armed timer.
  std::optional<Timestamp> NextDeadline() const;
  // (key, seq) of every message whose timer is due at `now`, earliest first. A snapshot: the
  // caller handles each by Find, so changes made while handling one cannot invalidate the rest.
  std::vector<std::pair<std::string, uint64_t>> Due(Timestamp now) const;

 private:
  struct KeyQueue {
    std::map<uint64_t, QueuedMessage> messages;
    std::set<uint64_t> visible;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct TimerOrder {
    bool operator()(const std::pair<Timestamp, QueuedMessage*>& a,
                    const std::pair<Timestamp, QueuedMessage*>& b) const;
  };

  KeyQueue* FindQueue(std::string_view key);
  // Re-files m's timer from its state, expiry, lock deadline and retry_at.
  void Rearm(QueuedMessage* m);
  void Disarm(QueuedMessage* m);

  std::unordered_map<std::string, KeyQueue, StringHash, std::equal_to<>> queues_;
  std::unordered_map<std::string, QueuedMessage*, StringHash, std::equal_to<>> by_token_;
  std::set<std::pair<Timestamp, QueuedMessage*>, TimerOrder> timers_;
  size_t size_ = 0;
};

}  // namespace iothub::core
