#include "tools/iothub/cli_status.h"

#include <string_view>

namespace iothub::cli {

int ExitCodeFor(const Status& status) {
  const std::string& reason = status.reason();
  if (status.ok()) return kExitOk;
  if (reason == kUsageError) return kExitUsage;
  if (reason == kConfigError) return kExitConfig;
  if (reason == kConnectionError) return kExitConnection;
  if (reason == kInterrupted) return kExitInterrupted;
  if (reason == kTimedOut) return kExitTimedOut;
  if (reason == kBadResponse) return kExitFailure;
  if (reason == kNegativeFeedback) return kExitNegativeFeedback;
  switch (status.code()) {
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return kExitUnauthorized;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kAlreadyExists:
    case StatusCode::kPreconditionFailed:
      return kExitConflict;
    case StatusCode::kInvalidArgument:
    case StatusCode::kResourceExhausted:
    case StatusCode::kTooLarge:
      return kExitRejected;
    case StatusCode::kUnavailable:
    case StatusCode::kInternal:
    case StatusCode::kCorruption:
      return kExitServerError;
    default:
      return kExitFailure;
  }
}

std::string ErrorLine(const Status& status) {
  const std::string& reason = status.reason();
  bool ours = std::string_view(reason).substr(0, 7) == "iothub.";
  if (reason.empty() || ours) return status.message();
  if (status.message().empty()) return reason;
  return reason + ": " + status.message();
}

}  // namespace iothub::cli
