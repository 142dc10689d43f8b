#include "server/daemon.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/crypto.h"
#include "core/auth/sas_token.h"
#include "tests/testing/temp_dir.h"

namespace iothub::server {
namespace {

// A port that was free a moment ago: bind port 0, read it back, close.
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class DaemonTest : public ::testing::Test {
 protected:
  // Every listener off unless a test turns one on.
  Config MakeConfig(std::string hostname = "hub.test") {
    Config c;
    c.data_dir = dir_.str() + "/data";
    c.hostname = std::move(hostname);
    c.mqtt_port = c.amqp_port = c.https_port = 0;
    c.shards = 2;
    return c;
  }
  std::string data() const { return dir_.str() + "/data"; }

  testing::TempDir dir_;
};

TEST_F(DaemonTest, FirstStartCreatesStoreCertificatesAndConnectionStrings) {
  Daemon daemon(MakeConfig());
  ASSERT_TRUE(daemon.Start().ok());
  EXPECT_TRUE(std::filesystem::is_directory(data() + "/store"));
  EXPECT_EQ(daemon.tls_files().ca_file, data() + "/tls/ca.pem");
  EXPECT_TRUE(daemon.tls_files().ca_created);

  std::string path = data() + "/connection-strings.json";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto json = nlohmann::json::parse(ReadFile(path));
  ASSERT_EQ(json.size(), 5u);
  ASSERT_EQ(daemon.connection_strings().size(), 5u);
  for (const auto& [name, cs] : daemon.connection_strings()) {
    EXPECT_EQ(json.at(name), cs);
    std::string prefix = "HostName=hub.test;SharedAccessKeyName=" + name + ";SharedAccessKey=";
    ASSERT_EQ(cs.rfind(prefix, 0), 0u) << cs;
    auto key = Base64Decode(cs.substr(prefix.size()));
    ASSERT_TRUE(key.has_value()) << cs;
    EXPECT_EQ(key->size(), 32u);
  }
  for (const char* policy :
       {"iothubowner", "service", "device", "registryRead", "registryReadWrite"}) {
    EXPECT_TRUE(json.contains(policy)) << policy;
  }
  std::string banner = daemon.Banner();
  EXPECT_NE(banner.find(data() + "/tls/ca.pem"), std::string::npos) << banner;
  EXPECT_NE(banner.find(json.at("iothubowner").get<std::string>()), std::string::npos);
  daemon.Stop();
}

TEST_F(DaemonTest, RestartReusesKeysAndCaAndFollowsTheHostName) {
  std::vector<std::pair<std::string, std::string>> first;
  std::string ca;
  {
    Daemon daemon(MakeConfig("hub.test"));
    ASSERT_TRUE(daemon.Start().ok());
    first = daemon.connection_strings();
    ca = ReadFile(data() + "/tls/ca.pem");
  }
  Daemon again(MakeConfig("renamed.test"));
  ASSERT_TRUE(again.Start().ok());
  EXPECT_FALSE(again.tls_files().ca_created);
  EXPECT_TRUE(again.tls_files().leaf_issued);
  EXPECT_EQ(ReadFile(data() + "/tls/ca.pem"), ca);
  ASSERT_EQ(again.connection_strings().size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    std::string expected = first[i].second;
    expected.replace(expected.find("hub.test"), 8, "renamed.test");
    EXPECT_EQ(again.connection_strings()[i].second, expected);
  }
  auto json = nlohmann::json::parse(ReadFile(data() + "/connection-strings.json"));
  EXPECT_NE(json.at("service").get<std::string>().find("HostName=renamed.test;"),
            std::string::npos);
}

// A connection still open (here: an MQTT client that never starts its TLS handshake) when the
// daemon stops is closed with it. (The cycle such a connection's stream and link form is broken by
// mqtt::Endpoint::CloseAll; src/mqtt/endpoint_test.cc proves that deterministically.)
TEST_F(DaemonTest, StopClosesListenersAndOpenConnections) {
  Config config = MakeConfig();
  config.mqtt_port = FreePort();
  config.plain_http_port = FreePort();
  Daemon daemon(config);
  ASSERT_TRUE(daemon.Start().ok());
  auto endpoints = daemon.endpoints();
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].first, "mqtt");
  EXPECT_EQ(endpoints[0].second, "127.0.0.1:" + std::to_string(config.mqtt_port));
  EXPECT_EQ(endpoints[1].first, "http-plain");

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(config.mqtt_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval limit{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));

  daemon.Stop();
  char byte;
  ssize_t got = ::recv(fd, &byte, 1, 0);
  int error = errno;
  // Closed: EOF or a reset; not still open (the receive timing out) and nothing written.
  EXPECT_TRUE(got == 0 || (got < 0 && error != EAGAIN && error != EWOULDBLOCK))
      << got << " " << std::strerror(error);
  ::close(fd);
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

TEST_F(DaemonTest, PortInUseFailsCleanlyAndReleasesTheStore) {
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(blocker, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);

  Config config = MakeConfig();
  config.https_port = port;
  {
    Daemon daemon(config);
    Status status = daemon.Start();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.message(), "address 127.0.0.1:" + std::to_string(port) + " is already in use");
  }
  ::close(blocker);
  // Everything was released: the same data directory starts again.
  Daemon again(MakeConfig());
  EXPECT_TRUE(again.Start().ok());
}

TEST_F(DaemonTest, DataDirectoryThatIsAFileIsAnError) {
  std::ofstream(data()) << "x";
  Daemon daemon(MakeConfig());
  Status status = daemon.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "data directory " + data() + " is not a directory");
}

TEST_F(DaemonTest, SecondDaemonOnTheSameDataDirectoryIsRefused) {
  Daemon first(MakeConfig());
  ASSERT_TRUE(first.Start().ok());
  Daemon second(MakeConfig());
  Status status = second.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot open the store at " + data() + "/store"),
            std::string::npos)
      << status.message();
}

TEST_F(DaemonTest, ExternalCertificateIsUsedInsteadOfAGeneratedCa) {
  std::string cert, key;
  {
    Daemon generated(MakeConfig());
    ASSERT_TRUE(generated.Start().ok());
    cert = generated.tls_files().chain_file;
    key = generated.tls_files().key_file;
  }
  Config config = MakeConfig();
  config.data_dir = dir_.str() + "/other";
  config.tls_cert = cert;
  config.tls_key = key;
  config.https_port = FreePort();
  Daemon daemon(config);
  ASSERT_TRUE(daemon.Start().ok());
  EXPECT_EQ(daemon.tls_files().ca_file, "");
  EXPECT_EQ(daemon.tls_files().chain_file, cert);
  EXPECT_FALSE(std::filesystem::exists(config.data_dir + "/tls"));
  EXPECT_NE(daemon.Banner().find("externally provided"), std::string::npos);
}

TEST_F(DaemonTest, MismatchedExternalKeyIsAnError) {
  std::string ca_key;
  std::string cert;
  {
    Daemon generated(MakeConfig());
    ASSERT_TRUE(generated.Start().ok());
    cert = generated.tls_files().chain_file;
    ca_key = data() + "/tls/ca.key";
  }
  Config config = MakeConfig();
  config.tls_cert = cert;
  config.tls_key = ca_key;
  Daemon daemon(config);
  Status status = daemon.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("does not match"), std::string::npos) << status.message();
}

// Stop() while clients are mid-conversation: a live telemetry stream (its session suspended in a
// shard's loop, holding a subscription to the hub's telemetry log and reads on the handler pool)
// and an idle keep-alive connection. Under ASan this catches any part of the daemon released
// before something that still refers to it.
TEST_F(DaemonTest, StopWithAStreamOpenReleasesEverythingInOrder) {
  Config config = MakeConfig();
  config.bind_address = "127.0.0.1";
  config.plain_http_port = FreePort();
  Daemon daemon(config);
  ASSERT_TRUE(daemon.Start().ok());
  std::string service_cs;
  for (const auto& [name, cs] : daemon.connection_strings()) {
    if (name == "service") service_cs = cs;
  }
  auto parsed = core::auth::ParseConnectionString(service_cs);
  ASSERT_TRUE(parsed.has_value());
  std::string token =
      core::auth::CreateSasToken("hub.test", parsed->shared_access_key,
                                 SystemClock::Instance().Now() + std::chrono::hours(1), "service");

  auto connect = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(config.plain_http_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  int stream = connect();
  std::string request =
      "GET /messages/events?from=start HTTP/1.1\r\nHost: hub.test\r\n"
      "Authorization: " +
      token + "\r\n\r\n";
  ASSERT_EQ(::write(stream, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string head;
  char buf[256];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(stream, buf, sizeof buf);
    ASSERT_GT(n, 0) << head;
    head.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  int idle = connect();

  daemon.Stop();
  // The stream ends with the daemon: the connection is closed, not left hanging.
  ssize_t n;
  while ((n = ::read(stream, buf, sizeof buf)) > 0) {
  }
  EXPECT_EQ(n, 0);
  ::close(stream);
  ::close(idle);
}

}  // namespace
}  // namespace iothub::server
