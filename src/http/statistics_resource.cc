#include "http/statistics_resource.h"

#include <nlohmann/json.hpp>

#include "http/errors.h"
#include "http/service_auth.h"

namespace iothub::http {

void AddStatisticsRoutes(Router& router, core::Hub& hub) {
  router.Add("GET", "/statistics/devices", [&hub](const Request& request, const RouteParams&) {
    auto principal =
        AuthorizeService(hub.authenticator(), request, core::auth::kRegistryRead, hub.host_name());
    if (!principal) return ErrorResponse(principal.error());
    core::RegistryStats stats = hub.registry().Stats();
    nlohmann::json body = {{"totalDeviceCount", stats.total},
                           {"enabledDeviceCount", stats.enabled},
                           {"disabledDeviceCount", stats.disabled}};
    return JsonResponse(200, body.dump());
  });
  router.Add("GET", "/statistics/service", [&hub](const Request& request, const RouteParams&) {
    auto principal = AuthorizeService(hub.authenticator(), request, core::auth::kServiceConnect,
                                      hub.host_name());
    if (!principal) return ErrorResponse(principal.error());
    nlohmann::json body = {{"connectedDeviceCount", hub.registry().Stats().connected}};
    return JsonResponse(200, body.dump());
  });
}

}  // namespace iothub::http
