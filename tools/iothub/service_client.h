#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "core/auth/sas_token.h"
#include "tools/iothub/transport.h"

namespace iothub::cli {

// Insertion-ordered, so that --json prints the hub's fields in the hub's order.
using Json = nlohmann::ordered_json;

// object[name] when `object` is an object and that member a string, else `fallback`. Never throws
// (nlohmann's value() does on a wrong type, and these objects come from the network).
std::string JsonString(const Json& object, const char* name, std::string fallback = {});

// The api-version every call sends (the hub accepts any).
inline constexpr char kApiVersion[] = "2021-04-12";

// A cloud-to-device message to send (REST contract, "Send C2D").
struct C2dMessage {
  std::string body;
  std::string message_id;           // IoTHub-MessageId; "" for none
  std::string correlation_id;       // IoTHub-CorrelationId
  std::string ack;                  // IoTHub-Ack: none|positive|negative|full; "" for none
  std::string content_type;         // Content-Type
  std::string content_encoding;     // iothub-contentencoding
  std::optional<Timestamp> expiry;  // IoTHub-Expiry (absolute)
  std::vector<std::pair<std::string, std::string>> properties;  // iothub-app-<k>: v
};

// One locked feedback message: a batch of feedback records.
struct FeedbackBatch {
  std::string lock_token;  // the ETag without quotes: complete or abandon with it
  Json records;            // a JSON array of {originalMessageId, statusCode, deviceId, ...}
};

// Which telemetry to follow (GET /messages/events as Server-Sent Events).
struct EventsQuery {
  std::string from = "end";   // "start" | "end"
  std::string device_id;      // "" for every device
  std::string last_event_id;  // "<partition>:<offset>[,...]" to resume after, or ""
};

// The hub's service REST API (/work/rest-contract.md) over a Transport, authenticated with SAS
// tokens signed by the connection string's policy key (a fresh one-hour token per request). Path
// segments are percent-encoded. Every call fails with StatusFromResponse (error_body.h) on an
// answer other than the expected 2xx, with the Transport's Status when no answer came, and with
// kBadResponse when a 2xx body is not the expected JSON. Thread: as the Transport (one thread).
class ServiceClient {
 public:
  // `transport` and `clock` must outlive the client.
  ServiceClient(Transport& transport, core::auth::ConnectionString connection, const Clock& clock);

  const std::string& host_name() const { return connection_.host_name; }

  // PUT /devices/{id} without If-Match: creates `device` (which holds deviceId); the new device.
  Result<Json> CreateDevice(const Json& device);
  // PUT /devices/{id} with If-Match `etag` ("*" for any): replaces; the new device.
  Result<Json> ReplaceDevice(const Json& device, std::string_view etag);
  Result<Json> GetDevice(std::string_view id);
  // GET /devices/?top=N: a JSON array of devices.
  Result<Json> ListDevices(int top);
  // DELETE /devices/{id} with If-Match `etag` ("*" when empty).
  Status DeleteDevice(std::string_view id, std::string_view etag);
  // GET /statistics/devices and /statistics/service.
  Result<Json> DeviceStatistics();
  Result<Json> ServiceStatistics();

  // POST /devices/{id}/messages/deviceBound: {"deviceId","messageId","sequenceNumber"} once the
  // hub holds the message durably.
  Result<Json> SendC2d(std::string_view id, const C2dMessage& message);
  // DELETE /devices/{id}/commands: {"totalMessagesPurged","deviceId","moduleId"}.
  Result<Json> PurgeC2d(std::string_view id);

  // GET /messages/serviceBound/feedback: the oldest visible batch, now locked for us, or nullopt
  // when there is none (204).
  Result<std::optional<FeedbackBatch>> ReceiveFeedback();
  Status CompleteFeedback(std::string_view lock_token);
  Status AbandonFeedback(std::string_view lock_token);

  // GET /messages/events with Accept: text/event-stream; the body goes to `handler`.
  Status StreamEvents(const EventsQuery& query, StreamHandler& handler);

  // The request for `method` on `path` (already encoded) with the api-version added to `query`
  // ("a=b&c=d" or ""), the Authorization header, and Accept: application/json.
  HttpRequest MakeRequest(std::string method, std::string_view path, std::string_view query = {});

 private:
  // Sends `request`; a status outside 200..299 is an error.
  Result<HttpResponse> Call(const HttpRequest& request);
  // Call, then the body as JSON (a kBadResponse error when it is not).
  Result<Json> CallJson(const HttpRequest& request);

  Transport& transport_;
  core::auth::ConnectionString connection_;
  const Clock& clock_;
};

}  // namespace iothub::cli
