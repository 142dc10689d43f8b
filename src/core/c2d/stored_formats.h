#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "core/message.h"

namespace iothub::core {

// Store objects owned by the C2D and feedback code (README.md, "Storage layout").
inline constexpr std::string_view kC2dQueue = "c2d";             // key: device id
inline constexpr std::string_view kC2dStateTable = "c2d_state";  // key: StateKey(device, seq)
inline constexpr std::string_view kFeedbackRecordQueue = "feedback_records";  // key: kFeedbackKey
inline constexpr std::string_view kFeedbackQueue = "feedback";                // key: kFeedbackKey
// key: StateKey(kFeedbackKey, seq)
inline constexpr std::string_view kFeedbackStateTable = "feedback_state";
inline constexpr std::string_view kFeedbackKey = "all";

// The immutable value of a queue entry (C2D message or feedback message). The message's
// sequence_number is not stored: it is the entry's store seq, filled in on load.
struct StoredQueueMessage {
  std::string generation_id;              // C2D: generationId of the device it was sent to
  Timestamp expiry;                       // effective absolute expiry (sender's or default TTL)
  std::vector<uint64_t> covered_records;  // feedback: seqs of the records this message carries
  Message message;
};

std::string EncodeStoredQueueMessage(const StoredQueueMessage& m);
// Corruption on malformed bytes; never crashes on them.
Result<StoredQueueMessage> DecodeStoredQueueMessage(std::string_view bytes);

// Mutable delivery state of one queued message, persisted (kAsync) so locks and delivery counts
// survive a restart. An absent record means: delivery count 0, not locked.
struct DeliveryStateRecord {
  uint32_t delivery_count = 0;
  std::string lock_token;  // empty: not locked
  Timestamp lock_deadline;

  friend bool operator==(const DeliveryStateRecord&, const DeliveryStateRecord&) = default;
};

std::string EncodeDeliveryState(const DeliveryStateRecord& s);
Result<DeliveryStateRecord> DecodeDeliveryState(std::string_view bytes);

// "<queue key>/<16 lowercase hex digits of seq>". Device ids cannot hold '/' (registry
// validation), and ParseStateKey checks the suffix shape, so a prefix scan of "<key>/" never
// yields another key's records.
std::string StateKeyPrefix(std::string_view queue_key);
std::string StateKey(std::string_view queue_key, uint64_t seq);
// The seq of a state key under StateKeyPrefix(queue_key); false when it is not one.
bool ParseStateKey(std::string_view table_key, std::string_view queue_key, uint64_t* seq);

}  // namespace iothub::core
