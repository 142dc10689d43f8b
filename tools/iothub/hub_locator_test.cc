#include "tools/iothub/hub_locator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/testing/temp_dir.h"
#include "tools/iothub/cli_status.h"

namespace iothub::cli {
namespace {

constexpr char kOwner[] =
    "HostName=hub.example.test;SharedAccessKeyName=iothubowner;SharedAccessKey="
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kService[] =
    "HostName=hub.example.test;SharedAccessKeyName=service;SharedAccessKey="
    "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
constexpr char kFromEnv[] =
    "HostName=env.example.test;SharedAccessKeyName=iothubowner;SharedAccessKey="
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

EnvLookup Env(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

void Write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

class HubLocatorTest : public ::testing::Test {
 protected:
  // A data directory as iothubd leaves it.
  std::string DataDir(bool with_ca = true) {
    Write(dir_.path() / "connection-strings.json",
          std::string(R"({"iothubowner": ")") + kOwner + R"(", "service": ")" + kService + "\"}\n");
    if (with_ca) Write(dir_.path() / "tls" / "ca.pem", "-----BEGIN CERTIFICATE-----\n");
    return dir_.str();
  }

  static std::string ConfigMessage(const HubOptions& options, const EnvLookup& env = Env({})) {
    auto target = LocateHub(options, env);
    if (target) return "";
    EXPECT_EQ(target.error().reason(), kConfigError);
    EXPECT_EQ(ExitCodeFor(target.error()), kExitConfig);
    return target.error().message();
  }

  testing::TempDir dir_;
};

TEST_F(HubLocatorTest, DataDirGivesTheOwnerStringAndTheHubsCa) {
  std::string dir = DataDir();
  auto target = LocateHub({.data_dir = dir}, Env({}));
  ASSERT_TRUE(target.has_value()) << target.error().message();
  EXPECT_EQ(target->connection.host_name, "hub.example.test");
  EXPECT_EQ(target->connection.shared_access_key_name, "iothubowner");
  EXPECT_EQ(target->connect_host, "hub.example.test");
  EXPECT_EQ(target->port, 443);
  EXPECT_EQ(target->ca_file, dir + "/tls/ca.pem");
  EXPECT_EQ(target->source, dir + "/connection-strings.json");
}

TEST_F(HubLocatorTest, PolicyPicksAnotherStringAndAnUnknownOneListsTheKnown) {
  std::string dir = DataDir();
  auto target = LocateHub({.data_dir = dir, .policy = "service"}, Env({}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->connection.shared_access_key_name, "service");
  std::string message = ConfigMessage({.data_dir = dir, .policy = "nobody"});
  EXPECT_NE(message.find("'nobody'"), std::string::npos) << message;
  EXPECT_NE(message.find("iothubowner, service"), std::string::npos) << message;
}

TEST_F(HubLocatorTest, HubWithExternalCertificatesHasNoCaSoTheSystemStoreIsUsed) {
  auto target = LocateHub({.data_dir = DataDir(/*with_ca=*/false)}, Env({}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->ca_file, "");
}

TEST_F(HubLocatorTest, ConnectionStringOptionWinsButTheDataDirCaStillCounts) {
  std::string dir = DataDir();
  auto target = LocateHub({.connection_string = kService, .data_dir = dir},
                          Env({{"IOTHUB_CONNECTION_STRING", kFromEnv}}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->connection.shared_access_key_name, "service");
  EXPECT_EQ(target->source, "--connection-string");
  EXPECT_EQ(target->ca_file, dir + "/tls/ca.pem");
}

TEST_F(HubLocatorTest, DataDirWinsOverTheEnvironment) {
  auto target = LocateHub({.data_dir = DataDir()}, Env({{"IOTHUB_CONNECTION_STRING", kFromEnv}}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->connection.host_name, "hub.example.test");
}

TEST_F(HubLocatorTest, EnvironmentIsUsedWhenNothingElseIsGiven) {
  auto target = LocateHub({}, Env({{"IOTHUB_CONNECTION_STRING", kFromEnv}}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->connection.host_name, "env.example.test");
  EXPECT_EQ(target->source, "IOTHUB_CONNECTION_STRING");
  EXPECT_EQ(target->ca_file, "");
}

TEST_F(HubLocatorTest, NothingGivenNamesEveryWay) {
  std::string message = ConfigMessage({}, Env({{"IOTHUB_CONNECTION_STRING", ""}}));
  EXPECT_NE(message.find("--connection-string"), std::string::npos);
  EXPECT_NE(message.find("IOTHUB_CONNECTION_STRING"), std::string::npos);
  EXPECT_NE(message.find("--data-dir"), std::string::npos);
}

TEST_F(HubLocatorTest, DeviceConnectionStringIsRefused) {
  std::string message =
      ConfigMessage({.connection_string = "HostName=h;DeviceId=d1;SharedAccessKey="
                                          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="});
  EXPECT_NE(message.find("not a shared access policy's"), std::string::npos) << message;
}

TEST_F(HubLocatorTest, MalformedConnectionStringNamesItsSource) {
  std::string message = ConfigMessage({}, Env({{"IOTHUB_CONNECTION_STRING", "garbage"}}));
  EXPECT_NE(message.find("IOTHUB_CONNECTION_STRING is invalid"), std::string::npos) << message;
}

TEST_F(HubLocatorTest, MissingOrBrokenConnectionStringsFileNamesIt) {
  std::string missing = ConfigMessage({.data_dir = dir_.str() + "/nowhere"});
  EXPECT_NE(missing.find("/nowhere/connection-strings.json"), std::string::npos) << missing;
  Write(dir_.path() / "connection-strings.json", "{not json");
  std::string broken = ConfigMessage({.data_dir = dir_.str()});
  EXPECT_NE(broken.find("not a JSON object"), std::string::npos) << broken;
}

TEST_F(HubLocatorTest, UnreadableCaFileIsAConfigError) {
  std::string message = ConfigMessage({.connection_string = kOwner, .ca_file = "/no/ca.pem"});
  EXPECT_NE(message.find("--ca"), std::string::npos) << message;
}

TEST_F(HubLocatorTest, HostOverridesWhereToConnectButNotTheHostName) {
  auto target = LocateHub({.connection_string = kOwner, .host = "127.0.0.7:8443"}, Env({}));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->connection.host_name, "hub.example.test");
  EXPECT_EQ(target->connect_host, "127.0.0.7");
  EXPECT_EQ(target->port, 8443);
  auto no_port = LocateHub({.connection_string = kOwner, .host = "10.0.0.1"}, Env({}));
  ASSERT_TRUE(no_port.has_value());
  EXPECT_EQ(no_port->port, 443);
  EXPECT_NE(ConfigMessage({.connection_string = kOwner, .host = "h:99999"}), "");
}

TEST(ParseHostPortTest, Forms) {
  struct Case {
    const char* text;
    const char* host;
    std::optional<uint16_t> port;
  };
  for (const Case& c :
       {Case{"127.0.0.1", "127.0.0.1", std::nullopt}, Case{"127.0.0.1:8443", "127.0.0.1", 8443},
        Case{"hub.local:1", "hub.local", 1}, Case{"::1", "::1", std::nullopt},
        Case{"[::1]", "::1", std::nullopt}, Case{"[fe80::1]:65535", "fe80::1", 65535}}) {
    auto parsed = ParseHostPort(c.text);
    ASSERT_TRUE(parsed.has_value()) << c.text << ": " << parsed.error().message();
    EXPECT_EQ(parsed->host, c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
  }
  for (const char* bad : {"", ":443", "h:", "h:0", "h:65536", "h:44x", "[::1", "[::1]x", "[]:1"}) {
    EXPECT_FALSE(ParseHostPort(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace iothub::cli
