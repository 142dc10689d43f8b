#include "tools/iothub/error_body.h"

#include <nlohmann/json.hpp>

namespace iothub::cli {
namespace {

constexpr size_t kMaxTextLength = 200;

std::string StringField(const nlohmann::ordered_json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return {};
}

// The first line of `text`, trimmed and capped.
std::string FirstLine(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  text = text.substr(begin);
  text = text.substr(0, text.find_first_of("\r\n"));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.size() > kMaxTextLength) return std::string(text.substr(0, kMaxTextLength)) + "...";
  return std::string(text);
}

// {"code"/"errorCode"/"ErrorCode", "message"/"Message"} without the "ErrorCode:" prefix form.
AzureError FromObject(const nlohmann::ordered_json& object) {
  AzureError out;
  for (const char* name : {"errorCode", "ErrorCode", "code", "Code"}) {
    if (out.code.empty()) out.code = StringField(object, name);
  }
  for (const char* name : {"message", "Message", "ExceptionMessage"}) {
    if (out.message.empty()) out.message = FirstLine(StringField(object, name));
  }
  return out;
}

std::string_view StatusText(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "unexpected answer";
  }
}

}  // namespace

AzureError ParseErrorBody(std::string_view body) {
  auto json = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return {.code = {}, .message = json.is_discarded() ? FirstLine(body) : ""};

  std::string message = StringField(json, "Message");
  constexpr std::string_view kPrefix = "ErrorCode:";
  if (message.compare(0, kPrefix.size(), kPrefix) == 0) {
    AzureError out;
    size_t semicolon = message.find(';');
    out.code =
        message.substr(kPrefix.size(), semicolon == std::string::npos ? std::string::npos
                                                                      : semicolon - kPrefix.size());
    if (semicolon != std::string::npos) out.message = FirstLine(message.substr(semicolon + 1));
    if (out.message.empty()) out.message = FirstLine(StringField(json, "ExceptionMessage"));
    return out;
  }
  // IoT Hub sometimes nests a JSON object in Message.
  auto nested = nlohmann::ordered_json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (nested.is_object()) {
    AzureError out = FromObject(nested);
    if (!out.code.empty() || !out.message.empty()) return out;
  }
  return FromObject(json);
}

Status StatusFromResponse(const HttpResponse& response) {
  AzureError error = ParseErrorBody(response.body);
  int http = response.status;
  std::string reason = error.code.empty() ? "HTTP " + std::to_string(http) : error.code;
  std::string message = error.message.empty() ? std::string(StatusText(http)) : error.message;
  if (!error.code.empty() && !error.message.empty() && http >= 400) {
    // Keep the HTTP status visible next to the Azure code.
    message += " (HTTP " + std::to_string(http) + ")";
  }
  StatusCode code;
  if (http == 401) {
    code = StatusCode::kUnauthenticated;
  } else if (http == 403) {
    code = reason.find("Unauthorized") != std::string::npos ? StatusCode::kPermissionDenied
                                                            : StatusCode::kResourceExhausted;
  } else if (http == 404) {
    code = StatusCode::kNotFound;
  } else if (http == 409) {
    code = StatusCode::kAlreadyExists;
  } else if (http == 412) {
    code = StatusCode::kPreconditionFailed;
  } else if (http == 413) {
    code = StatusCode::kTooLarge;
  } else if (http == 429) {
    code = StatusCode::kResourceExhausted;
  } else if (http == 503) {
    code = StatusCode::kUnavailable;
  } else if (http >= 500) {
    code = StatusCode::kInternal;
  } else if (http >= 400) {
    code = StatusCode::kInvalidArgument;
  } else {
    return Internal("unexpected answer HTTP " + std::to_string(http) + ": " + message,
                    kBadResponse);
  }
  return Status(code, std::move(message), std::move(reason));
}

}  // namespace iothub::cli
