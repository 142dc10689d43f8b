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
#include <vector>

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
  // More iothubd options for a test's hub.
  virtual std::vector<std::string> ExtraArgs() const { return {}; }

  void SetUp() override {
    address_ = RandomLoopbackAddress();
    port_ = FreePort(address_);
    std::vector<std::string> args{"--data-dir",  data(),   "--hostname",   kHost,
                                  "--bind",      address_, "--mqtt-port",  "0",
                                  "--amqp-port", "0",      "--https-port", std::to_string(port_),
                                  "--shards",    "2"};
    for (std::string& arg : ExtraArgs()) args.push_back(std::move(arg));
    hub_ = std::make_unique<HubProcess>(std::move(args), dir_.str());
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
    std::vector<std::string> headers;
    if (!extra_header.empty()) headers.push_back(extra_header);
    return CurlWith(method, path, token, body, headers);
  }

  // The same with any number of headers, and more curl options (e.g. "-i": the status line and
  // headers then start the body).
  CurlResult CurlWith(const std::string& method, const std::string& path, const std::string& token,
                      const std::string& body, const std::vector<std::string>& headers,
                      const std::string& options = {}) {
    std::string out = dir_.str() + "/curl-body";
    std::ostringstream cmd;
    cmd << "curl -sS " << options << " -o " << out << " -w '%{http_code}' --max-time 10 "
        << CurlTrust() << " -X " << method << " '" << BaseUrl() << path << "'";
    if (!token.empty()) cmd << " -H 'Authorization: " << token << "'";
    bool typed = false;
    for (const std::string& header : headers) {
      cmd << " -H '" << header << "'";
      if (header.rfind("Content-Type:", 0) == 0) typed = true;
    }
    if (!body.empty()) {
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
