// c2d send [--wait-feedback], c2d purge, feedback receive [--follow].
#include <chrono>
#include <optional>
#include <vector>

#include "base/crypto.h"
#include "tools/iothub/cli_status.h"
#include "tools/iothub/commands.h"
#include "tools/iothub/output.h"

namespace iothub::cli {
namespace {

constexpr char kSuccess[] = "Success";

std::optional<Timestamp> DeadlineOf(const Invocation& inv, const Context& ctx) {
  if (!inv.timeout_seconds) return std::nullopt;
  return ctx.clock.Now() + Duration(static_cast<int64_t>(*inv.timeout_seconds * 1000));
}

Status InterruptedStatus() { return Unavailable("interrupted", kInterrupted); }

// Sets ctx.shield for its lifetime.
class Shield {
 public:
  explicit Shield(Context& ctx) : ctx_(ctx) { ctx_.shield(true); }
  ~Shield() { ctx_.shield(false); }
  Shield(const Shield&) = delete;
  Shield& operator=(const Shield&) = delete;

 private:
  Context& ctx_;
};

// The record of `batch` about `message_id`, or nullptr.
const Json* FindRecord(const FeedbackBatch& batch, const std::string& message_id) {
  for (const Json& record : batch.records) {
    if (JsonString(record, "originalMessageId") == message_id) return &record;
  }
  return nullptr;
}

// Polls until the feedback record of `message_id` arrives (*record, its batch completed), the
// deadline passes or a signal comes. Batches without it are held locked meanwhile and abandoned
// at the end (commands.h says why).
Status WaitForFeedback(const std::string& message_id, std::optional<Timestamp> deadline,
                       Context& ctx, Json* record) {
  std::vector<std::string> held;
  auto wait = [&]() -> Status {
    while (true) {
      if (ctx.interrupted()) return InterruptedStatus();
      if (deadline && ctx.clock.Now() >= *deadline) {
        return Unavailable("no feedback for message " + message_id +
                               " before the timeout (feedback comes once the device completes, "
                               "rejects or lets the message expire, in batches)",
                           kTimedOut);
      }
      HUB_ASSIGN_OR_RETURN(std::optional<FeedbackBatch> batch, ctx.client.ReceiveFeedback());
      if (!batch) {
        if (!ctx.sleep(kFeedbackPollInterval)) return InterruptedStatus();
        continue;
      }
      if (const Json* found = FindRecord(*batch, message_id)) {
        *record = *found;
        Shield shield(ctx);
        return ctx.client.CompleteFeedback(batch->lock_token);
      }
      held.push_back(batch->lock_token);  // and look at the next batch at once
    }
  };
  Status result = wait();
  Shield shield(ctx);
  for (const std::string& lock : held) {
    // A lock that expired meanwhile (412) needs nothing more.
    ctx.client.AbandonFeedback(lock).IgnoreError();
  }
  return result;
}

}  // namespace

Status RunC2dSend(const Invocation& inv, Context& ctx) {
  C2dMessage message = inv.message;
  if (inv.wait_feedback && message.message_id.empty()) message.message_id = NewUuid();
  if (inv.ttl_seconds) message.expiry = ctx.clock.Now() + std::chrono::seconds(*inv.ttl_seconds);
  HUB_ASSIGN_OR_RETURN(Json sent, ctx.client.SendC2d(inv.device_id, message));
  if (JsonString(sent, "deviceId").empty()) sent["deviceId"] = inv.device_id;
  if (!message.message_id.empty() && JsonString(sent, "messageId").empty()) {
    sent["messageId"] = message.message_id;
  }
  if (!inv.wait_feedback) {
    ctx.out << (inv.json ? JsonDocument(sent) : FormatSendResult(sent));
    return Status::Ok();
  }

  if (!inv.json) {
    ctx.out << FormatSendResult(sent) << std::flush;
    ctx.err << "Waiting for feedback on message " << message.message_id << " (ack " << message.ack
            << ")...\n"
            << std::flush;
  }
  Json record;
  HUB_RETURN_IF_ERROR(WaitForFeedback(message.message_id, DeadlineOf(inv, ctx), ctx, &record));
  if (inv.json) {
    ctx.out << JsonDocument({{"sent", sent}, {"feedback", record}});
  } else {
    ctx.out << "Feedback: " << FormatFeedbackRecord(record);
  }
  std::string code = JsonString(record, "statusCode");
  if (code != kSuccess) {
    return Status(StatusCode::kUnavailable,
                  "message " + message.message_id +
                      " was not delivered: " + (code.empty() ? "no statusCode" : code),
                  kNegativeFeedback);
  }
  return Status::Ok();
}

Status RunC2dPurge(const Invocation& inv, Context& ctx) {
  HUB_ASSIGN_OR_RETURN(Json purged, ctx.client.PurgeC2d(inv.device_id));
  ctx.out << (inv.json ? JsonDocument(purged) : FormatPurgeResult(purged, inv.device_id));
  return Status::Ok();
}

Status RunFeedbackReceive(const Invocation& inv, Context& ctx) {
  std::optional<Timestamp> deadline = DeadlineOf(inv, ctx);
  size_t printed = 0;
  while (true) {
    if (ctx.interrupted() || (deadline && ctx.clock.Now() >= *deadline)) break;
    auto batch = ctx.client.ReceiveFeedback();
    if (!batch) {
      if (batch.error().reason() == kInterrupted) break;  // Ctrl-C is how --follow ends
      return batch.error();
    }
    if (*batch) {
      // Printed, then completed: a crash in between shows a record twice rather than never.
      Shield shield(ctx);
      for (const Json& record : (*batch)->records) {
        ctx.out << (inv.json ? JsonLine(record) : FormatFeedbackRecord(record));
        ++printed;
      }
      ctx.out.flush();
      HUB_RETURN_IF_ERROR(ctx.client.CompleteFeedback((*batch)->lock_token));
      continue;
    }
    if (!inv.follow) break;
    if (!ctx.sleep(kFeedbackPollInterval)) break;
  }
  if (printed == 0 && !inv.json && !inv.follow) ctx.out << "No feedback records.\n";
  return Status::Ok();
}

}  // namespace iothub::cli
