#include "http/routes.h"

#include "http/bulk_registry_resource.h"
#include "http/c2d_resource.h"
#include "http/device_resource.h"
#include "http/feedback_resource.h"
#include "http/metrics_resource.h"
#include "http/registry_resource.h"
#include "http/statistics_resource.h"
#include "http/telemetry_resource.h"

namespace iothub::http {

void AddAllRoutes(Router& router, core::Hub& hub, Executor& blocking) {
  AddRegistryRoutes(router, hub);
  AddBulkRegistryRoutes(router, hub);
  AddStatisticsRoutes(router, hub);
  AddDeviceRoutes(router, hub);
  AddC2dRoutes(router, hub);
  AddFeedbackRoutes(router, hub);
  AddTelemetryRoutes(router, hub, blocking);
  AddMetricsRoutes(router);
}

}  // namespace iothub::http
