#pragma once

#include "http/router.h"

namespace iothub::http {

// GET /metrics: every process metric (base/metrics.h) in the Prometheus text format. Without
// authentication, as Prometheus scrapes it; the listeners bind the loopback address by default,
// and an operator exposing them further should keep /metrics behind their proxy. A blocking route
// (scrape hooks may read the store).
void AddMetricsRoutes(Router& router);

}  // namespace iothub::http
