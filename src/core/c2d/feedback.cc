#include "core/c2d/feedback.h"

#include <nlohmann/json.hpp>

#include "base/coding.h"

namespace iothub::core {
namespace {

constexpr uint8_t kRecordVersion = 1;

}  // namespace

std::string_view FeedbackStatusName(FeedbackStatus status) {
  switch (status) {
    case FeedbackStatus::kSuccess:
      return "Success";
    case FeedbackStatus::kExpired:
      return "Expired";
    case FeedbackStatus::kDeliveryCountExceeded:
      return "DeliveryCountExceeded";
    case FeedbackStatus::kRejected:
      return "Rejected";
    case FeedbackStatus::kPurged:
      return "Purged";
  }
  return "Success";
}

std::string_view FeedbackDescription(FeedbackStatus status) {
  switch (status) {
    case FeedbackStatus::kSuccess:
      return "Success";
    case FeedbackStatus::kExpired:
      return "Message expired";
    case FeedbackStatus::kDeliveryCountExceeded:
      return "Message delivery count exceeded";
    case FeedbackStatus::kRejected:
      return "Message rejected";
    case FeedbackStatus::kPurged:
      return "Message purged";
  }
  return "Success";
}

bool AckWants(AckMode ack, FeedbackStatus status) {
  switch (ack) {
    case AckMode::kNone:
      return false;
    case AckMode::kPositive:
      return status == FeedbackStatus::kSuccess;
    case AckMode::kNegative:
      return status != FeedbackStatus::kSuccess;
    case AckMode::kFull:
      return true;
  }
  return false;
}

std::string FeedbackRecord::Id() const {
  std::string id = device_id;
  id.push_back('/');
  id += std::to_string(c2d_seq);
  id.push_back('/');
  id += FeedbackStatusName(status);
  return id;
}

std::string EncodeFeedbackRecord(const FeedbackRecord& r) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(r.status));
  PutFixed64BE(&out, r.c2d_seq);
  PutFixed64BE(&out, static_cast<uint64_t>(ToUnixMillis(r.time)));
  PutLengthPrefixed(&out, r.device_id);
  PutLengthPrefixed(&out, r.device_generation_id);
  PutLengthPrefixed(&out, r.original_message_id);
  return out;
}

Result<FeedbackRecord> DecodeFeedbackRecord(std::string_view bytes) {
  Decoder d(bytes);
  uint8_t version, status;
  uint64_t time;
  FeedbackRecord r;
  if (!d.GetByte(&version) || version != kRecordVersion) {
    return Corruption("stored feedback record has an unknown format version");
  }
  if (!d.GetByte(&status) || status > static_cast<uint8_t>(FeedbackStatus::kPurged) ||
      !d.GetFixed64BE(&r.c2d_seq) || !d.GetFixed64BE(&time) || !d.GetLengthPrefixed(&r.device_id) ||
      !d.GetLengthPrefixed(&r.device_generation_id) ||
      !d.GetLengthPrefixed(&r.original_message_id) || !d.done()) {
    return Corruption("stored feedback record is malformed");
  }
  r.status = static_cast<FeedbackStatus>(status);
  r.time = FromUnixMillis(static_cast<int64_t>(time));
  return r;
}

std::string FeedbackRecordsToJson(const std::vector<FeedbackRecord>& records) {
  nlohmann::json array = nlohmann::json::array();
  for (const FeedbackRecord& r : records) {
    array.push_back({
        {"originalMessageId", r.original_message_id},
        {"enqueuedTimeUtc", FormatIso8601(r.time)},
        {"statusCode", FeedbackStatusName(r.status)},
        {"description", FeedbackDescription(r.status)},
        {"deviceId", r.device_id},
        {"deviceGenerationId", r.device_generation_id},
    });
  }
  // Replace invalid UTF-8 (ids are opaque bytes) instead of letting dump() throw.
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace iothub::core
