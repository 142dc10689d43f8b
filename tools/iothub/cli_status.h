#pragma once

#include <string>

#include "base/status.h"

namespace iothub::cli {

// Reasons the CLI gives to its own failures. The hub's errors carry the hub's Azure error code
// (e.g. "DeviceNotFound") as the Status reason instead (error_body.h).
inline constexpr char kUsageError[] = "iothub.Usage";            // a bad argument value
inline constexpr char kConfigError[] = "iothub.Config";          // hub settings missing/unreadable
inline constexpr char kConnectionError[] = "iothub.Connection";  // DNS, TCP, TLS, timeouts
inline constexpr char kInterrupted[] = "iothub.Interrupted";     // SIGINT / SIGTERM
inline constexpr char kTimedOut[] = "iothub.TimedOut";           // a --timeout ran out
inline constexpr char kBadResponse[] = "iothub.BadResponse";     // an answer the CLI cannot read
inline constexpr char kNegativeFeedback[] = "iothub.NegativeFeedback";  // not Success

// The process exit codes (documented in README.md; scripts rely on them: never renumber).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,            // anything else: an unreadable answer, an internal fault
  kExitUsage = 2,              // bad command line
  kExitConfig = 3,             // no hub given; unreadable connection string, data dir or CA file
  kExitConnection = 4,         // cannot reach the hub: DNS, TCP, TLS verification, timeout
  kExitUnauthorized = 5,       // 401 / 403 unauthorized: wrong key, policy without the right
  kExitNotFound = 6,           // 404: no such device (or the hub lacks the resource)
  kExitConflict = 7,           // 409 already exists, 412 etag mismatch
  kExitRejected = 8,           // 400 bad request, 403 queue full / quota, 413 too large, 429
  kExitServerError = 9,        // 5xx
  kExitTimedOut = 10,          // the --timeout of a wait ran out
  kExitNegativeFeedback = 11,  // --wait-feedback: the record says other than Success
  kExitInterrupted = 130,      // Ctrl-C / SIGTERM during a wait that had not finished
};

// The exit code for a failed `status`: by the CLI's reasons above, else by the status code the
// HTTP answer mapped to (StatusFromResponse).
int ExitCodeFor(const Status& status);

// The one line printed on stderr for `status`, without "iothub: " or a newline:
// "DeviceNotFound: Device 'd9' not found" for a hub's error, just the message for the CLI's own.
std::string ErrorLine(const Status& status);

}  // namespace iothub::cli
