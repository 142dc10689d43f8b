// The REST API of a real iothubd over HTTPS, spoken by curl (a client nobody here wrote): TLS with
// the hub's own CA and host name, SAS policy tokens, registry calls and their refusals.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/https_fixture.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(HttpsTest, RegistryRoundTripOverTlsWithAPolicyToken) {
  CurlResult created =
      Curl("PUT", "/devices/d1?api-version=2021-04-12", owner_token_, R"({"deviceId":"d1"})");
  ASSERT_EQ(created.status, 200) << created.body;
  auto device = nlohmann::json::parse(created.body);
  EXPECT_EQ(device.at("deviceId"), "d1");
  EXPECT_EQ(
      device.at("authentication").at("symmetricKey").at("primaryKey").get<std::string>().size(),
      44u);

  CurlResult got = Curl("GET", "/devices/d1?api-version=2021-04-12", owner_token_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(nlohmann::json::parse(got.body).at("etag"), device.at("etag"));

  CurlResult stats = Curl("GET", "/statistics/devices?api-version=2021-04-12", owner_token_);
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(nlohmann::json::parse(stats.body).at("totalDeviceCount"), 1);

  CurlResult deleted =
      Curl("DELETE", "/devices/d1?api-version=2021-04-12", owner_token_, {}, "If-Match: *");
  EXPECT_EQ(deleted.status, 204) << deleted.body;
  CurlResult gone = Curl("GET", "/devices/d1?api-version=2021-04-12", owner_token_);
  EXPECT_EQ(gone.status, 404) << gone.body;
  EXPECT_NE(gone.body.find("DeviceNotFound"), std::string::npos) << gone.body;
}

TEST_F(HttpsTest, MissingOrForgedTokenIsRefusedWithTheAzureErrorBody) {
  CurlResult none = Curl("GET", "/devices/d1", "");
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_NE(none.body.find("ErrorCode:"), std::string::npos) << none.body;
  std::string forged = owner_token_;
  forged[forged.find("sig=") + 4] ^= 1;
  EXPECT_EQ(Curl("GET", "/devices/d1", forged).status, 401);
}

}  // namespace
}  // namespace iothub::testing
