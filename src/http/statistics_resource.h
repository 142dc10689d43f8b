#pragma once

#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// GET /statistics/devices (RegistryRead) -> {totalDeviceCount, enabledDeviceCount,
// disabledDeviceCount}; GET /statistics/service (ServiceConnect) -> {connectedDeviceCount}.
// Non-blocking map reads.
void AddStatisticsRoutes(Router& router, core::Hub& hub);

}  // namespace iothub::http
