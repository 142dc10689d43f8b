// iothubd as an operator meets it: a real child process on a loopback address of its own.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/crypto.h"
#include "tests/integration/hub_process.h"
#include "tests/testing/temp_dir.h"

namespace iothub::testing {
namespace {

using namespace std::chrono_literals;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// The server certificate's SANs as "DNS:x" / "IP:y", parsed with OpenSSL.
std::vector<std::string> SansOf(const std::string& pem_path) {
  std::vector<std::string> out;
  FILE* f = std::fopen(pem_path.c_str(), "r");
  if (f == nullptr) return out;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                 ASN1_STRING_get0_data(gn->d.dNSName))));
    } else if (gn->type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) == 4) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, ASN1_STRING_get0_data(gn->d.iPAddress), text, sizeof(text));
      out.push_back(std::string("IP:") + text);
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

size_t CountOf(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  DaemonProcessTest() : address_(RandomLoopbackAddress()) {}

  std::string data() const { return dir_.str() + "/data"; }

  // A hub on this test's address with free ports for the three TLS listeners.
  std::vector<std::string> Args(const std::string& hostname) {
    return {"--data-dir",   data(),
            "--hostname",   hostname,
            "--bind",       address_,
            "--mqtt-port",  std::to_string(FreePort(address_)),
            "--amqp-port",  std::to_string(FreePort(address_)),
            "--https-port", std::to_string(FreePort(address_)),
            "--shards",     "2"};
  }

  // Exit status of a hub that must refuse to start; its stderr into *err.
  int RunFailing(std::vector<std::string> args, std::string* err) {
    std::string out;
    return RunHub(std::move(args), dir_.str(), &out, err);
  }

  TempDir dir_;
  std::string address_;
};

TEST_F(DaemonProcessTest, FirstStartCreatesIdentityPrintsConnectionStringsAndStopsOnSigterm) {
  HubProcess hub(Args("hub.example.test"), dir_.str());
  ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();

  EXPECT_EQ(ModeOf(data() + "/tls"), 0700u);
  EXPECT_EQ(ModeOf(data() + "/tls/ca.key"), 0600u);
  EXPECT_EQ(ModeOf(data() + "/tls/server.key"), 0600u);
  EXPECT_NE(ReadFile(data() + "/tls/ca.pem").find("BEGIN CERTIFICATE"), std::string::npos);
  std::vector<std::string> sans = SansOf(data() + "/tls/server.pem");
  EXPECT_TRUE(Contains(sans, "DNS:hub.example.test"));
  EXPECT_TRUE(Contains(sans, "DNS:localhost"));
  EXPECT_TRUE(Contains(sans, "IP:127.0.0.1"));
  EXPECT_TRUE(Contains(sans, "IP:" + address_));  // the specific --bind address

  std::string path = data() + "/connection-strings.json";
  EXPECT_EQ(ModeOf(path), 0600u);
  auto json = nlohmann::json::parse(ReadFile(path));
  ASSERT_EQ(json.size(), 5u);
  std::string out = hub.out();
  for (const char* policy :
       {"iothubowner", "service", "device", "registryRead", "registryReadWrite"}) {
    ASSERT_TRUE(json.contains(policy)) << policy;
    std::string cs = json.at(policy);
    std::string prefix = "HostName=hub.example.test;SharedAccessKeyName=" + std::string(policy) +
                         ";SharedAccessKey=";
    ASSERT_EQ(cs.rfind(prefix, 0), 0u) << cs;
    auto key = Base64Decode(cs.substr(prefix.size()));
    ASSERT_TRUE(key.has_value()) << cs;
    EXPECT_EQ(key->size(), 32u);
    EXPECT_NE(out.find(cs), std::string::npos) << policy << " not printed";
  }
  EXPECT_NE(out.find(data() + "/tls/ca.pem"), std::string::npos) << out;

  hub.Signal(SIGTERM);
  EXPECT_EQ(hub.WaitForExit(5s), std::optional<int>(0)) << hub.err();
}

TEST_F(DaemonProcessTest, SecondStartReusesKeysAndCaAndStopsOnSigint) {
  std::string strings, ca, ca_key;
  {
    HubProcess first(Args("hub.example.test"), dir_.str());
    ASSERT_TRUE(first.WaitUntilReady()) << first.err();
    strings = ReadFile(data() + "/connection-strings.json");
    ca = ReadFile(data() + "/tls/ca.pem");
    ca_key = ReadFile(data() + "/tls/ca.key");
    first.Signal(SIGTERM);
    ASSERT_EQ(first.WaitForExit(5s), std::optional<int>(0)) << first.err();
  }
  HubProcess second(Args("hub.example.test"), dir_.str());
  ASSERT_TRUE(second.WaitUntilReady()) << second.err();
  EXPECT_EQ(ReadFile(data() + "/connection-strings.json"), strings);
  EXPECT_EQ(ReadFile(data() + "/tls/ca.pem"), ca);
  EXPECT_EQ(ReadFile(data() + "/tls/ca.key"), ca_key);
  second.Signal(SIGINT);
  EXPECT_EQ(second.WaitForExit(5s), std::optional<int>(0)) << second.err();
}

TEST_F(DaemonProcessTest, AddressAsHostNameGetsAnIpSan) {
  HubProcess hub(Args(address_), dir_.str());
  ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
  std::vector<std::string> sans = SansOf(data() + "/tls/server.pem");
  EXPECT_TRUE(Contains(sans, "IP:" + address_));
  EXPECT_FALSE(Contains(sans, "DNS:" + address_));
  auto json = nlohmann::json::parse(ReadFile(data() + "/connection-strings.json"));
  EXPECT_EQ(json.at("service").get<std::string>().rfind("HostName=" + address_ + ";", 0), 0u);
}

TEST_F(DaemonProcessTest, ListenersAcceptConnections) {
  std::vector<std::string> args = Args("hub.example.test");
  uint16_t mqtt_port = static_cast<uint16_t>(std::stoi(args[7]));
  HubProcess hub(args, dir_.str());
  ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(mqtt_port);
  inet_pton(AF_INET, address_.c_str(), &addr.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

TEST_F(DaemonProcessTest, ConfigFileIsRead) {
  std::string file = dir_.str() + "/iothubd.toml";
  std::ofstream(file) << "hostname = \"from-file.test\"\n";
  std::vector<std::string> args = Args("ignored.test");
  args.erase(args.begin() + 2, args.begin() + 4);  // drop --hostname: the file sets it
  args.insert(args.end(), {"--config", file});
  HubProcess hub(args, dir_.str());
  ASSERT_TRUE(hub.WaitUntilReady()) << hub.err();
  auto json = nlohmann::json::parse(ReadFile(data() + "/connection-strings.json"));
  EXPECT_EQ(json.at("service").get<std::string>().rfind("HostName=from-file.test;", 0), 0u);
}

TEST_F(DaemonProcessTest, UnknownOptionIsOneClearError) {
  std::string err;
  EXPECT_EQ(RunFailing({"--data-dir", data(), "--mqtt-prot", "1"}, &err), 2);
  EXPECT_EQ(err, "iothubd: unknown option --mqtt-prot (see iothubd --help)\n");
}

TEST_F(DaemonProcessTest, TlsCertWithoutKeyIsOneClearError) {
  std::string cert = dir_.str() + "/cert.pem";
  std::ofstream(cert) << "x";
  std::string err;
  EXPECT_EQ(RunFailing({"--data-dir", data(), "--tls-cert", cert}, &err), 2);
  EXPECT_EQ(err, "iothubd: --tls-cert requires --tls-key (see iothubd --help)\n");
}

TEST_F(DaemonProcessTest, DataDirectoryThatIsAFileIsOneClearError) {
  std::ofstream(data()) << "not a directory";
  std::string err;
  EXPECT_NE(RunFailing(Args("hub.example.test"), &err), 0);
  EXPECT_EQ(err, "iothubd: data directory " + data() + " is not a directory\n");
}

TEST_F(DaemonProcessTest, DataDirectoryBelowAFileIsOneClearError) {
  std::ofstream(dir_.str() + "/file") << "x";
  std::vector<std::string> args = Args("hub.example.test");
  args[1] = dir_.str() + "/file/data";
  std::string err;
  EXPECT_NE(RunFailing(args, &err), 0);
  EXPECT_EQ(
      err, "iothubd: cannot create data directory " + dir_.str() + "/file/data: Not a directory\n");
}

TEST_F(DaemonProcessTest, PortInUseIsOneClearError) {
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, address_.c_str(), &addr.sin_addr);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(blocker, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string port = std::to_string(ntohs(addr.sin_port));

  std::vector<std::string> args = Args("hub.example.test");
  args[11] = port;  // --https-port
  std::string err;
  EXPECT_EQ(RunFailing(args, &err), 1);
  std::string message = "address " + address_ + ":" + port + " is already in use";
  EXPECT_EQ(CountOf(err, message), 1u) << err;
  EXPECT_NE(err.find("iothubd: " + message + "\n"), std::string::npos) << err;
  ::close(blocker);
}

TEST_F(DaemonProcessTest, HelpListsEveryOption) {
  std::string out, err;
  EXPECT_EQ(RunHub({"--help"}, dir_.str(), &out, &err), 0);
  for (const char* option : {"--config",
                             "--data-dir",
                             "--hostname",
                             "--bind",
                             "--mqtt-port",
                             "--amqp-port",
                             "--https-port",
                             "--plain-mqtt-port",
                             "--plain-amqp-port",
                             "--plain-http-port",
                             "--tls-cert",
                             "--tls-key",
                             "--log-level",
                             "--shards",
                             "--c2d-max-queue-depth",
                             "--c2d-default-ttl",
                             "--c2d-max-ttl",
                             "--c2d-lock-timeout",
                             "--c2d-max-delivery-count",
                             "--c2d-lock-expiry-counts-as-delivery",
                             "--feedback-batch-size",
                             "--feedback-batch-interval-ms",
                             "--telemetry-partitions",
                             "--telemetry-retention-hours",
                             "--telemetry-max-bytes-per-partition",
                             "--version"}) {
    EXPECT_NE(out.find(option), std::string::npos) << option;
  }
  EXPECT_EQ(err, "");
  EXPECT_FALSE(std::filesystem::exists(data()));
}

}  // namespace
}  // namespace iothub::testing
