#include "http/metrics_resource.h"

#include <gtest/gtest.h>

#include "base/metrics.h"

namespace iothub::http {
namespace {

TEST(MetricsResourceTest, ServesPrometheusTextWithoutAuthentication) {
  metrics::Counter counter = metrics::GetCounter("http_test_metric_total", "A test metric.");
  counter.Increment(7);
  // The counter is process-wide: expect its current value (7 on a first run).
  std::string expected =
      "http_test_metric_total " + std::to_string(static_cast<int>(counter.Value()));
  Router router;
  AddMetricsRoutes(router);
  Request request{.method = "GET"};
  ASSERT_TRUE(ParseTarget("/metrics", &request).ok());
  Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response.body.find("# TYPE http_test_metric_total counter"), std::string::npos);
  EXPECT_NE(response.body.find(expected + "\n"), std::string::npos) << response.body;
}

}  // namespace
}  // namespace iothub::http
