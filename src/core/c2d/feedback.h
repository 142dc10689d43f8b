#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "core/message.h"

namespace iothub::core {

// The outcome a feedback record reports (IoT Hub's FeedbackStatusCode).
enum class FeedbackStatus : uint8_t {
  kSuccess = 0,                // completed by the device
  kExpired = 1,                // TTL ran out before completion
  kDeliveryCountExceeded = 2,  // abandoned (or lock-expired) more than the max delivery count
  kRejected = 3,               // rejected by the device
  kPurged = 4,                 // removed by a purge of the device's queue
};

// "Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged".
std::string_view FeedbackStatusName(FeedbackStatus status);
// IoT Hub's descriptions: "Success", "Message expired", "Message delivery count exceeded",
// "Message rejected", "Message purged".
std::string_view FeedbackDescription(FeedbackStatus status);
// Whether a message sent with `ack` asks for a record of `status`: none -> never, positive ->
// Success only, negative -> every other status, full -> all.
bool AckWants(AckMode ack, FeedbackStatus status);

// One feedback record: the outcome of one C2D message that asked for it.
struct FeedbackRecord {
  std::string original_message_id;
  Timestamp time;  // when the outcome happened (IoT Hub's enqueuedTimeUtc of the record)
  FeedbackStatus status = FeedbackStatus::kSuccess;
  std::string device_id;
  std::string device_generation_id;
  uint64_t c2d_seq = 0;  // the C2D message's sequence number in its device's queue

  // Deterministic id "<device>/<c2d seq>/<status>": the same outcome recorded twice (a crash
  // between writing the record and deleting the message) has the same id and is emitted once.
  std::string Id() const;

  friend bool operator==(const FeedbackRecord&, const FeedbackRecord&) = default;
};

// A record as held in the store's record queue, with the seq the store gave it there.
struct StoredFeedbackRecord {
  uint64_t seq = 0;
  FeedbackRecord record;
};

std::string EncodeFeedbackRecord(const FeedbackRecord& r);
// Corruption on malformed bytes.
Result<FeedbackRecord> DecodeFeedbackRecord(std::string_view bytes);

// The body of a feedback message: a JSON array of
// {originalMessageId, enqueuedTimeUtc (ISO 8601), statusCode, description, deviceId,
//  deviceGenerationId}.
std::string FeedbackRecordsToJson(const std::vector<FeedbackRecord>& records);

inline constexpr std::string_view kFeedbackContentType =
    "application/vnd.microsoft.iothub.feedback.json";

}  // namespace iothub::core
