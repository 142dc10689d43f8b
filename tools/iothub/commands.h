#pragma once

#include <chrono>
#include <functional>
#include <ostream>

#include "base/clock.h"
#include "base/status.h"
#include "tools/iothub/args.h"
#include "tools/iothub/service_client.h"

namespace iothub::cli {

// How often waits poll the feedback queue.
inline constexpr auto kFeedbackPollInterval = std::chrono::milliseconds(500);

// What a command needs besides its arguments; main wires the real ones, tests fakes.
struct Context {
  ServiceClient& client;
  std::ostream& out;  // results (flushed after each streamed record)
  std::ostream& err;  // progress notes and the error line
  const Clock& clock;
  // Sleeps `duration`; false when interrupted meanwhile (then returns early).
  std::function<bool(Duration duration)> sleep;
  // True once SIGINT or SIGTERM arrived.
  std::function<bool()> interrupted;
  // While shielded, a signal does not abort the transport's calls: lets a command give back the
  // feedback it holds after Ctrl-C. (A second signal still ends the process.)
  std::function<void(bool shielded)> shield = [](bool) {};
};

// Runs the command, prints its result on ctx.out, and returns the process exit code; on failure
// prints "iothub: <ErrorLine>" on ctx.err and returns ExitCodeFor (cli_status.h).
int RunCommand(const Invocation& inv, Context& ctx);

// The commands, for RunCommand and the tests. Each prints its result and returns the failure.
// device create|show|list|delete|enable|disable|connection-string|token (device_commands.cc).
// token: GET the device, print a device SAS token (sr = "<HostName>/devices/<ID>", no skn) signed
// with its --key, expiring at ctx.clock.Now() + --ttl (default kDefaultTokenTtlSeconds), truncated
// to whole seconds; InvalidArgument ("NoSymmetricKey") for a device without that key.
Status RunDeviceCommand(const Invocation& inv, Context& ctx);
// stats: both statistics calls.
Status RunStats(const Invocation& inv, Context& ctx);
// c2d send [--wait-feedback] (c2d_commands.cc). With --wait-feedback (the message id generated
// when none was given) it polls GET /messages/serviceBound/feedback every kFeedbackPollInterval
// until a record's originalMessageId is the message's: that batch is completed, the record printed
// and its statusCode decides (Success: ok; else kNegativeFeedback). Batches without it stay locked
// while waiting, so that later batches become visible (the oldest visible batch is what a receive
// gets), and are abandoned when the wait ends however it ends: abandoning each at once would hand
// the same batch back on the next poll and use up its delivery count within seconds.
Status RunC2dSend(const Invocation& inv, Context& ctx);
// c2d purge.
Status RunC2dPurge(const Invocation& inv, Context& ctx);
// feedback receive [--follow]: prints every record of every batch, then completes the batch;
// without --follow stops when the queue is empty, with it polls until Ctrl-C or --timeout.
Status RunFeedbackReceive(const Invocation& inv, Context& ctx);
// monitor (monitor_command.cc): follows GET /messages/events (Server-Sent Events), printing each
// event, until Ctrl-C, --count events or --timeout; a lost stream is resumed once per loss with
// Last-Event-ID.
Status RunMonitor(const Invocation& inv, Context& ctx);

}  // namespace iothub::cli
