#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "tools/iothub/hub_locator.h"
#include "tools/iothub/service_client.h"

namespace iothub::cli {

// The longest --ttl accepted (365 days), and device token's lifetime without --ttl (1 hour).
inline constexpr uint32_t kMaxTtlSeconds = 365u * 24 * 3600;
inline constexpr uint32_t kDefaultTokenTtlSeconds = 3600;

enum class Command {
  kDeviceCreate,
  kDeviceShow,
  kDeviceList,
  kDeviceDelete,
  kDeviceEnable,
  kDeviceDisable,
  kDeviceConnectionString,
  kDeviceToken,
  kC2dSend,
  kC2dPurge,
  kFeedbackReceive,
  kMonitor,
  kStats,
};

// A parsed command line. Fields a command does not use keep their defaults.
struct Invocation {
  // --help / --version: print this on stdout and exit 0, nothing else.
  std::optional<std::string> print_and_exit;

  HubOptions hub;     // --connection-string, --data-dir, --policy, --ca, --host
  bool json = false;  // --json
  Command command = Command::kStats;
  std::string device_id;

  // device create
  std::string primary_key;
  std::string secondary_key;
  bool disabled = false;
  bool edge = false;
  // device list
  int top = 1000;
  // device delete
  std::string etag;
  // device enable / disable
  std::string status_reason;
  // device connection-string, device token: "primary" | "secondary"
  std::string key = "primary";

  // c2d send: message.ack is "full" when --wait-feedback is given without --ack
  C2dMessage message;
  // c2d send: the message's time to live (absent: the hub's default); device token: the token's
  // lifetime (absent: kDefaultTokenTtlSeconds). Both 1..kMaxTtlSeconds.
  std::optional<uint32_t> ttl_seconds;
  bool wait_feedback = false;
  // c2d send --wait-feedback, feedback receive --follow, monitor: give up after this long
  std::optional<double> timeout_seconds;

  // feedback receive
  bool follow = false;

  // monitor
  std::string from = "end";  // "start" | "end"
  uint64_t count = 0;        // stop after this many events; 0: never
};

// Parses argv (argv[0] is the program). Global options may come before or after the command.
// InvalidArgument (reason kUsageError) with a one-line message on a usage error: unknown command
// or option, missing device id, a bad --ack/--from/--key/--ttl/--top value, a --property that is
// not KEY=VALUE with KEY an HTTP token and VALUE free of control characters, --wait-feedback with
// --ack none, --timeout without something to wait for. Pure: reads no files or environment.
Result<Invocation> ParseArguments(int argc, const char* const* argv);

std::string VersionText();

}  // namespace iothub::cli
