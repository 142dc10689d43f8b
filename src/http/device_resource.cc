#include "http/device_resource.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/crypto.h"
#include "base/strings.h"
#include "http/device_auth.h"
#include "http/errors.h"
#include "http/message_headers.h"
#include "http/traffic.h"

namespace iothub::http {
namespace {

using nlohmann::json;

constexpr std::string_view kBatchContentType = "application/vnd.microsoft.iothub.json";

// Authorizes the request for `id` and records the device's activity. Returns the principal, or
// the 401 answer.
Result<core::auth::Principal> AuthorizeAndTouch(core::Hub& hub, const Request& request,
                                                std::string_view id) {
  auto principal = AuthorizeDevice(hub.authenticator(), request, id, hub.host_name());
  if (principal) hub.registry().TouchActivity(id);
  return principal;
}

// The `iothub-connection-auth-method` IoT Hub stamps on telemetry: scope "device" for a device's
// own key, "hub" for a shared access policy.
bool IsBatch(const Request& request) {
  std::string_view type = request.Header("Content-Type").value_or("");
  type = type.substr(0, type.find(';'));  // media type parameters (charset) do not matter
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return EqualsIgnoreCase(type, kBatchContentType);
}

// A property value of a batch: strings as is, numbers and booleans as their JSON text (lenient:
// the SDKs send strings, hand-written batches may not).
std::optional<std::string> PropertyValue(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

Result<core::Message> BatchMessage(const json& item, size_t index) {
  std::string where = "batch message " + std::to_string(index) + ": ";
  if (!item.is_object()) {
    return InvalidArgument(where + "must be a JSON object", "ArgumentInvalid");
  }
  core::Message message;
  bool base64 = true;
  if (auto it = item.find("base64Encoded"); it != item.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument(where + "'base64Encoded' must be a boolean", "ArgumentInvalid");
    }
    base64 = it->get<bool>();
  }
  if (auto it = item.find("body"); it != item.end() && !it->is_null()) {
    if (!it->is_string()) {
      return InvalidArgument(where + "'body' must be a string", "ArgumentInvalid");
    }
    const std::string& text = it->get_ref<const std::string&>();
    if (base64) {
      std::optional<std::string> decoded = Base64Decode(text);
      if (!decoded) return InvalidArgument(where + "'body' is not base64", "ArgumentInvalid");
      message.body = std::move(*decoded);
    } else {
      message.body = text;
    }
  }
  if (auto it = item.find("properties"); it != item.end() && !it->is_null()) {
    if (!it->is_object()) {
      return InvalidArgument(where + "'properties' must be an object", "ArgumentInvalid");
    }
    // The keys are the header names of a single send: one mapping for both forms.
    Headers headers;
    for (const auto& [key, value] : it->items()) {
      std::optional<std::string> text = PropertyValue(value);
      if (!text) {
        return InvalidArgument(where + "property '" + key + "' must be a string",
                               "ArgumentInvalid");
      }
      headers.insert_or_assign(key, std::move(*text));
    }
    Status mapped = MessageFromHeaders(headers, &message);
    if (!mapped.ok()) return InvalidArgument(where + mapped.message(), "ArgumentInvalid");
  }
  return message;
}

Result<std::vector<core::Message>> ParseBatch(std::string_view body) {
  json batch = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (batch.is_discarded() || !batch.is_array()) {
    return InvalidArgument("a batch must be a JSON array of messages", "ArgumentInvalid");
  }
  if (batch.empty()) return InvalidArgument("the batch holds no message", "ArgumentInvalid");
  std::vector<core::Message> messages;
  messages.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    HUB_ASSIGN_OR_RETURN(core::Message message, BatchMessage(batch[i], i));
    messages.push_back(std::move(message));
  }
  return messages;
}

// The Node SDK sends `iothub-to: /devices/<id>/messages/events` with every event, unless the
// message has its own `to`. That is addressing, not something the sender set: drop it.
void DropDefaultTo(std::string_view id, core::Message* message) {
  std::string decoded;
  if (!UrlDecode(message->to, &decoded)) return;
  if (decoded == "/devices/" + std::string(id) + "/messages/events") message->to.clear();
}

void SendEvents(core::Hub& hub, const Request& request, std::string id, Responder respond) {
  auto principal = AuthorizeAndTouch(hub, request, id);
  if (!principal) return respond(ErrorResponse(principal.error()));
  std::optional<std::string> generation = hub.registry().GenerationId(id);
  if (!generation) {  // deleted since it authenticated
    return respond(ErrorResponse(NotFound("device '" + id + "' not found", "DeviceNotFound")));
  }
  core::AppendContext context{.auth_method = core::auth::AuthMethodJson(*principal),
                              .generation_id = std::move(*generation)};
  if (IsBatch(request)) {
    auto messages = ParseBatch(request.body);
    if (!messages) return respond(ErrorResponse(messages.error()));
    hub.telemetry().AppendBatch(
        id, std::move(*messages), context, [respond](Result<std::vector<core::Position>> appended) {
          if (appended) CountMessages(Traffic::kTelemetryIn, appended->size());
          respond(appended ? EmptyResponse(204) : ErrorResponse(appended.error()));
        });
    return;
  }
  core::Message message;
  message.body = request.body;
  Status mapped = MessageFromHeaders(request.headers, &message);
  if (!mapped.ok()) return respond(ErrorResponse(mapped));
  DropDefaultTo(id, &message);
  hub.telemetry().Append(id, std::move(message), context,
                         [respond](Result<core::Position> appended) {
                           if (appended) CountMessages(Traffic::kTelemetryIn);
                           respond(appended ? EmptyResponse(204) : ErrorResponse(appended.error()));
                         });
}

// IotHub-MessageLockTimeout in whole seconds, clamped; nullopt when absent (the queues' default).
Result<std::optional<Duration>> LockTimeout(const Request& request) {
  std::optional<std::string_view> header = request.Header("IotHub-MessageLockTimeout");
  if (!header) return std::optional<Duration>();
  std::string_view text = *header;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument("IotHub-MessageLockTimeout must be a whole number of seconds",
                           "ArgumentInvalid");
  }
  seconds = std::clamp<int64_t>(seconds, kMinLockTimeout.count(), kMaxLockTimeout.count());
  return std::optional<Duration>(std::chrono::seconds(seconds));
}

void Receive(core::Hub& hub, const Request& request, std::string id, Responder respond) {
  auto principal = AuthorizeAndTouch(hub, request, id);
  if (!principal) return respond(ErrorResponse(principal.error()));
  auto lock_timeout = LockTimeout(request);
  if (!lock_timeout) return respond(ErrorResponse(lock_timeout.error()));
  hub.ReceiveC2d(std::move(id), *lock_timeout, AnswerInline(),
                 [respond = std::move(respond)](std::optional<core::Message> message) {
                   if (!message) return respond(EmptyResponse(204));
                   CountMessages(Traffic::kC2dOut);
                   respond(LockedMessageResponse(std::move(*message)));
                 });
}

// A lock token as the path carries it; an ETag-style quoted value loses its quotes.
std::string LockFromPath(std::string_view lock) {
  if (lock.size() >= 2 && lock.front() == '"' && lock.back() == '"') {
    lock = lock.substr(1, lock.size() - 2);
  }
  return std::string(lock);
}

enum class Settlement { kComplete, kReject, kAbandon };

void Settle(core::Hub& hub, const Request& request, std::string id, std::string lock,
            Settlement settlement, Responder respond) {
  auto principal = AuthorizeAndTouch(hub, request, id);
  if (!principal) return respond(ErrorResponse(principal.error()));
  auto done = [respond = std::move(respond)](Status status) {
    respond(status.ok() ? EmptyResponse(204) : ErrorResponse(status));
  };
  switch (settlement) {
    case Settlement::kComplete:
      return hub.CompleteC2d(std::move(id), std::move(lock), AnswerInline(), std::move(done));
    case Settlement::kReject:
      return hub.RejectC2d(std::move(id), std::move(lock), AnswerInline(), std::move(done));
    case Settlement::kAbandon:
      return hub.AbandonC2d(std::move(id), std::move(lock), AnswerInline(), std::move(done));
  }
}

}  // namespace

void AddDeviceRoutes(Router& router, core::Hub& hub_ref) {
  // Captured by pointer: the handlers outlive this call (the hub outlives the router).
  core::Hub* hub = &hub_ref;
  router.AddAsync("POST", "/devices/{id}/messages/events",
                  [hub](const Request& request, const RouteParams& params, Responder respond) {
                    SendEvents(*hub, request, std::string(params.Get("id")), std::move(respond));
                  });
  router.AddAsync("GET", "/devices/{id}/messages/devicebound",
                  [hub](const Request& request, const RouteParams& params, Responder respond) {
                    Receive(*hub, request, std::string(params.Get("id")), std::move(respond));
                  });
  router.AddAsync("DELETE", "/devices/{id}/messages/devicebound/{lock}",
                  [hub](const Request& request, const RouteParams& params, Responder respond) {
                    // "?reject" (a key without a value) turns the complete into a reject.
                    Settlement settlement = request.Query("reject").has_value()
                                                ? Settlement::kReject
                                                : Settlement::kComplete;
                    Settle(*hub, request, std::string(params.Get("id")),
                           LockFromPath(params.Get("lock")), settlement, std::move(respond));
                  });
  router.AddAsync("POST", "/devices/{id}/messages/devicebound/{lock}/abandon",
                  [hub](const Request& request, const RouteParams& params, Responder respond) {
                    Settle(*hub, request, std::string(params.Get("id")),
                           LockFromPath(params.Get("lock")), Settlement::kAbandon,
                           std::move(respond));
                  });
}

}  // namespace iothub::http
