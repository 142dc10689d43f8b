#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace iothub {

// Sets up the process-wide logger: structured single-line records on stderr,
// "2024-05-01T10:00:00.123Z info [component] message key=value ...". `level` is one of
// trace, debug, info, warn, error, off. Returns false for an unknown level name.
bool InitLogging(std::string_view level);

}  // namespace iothub

// Components log through spdlog directly: HUB_LOG_INFO("c2d", "enqueued device={} seq={}", id,
// seq).
#define HUB_LOG_TRACE(component, fmt, ...) \
  ::spdlog::trace("[" component "] " fmt __VA_OPT__(, ) __VA_ARGS__)
#define HUB_LOG_DEBUG(component, fmt, ...) \
  ::spdlog::debug("[" component "] " fmt __VA_OPT__(, ) __VA_ARGS__)
#define HUB_LOG_INFO(component, fmt, ...) \
  ::spdlog::info("[" component "] " fmt __VA_OPT__(, ) __VA_ARGS__)
#define HUB_LOG_WARN(component, fmt, ...) \
  ::spdlog::warn("[" component "] " fmt __VA_OPT__(, ) __VA_ARGS__)
#define HUB_LOG_ERROR(component, fmt, ...) \
  ::spdlog::error("[" component "] " fmt __VA_OPT__(, ) __VA_ARGS__)
