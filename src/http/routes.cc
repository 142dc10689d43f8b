#include "http/routes.h"

#include "http/bulk_registry_resource.h"
#include "http/device_resource.h"
#include "http/metrics_resource.h"
#include "http/registry_resource.h"
#include "http/statistics_resource.h"

namespace iothub::http {

void AddAllRoutes(Router& router, core::Hub& hub, Executor& blocking) {
  (void)blocking;
  AddRegistryRoutes(router, hub);
  AddBulkRegistryRoutes(router, hub);
  AddStatisticsRoutes(router, hub);
  AddDeviceRoutes(router, hub);
  AddMetricsRoutes(router);
}

}  // namespace iothub::http
