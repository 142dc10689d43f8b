#include "http/errors.h"

#include <nlohmann/json.hpp>
#include <string>

#include "base/strings.h"

namespace iothub::http {

HttpError HttpErrorFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return {400, "ArgumentInvalid"};
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return {401, "IotHubUnauthorizedAccess"};
    case StatusCode::kResourceExhausted:
      if (StartsWithIgnoreCase(status.reason(), "Throttl")) return {429, "ThrottlingException"};
      return {403, "IotHubQuotaExceeded"};
    case StatusCode::kNotFound:
      return {404, "DeviceNotFound"};
    case StatusCode::kAlreadyExists:
      return {409, "DeviceAlreadyExists"};
    case StatusCode::kPreconditionFailed:
      return {412, "PreconditionFailed"};
    case StatusCode::kTooLarge:
      return {413, "MessageTooLarge"};
    case StatusCode::kUnavailable:
      return {503, "ServiceUnavailable"};
    case StatusCode::kOk:  // a caller bug: answer as a fault rather than crash on user input
    case StatusCode::kInternal:
    case StatusCode::kCorruption:
      break;
  }
  return {500, "ServerError"};
}

Response ErrorResponse(int http_status, std::string_view code, std::string_view message) {
  // The Node SDK (azure-iot-http-base parseErrorBody) splits Message at ';' and drops the error
  // code when the text after it is empty: never send an empty text.
  std::string text = message.empty() ? std::string(code) : std::string(message);
  nlohmann::json body = {{"Message", "ErrorCode:" + std::string(code) + ";" + text},
                         {"ExceptionMessage", text}};
  // Messages may quote user input: replace invalid UTF-8 rather than throw.
  return JsonResponse(http_status,
                      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response ErrorResponse(const Status& status) {
  HttpError error = HttpErrorFor(status);
  std::string_view code = status.reason().empty() ? error.code : std::string_view(status.reason());
  return ErrorResponse(error.status, code,
                       error.status == 500 ? "internal server error" : status.message());
}

}  // namespace iothub::http
