#pragma once

// A real iothubd on its own loopback address with its HTTPS listener, and curl (a client nobody
// here wrote) to talk to it: TLS checked against the hub's own CA and host name.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/auth/sas_token.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {

inline constexpr char kHost[] = "hub.example.test";

struct CurlResult {
  int status = 0;
  std::string body;
};

class HttpsTest : public ::testing::Test {
 protected:
  static constexpr std::chrono::seconds kTokenLife{3600};
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
    owner_token_ = core::auth::CreateSasToken(
        kHost, owner->shared_access_key, SystemClock::Instance().Now() + kTokenLife, "iothubowner");
  }

  void TearDown() override {
    if (!hub_) return;
    hub_->Signal(SIGTERM);
    EXPECT_EQ(hub_->WaitForExit(std::chrono::seconds(5)), std::optional<int>(0)) << hub_->err();
  }

  std::string data() const { return dir_.str() + "/data"; }

  // curl, trusting only the hub's CA and checking its name; the name resolves to our address.
  // `extra_header` and `body` are passed to the shell in single quotes: keep quotes out of them.
  CurlResult Curl(const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body = {}, const std::string& extra_header = {}) {
    std::string out = dir_.str() + "/curl-body";
    std::ostringstream cmd;
    cmd << "curl -sS -o " << out << " -w '%{http_code}' --max-time 10 --cacert " << data()
        << "/tls/ca.pem --resolve " << kHost << ":" << port_ << ":" << address_ << " -X " << method
        << " 'https://" << kHost << ":" << port_ << path << "'";
    if (!token.empty()) cmd << " -H 'Authorization: " << token << "'";
    if (!extra_header.empty()) cmd << " -H '" << extra_header << "'";
    if (!body.empty()) {
      bool typed = extra_header.rfind("Content-Type:", 0) == 0;
      if (!typed) cmd << " -H 'Content-Type: application/json'";
      cmd << " --data '" << body << "'";
    }
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

  // The hub's https://host:port, and curl options that make it resolve and trust it.
  std::string BaseUrl() const {
    return "https://" + std::string(kHost) + ":" + std::to_string(port_);
  }
  std::string CurlTrust() const {
    return "--cacert " + data() + "/tls/ca.pem --resolve " + kHost + ":" + std::to_string(port_) +
           ":" + address_;
  }

  TempDir dir_;
  std::string address_;
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::string owner_token_;
};

}  // namespace iothub::testing
