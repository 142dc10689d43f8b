#include "tools/iothub/service_client.h"

#include <chrono>

#include "base/strings.h"
#include "tools/iothub/error_body.h"

namespace iothub::cli {
namespace {

constexpr auto kTokenLifetime = std::chrono::hours(1);
constexpr char kFeedbackPath[] = "/messages/serviceBound/feedback";

std::string DevicePath(std::string_view id) { return "/devices/" + UrlEncode(id); }

Status BadResponse(std::string what) { return Internal(std::move(what), kBadResponse); }

// "\"abc\"" -> "abc" (a weak W/ prefix too); anything else as is.
std::string Unquote(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

std::string Quote(std::string_view etag) {
  if (etag == "*" || (!etag.empty() && etag.front() == '"')) return std::string(etag);
  return "\"" + std::string(etag) + "\"";
}

}  // namespace

std::string JsonString(const Json& object, const char* name, std::string fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

ServiceClient::ServiceClient(Transport& transport, core::auth::ConnectionString connection,
                             const Clock& clock)
    : transport_(transport), connection_(std::move(connection)), clock_(clock) {}

HttpRequest ServiceClient::MakeRequest(std::string method, std::string_view path,
                                       std::string_view query) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::string(path) + "?" + std::string(query) + (query.empty() ? "" : "&") +
                   "api-version=" + kApiVersion;
  std::string token =
      core::auth::CreateSasToken(connection_.host_name, connection_.shared_access_key,
                                 clock_.Now() + kTokenLifetime, connection_.shared_access_key_name);
  request.headers.emplace_back("Authorization", std::move(token));
  request.headers.emplace_back("Accept", "application/json");
  return request;
}

Result<HttpResponse> ServiceClient::Call(const HttpRequest& request) {
  HUB_ASSIGN_OR_RETURN(HttpResponse response, transport_.Send(request));
  if (response.status < 200 || response.status > 299) return StatusFromResponse(response);
  return response;
}

Result<Json> ServiceClient::CallJson(const HttpRequest& request) {
  HUB_ASSIGN_OR_RETURN(HttpResponse response, Call(request));
  Json json = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return BadResponse("the hub answered " + request.method + " " +
                       request.target.substr(0, request.target.find('?')) +
                       " with a body that is not JSON");
  }
  return json;
}

Result<Json> ServiceClient::CreateDevice(const Json& device) {
  HttpRequest request = MakeRequest("PUT", DevicePath(JsonString(device, "deviceId")));
  request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  request.body = device.dump();
  return CallJson(request);
}

Result<Json> ServiceClient::ReplaceDevice(const Json& device, std::string_view etag) {
  HttpRequest request = MakeRequest("PUT", DevicePath(JsonString(device, "deviceId")));
  request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  request.headers.emplace_back("If-Match", Quote(etag.empty() ? "*" : etag));
  request.body = device.dump();
  return CallJson(request);
}

Result<Json> ServiceClient::GetDevice(std::string_view id) {
  return CallJson(MakeRequest("GET", DevicePath(id)));
}

Result<Json> ServiceClient::ListDevices(int top) {
  HUB_ASSIGN_OR_RETURN(Json list,
                       CallJson(MakeRequest("GET", "/devices/", "top=" + std::to_string(top))));
  if (!list.is_array()) return BadResponse("the hub's device list is not a JSON array");
  return list;
}

Status ServiceClient::DeleteDevice(std::string_view id, std::string_view etag) {
  HttpRequest request = MakeRequest("DELETE", DevicePath(id));
  request.headers.emplace_back("If-Match", Quote(etag.empty() ? "*" : etag));
  return Call(request).status();
}

Result<Json> ServiceClient::DeviceStatistics() {
  return CallJson(MakeRequest("GET", "/statistics/devices"));
}

Result<Json> ServiceClient::ServiceStatistics() {
  return CallJson(MakeRequest("GET", "/statistics/service"));
}

Result<Json> ServiceClient::SendC2d(std::string_view id, const C2dMessage& message) {
  HttpRequest request = MakeRequest("POST", DevicePath(id) + "/messages/deviceBound");
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) request.headers.emplace_back(name, value);
  };
  add("IoTHub-MessageId", message.message_id);
  add("IoTHub-CorrelationId", message.correlation_id);
  add("IoTHub-Ack", message.ack);
  if (message.expiry) add("IoTHub-Expiry", FormatIso8601(*message.expiry));
  add("Content-Type", message.content_type);
  // Not Content-Encoding: that would tell HTTP the body itself is compressed.
  add("iothub-contentencoding", message.content_encoding);
  for (const auto& [name, value] : message.properties) {
    request.headers.emplace_back("iothub-app-" + name, value);
  }
  request.body = message.body;
  HUB_ASSIGN_OR_RETURN(HttpResponse response, Call(request));
  if (response.body.empty()) return Json::object();
  Json json = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return BadResponse("the hub's answer to the send is not a JSON object");
  return json;
}

Result<Json> ServiceClient::PurgeC2d(std::string_view id) {
  return CallJson(MakeRequest("DELETE", DevicePath(id) + "/commands"));
}

Result<std::optional<FeedbackBatch>> ServiceClient::ReceiveFeedback() {
  HUB_ASSIGN_OR_RETURN(HttpResponse response, Call(MakeRequest("GET", kFeedbackPath)));
  if (response.status == 204) return std::optional<FeedbackBatch>();
  FeedbackBatch batch;
  batch.lock_token = Unquote(response.Header("ETag"));
  if (batch.lock_token.empty()) return BadResponse("the hub's feedback answer has no ETag");
  batch.records = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!batch.records.is_array()) {
    // Locked but unreadable: give it back rather than leave it locked until the lock expires.
    AbandonFeedback(batch.lock_token).IgnoreError();
    return BadResponse("the hub's feedback body is not a JSON array of records");
  }
  return std::optional<FeedbackBatch>(std::move(batch));
}

Status ServiceClient::CompleteFeedback(std::string_view lock_token) {
  return Call(MakeRequest("DELETE", std::string(kFeedbackPath) + "/" + UrlEncode(lock_token)))
      .status();
}

Status ServiceClient::AbandonFeedback(std::string_view lock_token) {
  return Call(MakeRequest("POST",
                          std::string(kFeedbackPath) + "/" + UrlEncode(lock_token) + "/abandon"))
      .status();
}

Status ServiceClient::StreamEvents(const EventsQuery& query, StreamHandler& handler) {
  std::string params = "from=" + UrlEncode(query.from);
  if (!query.device_id.empty()) params += "&deviceId=" + UrlEncode(query.device_id);
  HttpRequest request = MakeRequest("GET", "/messages/events", params);
  for (auto& [name, value] : request.headers) {
    if (name == "Accept") value = "text/event-stream";
  }
  if (!query.last_event_id.empty())
    request.headers.emplace_back("Last-Event-ID", query.last_event_id);
  return transport_.Stream(request, handler);
}

}  // namespace iothub::cli
