#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "tools/iothub/transport.h"

namespace iothub::cli {

// An error answer of the hub, read from its body.
struct AzureError {
  std::string code;     // e.g. "DeviceNotFound"; "" when the body names none
  std::string message;  // the human text; "" when the body has none
};

// Reads an Azure error body. Understands iothub's and IoT Hub's REST form
// {"Message":"ErrorCode:<Code>;<text>","ExceptionMessage":"<text>"}, IoT Hub's nested form (Message
// holding {"errorCode":404001,"message":"..."}), {"code","message"} objects, and plain text (its
// first line, at most 200 characters). Never fails: what it cannot read stays empty.
AzureError ParseErrorBody(std::string_view body);

// The Status for a response the caller did not expect (any non-2xx, or a 2xx it cannot use):
// the code follows the HTTP status (401 Unauthenticated, 403 PermissionDenied when the code says
// unauthorized else ResourceExhausted, 404 NotFound, 409 AlreadyExists, 412 PreconditionFailed,
// 413 TooLarge, 429 ResourceExhausted, 503 Unavailable, other 5xx Internal, other 4xx
// InvalidArgument), the reason is the body's Azure code (else "HTTP <status>"), the message the
// body's text (else the HTTP status line's text).
Status StatusFromResponse(const HttpResponse& response);

}  // namespace iothub::cli
