#pragma once

// Test-only helpers shared by the telemetry tests (never included by the library).

#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/telemetry/telemetry_log.h"

namespace iothub::core::testing {

inline constexpr std::string_view kSasAuthMethod =
    R"({"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null})";

inline AppendContext DeviceContext() {
  return {.auth_method = std::string(kSasAuthMethod), .generation_id = "638000000000000001"};
}

inline Message TextMessage(std::string body) {
  Message m;
  m.body = std::move(body);
  return m;
}

// Appends and returns what `done` reported; Internal when `done` did not run before Append returned
// (the memory store always calls back inline).
inline Result<Position> AppendNow(TelemetryLog& log, std::string_view device, Message m,
                                  const AppendContext& ctx = DeviceContext()) {
  std::optional<Result<Position>> out;
  log.Append(device, std::move(m), ctx, [&out](Result<Position> r) { out.emplace(std::move(r)); });
  if (!out) return Internal("done did not run");
  return std::move(*out);
}

inline Result<std::vector<Position>> AppendBatchNow(TelemetryLog& log, std::string_view device,
                                                    std::vector<Message> msgs,
                                                    const AppendContext& ctx = DeviceContext()) {
  std::optional<Result<std::vector<Position>>> out;
  log.AppendBatch(device, std::move(msgs), ctx,
                  [&out](Result<std::vector<Position>> r) { out.emplace(std::move(r)); });
  if (!out) return Internal("done did not run");
  return std::move(*out);
}

// Appends and waits for `done`, wherever the store runs it (for stores with their own thread).
inline Result<Position> AppendAndWait(TelemetryLog& log, std::string_view device, Message m,
                                      const AppendContext& ctx = DeviceContext()) {
  std::promise<Result<Position>> promise;
  auto future = promise.get_future();
  log.Append(device, std::move(m), ctx,
             [&promise](Result<Position> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace iothub::core::testing
