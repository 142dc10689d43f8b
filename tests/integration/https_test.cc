// The REST API of a real iothubd over HTTPS, spoken by curl (a client nobody here wrote): TLS with
// the hub's own CA and host name, SAS policy tokens, registry calls and their refusals.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/auth/sas_token.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kHost[] = "hub.example.test";

struct CurlResult {
  int status = 0;
  std::string body;
};

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = RandomLoopbackAddress();
    port_ = FreePort(address_);
    hub_ = std::make_unique<HubProcess>(
        std::vector<std::string>{"--data-dir", data(), "--hostname", kHost, "--bind", address_,
                                 "--mqtt-port", "0", "--amqp-port", "0", "--https-port",
                                 std::to_string(port_), "--shards", "2"},
        dir_.str());
    ASSERT_TRUE(hub_->WaitUntilReady()) << hub_->err();
    auto strings = nlohmann::json::parse(ReadFile(data() + "/connection-strings.json"));
    auto owner = core::auth::ParseConnectionString(strings.at("iothubowner").get<std::string>());
    ASSERT_TRUE(owner.has_value());
    owner_token_ = core::auth::CreateSasToken(kHost, owner->shared_access_key,
                                              SystemClock::Instance().Now() + 1h, "iothubowner");
  }

  void TearDown() override {
    if (!hub_) return;
    hub_->Signal(SIGTERM);
    EXPECT_EQ(hub_->WaitForExit(5s), std::optional<int>(0)) << hub_->err();
  }

  std::string data() const { return dir_.str() + "/data"; }

  // curl, trusting only the hub's CA and checking its name; the name resolves to our address.
  CurlResult Curl(const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body = {}, const std::string& extra_header = {}) {
    std::string out = dir_.str() + "/curl-body";
    std::ostringstream cmd;
    cmd << "curl -sS -o " << out << " -w '%{http_code}' --max-time 10 --cacert " << data()
        << "/tls/ca.pem --resolve " << kHost << ":" << port_ << ":" << address_ << " -X " << method
        << " 'https://" << kHost << ":" << port_ << path << "'";
    if (!token.empty()) cmd << " -H 'Authorization: " << token << "'";
    if (!extra_header.empty()) cmd << " -H '" << extra_header << "'";
    if (!body.empty()) cmd << " -H 'Content-Type: application/json' --data '" << body << "'";
    CurlResult result;
    FILE* pipe = popen((cmd.str() + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return result;
    char buf[256];
    std::string printed;
    while (fgets(buf, sizeof buf, pipe) != nullptr) printed += buf;
    pclose(pipe);
    result.status = std::atoi(printed.c_str());
    result.body = ReadFile(out);
    return result;
  }

  TempDir dir_;
  std::string address_;
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::string owner_token_;
};

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
