#include "http/metrics_resource.h"

#include "base/metrics.h"

namespace iothub::http {

void AddMetricsRoutes(Router& router) {
  router.Add("GET", "/metrics", [](const Request&, const RouteParams&) {
    Response response;
    response.status = 200;
    response.headers.emplace("Content-Type", std::string(metrics::kTextContentType));
    response.body = metrics::RenderText();
    return response;
  });
}

}  // namespace iothub::http
