#pragma once

#include "base/executor.h"
#include "core/hub/hub.h"
#include "http/router.h"

namespace iothub::http {

// Every resource of the HTTPS endpoint on one router: the registry (single and bulk), statistics,
// the device transport, C2D send and purge, feedback, telemetry with consumer groups, and
// /metrics (docs/rest.md lists them). `blocking` runs work that reads the store from streams (the
// daemon's handler pool). `hub` and `blocking` must outlive the router and every request in
// flight.
void AddAllRoutes(Router& router, core::Hub& hub, Executor& blocking);

}  // namespace iothub::http
