#pragma once

#include <string_view>

#include "base/status.h"
#include "http/message.h"

namespace iothub::http {

// The one place mapping core Status values to HTTP (PROTOCOL.md, "HTTPS REST").
struct HttpError {
  int status;             // HTTP status code
  std::string_view code;  // Azure error code used when the Status carries no reason
};

// The HTTP status and default Azure error code for `status` (which must not be ok):
//   InvalidArgument 400 ArgumentInvalid        Unauthenticated  401 IotHubUnauthorizedAccess
//   PermissionDenied 401 IotHubUnauthorizedAccess (Azure answers 401003 when a policy lacks the
//     right: "Authorization rule '...' does not allow access for '...'")
//   ResourceExhausted 403 IotHubQuotaExceeded, but 403 for DeviceMaximumQueueDepthExceeded and
//     429 when the reason names throttling ("Throttling...", "ThrottleBacklogLimitExceeded")
//   NotFound 404 DeviceNotFound   AlreadyExists 409 DeviceAlreadyExists
//   PreconditionFailed 412 PreconditionFailed   TooLarge 413 MessageTooLarge
//   Unavailable 503 ServiceUnavailable   Internal, Corruption 500 ServerError
HttpError HttpErrorFor(const Status& status);

// The Azure error response for `status`: HTTP status from HttpErrorFor, JSON body
// {"Message":"ErrorCode:<Code>;<message>","ExceptionMessage":"<message>"} where <Code> is the
// status's reason when set, else the table's code. Internal details stay out of 500 bodies.
Response ErrorResponse(const Status& status);

// An Azure error response with an explicit HTTP status and code, for errors that have no core
// Status (405, 431, a request the session could not parse).
Response ErrorResponse(int http_status, std::string_view code, std::string_view message);

}  // namespace iothub::http
