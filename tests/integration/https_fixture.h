#pragma once

// A real iothubd on its own loopback address with its HTTPS listener, and curl (a client nobody
// here wrote) to talk to it: TLS checked against the hub's own CA and host name. The https_*
// tests and cli_test.cc (the `iothub` CLI, whose device side is curl) share it.

#include <gtest/gtest.h>
#include <signal.h>

#include <strings.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/clock.h"
#include "core/auth/sas_token.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {

inline constexpr char kHost[] = "hub.example.test";

struct CurlResult {
  int status = 0;
  std::string body;
  std::string headers;  // the response's status line and headers, as received

  // A response header's value ("" when absent), name matched case-insensitively.
  std::string Header(const std::string& name) const {
    std::istringstream lines(headers);
    std::string line;
    while (std::getline(lines, line)) {
      size_t colon = line.find(':');
      if (colon == std::string::npos || colon != name.size()) continue;
      if (strncasecmp(line.c_str(), name.c_str(), name.size()) != 0) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
    return {};
  }
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
    owner_ = strings.at("iothubowner").get<std::string>();
    auto owner = core::auth::ParseConnectionString(owner_);
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
  // ADDRESS:PORT of the hub's HTTPS listener.
  std::string where() const { return address_ + ":" + std::to_string(port_); }

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
    std::ostringstream args;
    args << options << " -X " << method << " '" << BaseUrl() << path << "'";
    if (!token.empty()) args << " -H 'Authorization: " << token << "'";
    bool typed = false;
    for (const std::string& header : headers) {
      args << " -H '" << header << "'";
      if (header.rfind("Content-Type:", 0) == 0) typed = true;
    }
    if (!body.empty()) {
      if (!typed) args << " -H 'Content-Type: application/json'";
      args << " --data '" << body << "'";
    }
    return RunCurl(args.str());
  }

  // `curl args` (method, URL, headers, body: the shell reads them) with the hub's trust and name
  // resolution, at most 10 s. The response's body and headers land in files of the test's dir.
  CurlResult RunCurl(const std::string& args) {
    std::string out = dir_.str() + "/curl-body", head = dir_.str() + "/curl-head";
    std::string cmd = "curl -sS -o " + out + " -D " + head + " -w '%{http_code}' --max-time 10 " +
                      CurlTrust() + " " + args + " 2>&1";
    CurlResult result;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return result;
    char buf[256];
    std::string printed;
    while (fgets(buf, sizeof buf, pipe) != nullptr) printed += buf;
    pclose(pipe);
    result.status = std::atoi(printed.c_str());
    result.body = ReadFile(out);
    result.headers = ReadFile(head);
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
  std::string owner_;  // the iothubowner connection string
  std::string owner_token_;
};

}  // namespace iothub::testing
