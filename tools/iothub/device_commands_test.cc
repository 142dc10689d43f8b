#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "core/auth/authenticator.h"
#include "core/auth/policy.h"
#include "core/auth/sas_token.h"
#include "storage/memory/memory_store.h"
#include "tools/iothub/cli_status.h"
#include "tools/iothub/fake_transport.h"

namespace iothub::cli {
namespace {

constexpr char kDevice[] =
    R"({"deviceId":"d1","etag":"MQ==","status":"enabled","connectionState":"Disconnected",
        "authentication":{"type":"sas","symmetricKey":{"primaryKey":"cGs=","secondaryKey":"c2s="}}})";

TEST(DeviceCommandsTest, CreatePrintsTheNewDevice) {
  CommandHarness hub;
  hub.transport.replies.push_back(Reply(200, kDevice));
  EXPECT_EQ(hub.Run({"device", "create", "d1"}), kExitOk) << hub.err.str();
  EXPECT_NE(hub.out.str().find("Device d1\n"), std::string::npos) << hub.out.str();
  EXPECT_NE(hub.out.str().find("primary key:          cGs="), std::string::npos);
  ASSERT_EQ(hub.transport.requests.size(), 1u);
  EXPECT_EQ(Json::parse(hub.transport.requests[0].body),
            Json({{"deviceId", "d1"}, {"status", "enabled"}}));
}

TEST(DeviceCommandsTest, CreateWithKeysDisabledEdge) {
  CommandHarness hub;
  hub.transport.replies.push_back(Reply(200, kDevice));
  ASSERT_EQ(hub.Run({"device", "create", "d1", "--primary-key", "cGs=", "--disabled", "--edge",
                     "--json"}),
            kExitOk);
  EXPECT_EQ(Json::parse(hub.transport.requests[0].body),
            Json::parse(R"({"deviceId":"d1","status":"disabled",
                "authentication":{"type":"sas","symmetricKey":{"primaryKey":"cGs="}},
                "capabilities":{"iotEdge":true}})"));
  EXPECT_EQ(Json::parse(hub.out.str()), Json::parse(kDevice));
}

TEST(DeviceCommandsTest, CreateOfAnExistingDeviceFailsWithTheConflictCode) {
  CommandHarness hub;
  hub.transport.replies.push_back(ErrorReply(409, "DeviceAlreadyExists", "Device 'd1' exists"));
  EXPECT_EQ(hub.Run({"device", "create", "d1"}), kExitConflict);
  EXPECT_EQ(hub.err.str(), "iothub: DeviceAlreadyExists: Device 'd1' exists (HTTP 409)\n");
  EXPECT_EQ(hub.out.str(), "");
}

TEST(DeviceCommandsTest, ShowOfAnUnknownDeviceIsNotFound) {
  CommandHarness hub;
  hub.transport.replies.push_back(ErrorReply(404, "DeviceNotFound", "Device 'd9' not found"));
  EXPECT_EQ(hub.Run({"device", "show", "d9"}), kExitNotFound);
  EXPECT_EQ(hub.err.str(), "iothub: DeviceNotFound: Device 'd9' not found (HTTP 404)\n");
}

TEST(DeviceCommandsTest, ListAsTableOrJson) {
  CommandHarness hub;
  hub.transport.replies = {Reply(200, std::string("[") + kDevice + "]"),
                           Reply(200, std::string("[") + kDevice + "]")};
  ASSERT_EQ(hub.Run({"device", "list", "--top", "3"}), kExitOk);
  EXPECT_EQ(hub.out.str().substr(0, 10), "DEVICE ID ");
  EXPECT_NE(hub.transport.requests[0].target.find("top=3"), std::string::npos);
  hub.out.str("");
  ASSERT_EQ(hub.Run({"device", "list", "--json"}), kExitOk);
  EXPECT_EQ(Json::parse(hub.out.str()).size(), 1u);
}

TEST(DeviceCommandsTest, DeleteUsesTheEtagWhenGiven) {
  CommandHarness hub;
  hub.transport.replies = {Reply(204), Reply(204)};
  ASSERT_EQ(hub.Run({"device", "delete", "d1"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "Deleted device d1.\n");
  ASSERT_EQ(hub.Run({"device", "delete", "d1", "--etag", "MQ==", "--json"}), kExitOk);
  EXPECT_EQ(HeaderOf(hub.transport.requests[0], "If-Match"), "*");
  EXPECT_EQ(HeaderOf(hub.transport.requests[1], "If-Match"), "\"MQ==\"");
}

TEST(DeviceCommandsTest, DisableWritesBackUnderTheEtagItRead) {
  CommandHarness hub;
  Json disabled = Json::parse(kDevice);
  disabled["status"] = "disabled";
  hub.transport.replies = {Reply(200, kDevice), Reply(200, disabled.dump())};
  ASSERT_EQ(hub.Run({"device", "disable", "d1", "--reason", "stolen"}), kExitOk) << hub.err.str();
  EXPECT_EQ(hub.out.str(), "Device d1 is disabled.\n");
  ASSERT_EQ(hub.transport.requests.size(), 2u);
  const HttpRequest& put = hub.transport.requests[1];
  EXPECT_EQ(Line(put), "PUT /devices/d1");
  EXPECT_EQ(HeaderOf(put, "If-Match"), "\"MQ==\"");
  Json body = Json::parse(put.body);
  EXPECT_EQ(body["status"], "disabled");
  EXPECT_EQ(body["statusReason"], "stolen");
  EXPECT_EQ(body["authentication"]["symmetricKey"]["primaryKey"], "cGs=");  // keys kept
}

TEST(DeviceCommandsTest, EnableRetriesWhenSomeoneElseWroteInBetween) {
  CommandHarness hub;
  hub.transport.replies = {Reply(200, kDevice), ErrorReply(412, "PreconditionFailed", "etag"),
                           Reply(200, kDevice), Reply(200, kDevice)};
  ASSERT_EQ(hub.Run({"device", "enable", "d1"}), kExitOk) << hub.err.str();
  EXPECT_EQ(hub.transport.requests.size(), 4u);
  EXPECT_EQ(hub.out.str(), "Device d1 is enabled.\n");
}

TEST(DeviceCommandsTest, ConnectionStringUsesTheHubsHostNameAndTheChosenKey) {
  CommandHarness hub;
  hub.transport.replies = {Reply(200, kDevice), Reply(200, kDevice)};
  ASSERT_EQ(hub.Run({"device", "connection-string", "d1"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "HostName=hub.example.test;DeviceId=d1;SharedAccessKey=cGs=\n");
  hub.out.str("");
  ASSERT_EQ(hub.Run({"device", "connection-string", "d1", "--key", "secondary", "--json"}),
            kExitOk);
  EXPECT_EQ(Json::parse(hub.out.str())["connectionString"],
            "HostName=hub.example.test;DeviceId=d1;SharedAccessKey=c2s=");
}

TEST(DeviceCommandsTest, ConnectionStringOfADeviceWithoutKeysIsAnError) {
  CommandHarness hub;
  hub.transport.replies.push_back(
      Reply(200, R"({"deviceId":"x","authentication":{"type":"selfSigned","symmetricKey":null}})"));
  EXPECT_EQ(hub.Run({"device", "connection-string", "x"}), kExitRejected);
  EXPECT_NE(hub.err.str().find("no primary symmetric key"), std::string::npos) << hub.err.str();
}

// The token printed by `device token`, parsed; fails the test when it is not one line or not a
// token.
core::auth::SasToken PrintedToken(const std::string& out) {
  EXPECT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
  auto token = core::auth::ParseSasToken(out.substr(0, out.find('\n')));
  EXPECT_TRUE(token) << out;
  return token ? *token : core::auth::SasToken{};
}

int64_t UnixSeconds(Timestamp t) { return ToUnixMillis(t) / 1000; }

TEST(DeviceTokenTest, SignsTheDeviceResourceWithThePrimaryKeyForAnHour) {
  CommandHarness hub;
  hub.clock.Advance(std::chrono::milliseconds(750));  // se is truncated to whole seconds
  hub.transport.replies.push_back(Reply(200, kDevice));
  ASSERT_EQ(hub.Run({"device", "token", "d1"}), kExitOk) << hub.err.str();
  ASSERT_EQ(hub.transport.requests.size(), 1u);
  EXPECT_EQ(Line(hub.transport.requests[0]), "GET /devices/d1");
  EXPECT_EQ(hub.out.str().rfind("SharedAccessSignature sr=hub.example.test%2Fdevices%2Fd1&sig=", 0),
            0u)
      << hub.out.str();
  core::auth::SasToken token = PrintedToken(hub.out.str());
  EXPECT_EQ(token.sr_raw, "hub.example.test%2Fdevices%2Fd1");
  EXPECT_EQ(token.resource, "hub.example.test/devices/d1");
  EXPECT_EQ(token.key_name, "");  // a device token: no skn
  EXPECT_EQ(token.expiry, UnixSeconds(hub.clock.Now()) + 3600);
  EXPECT_TRUE(core::auth::VerifySasSignature(token, "cGs="));
  EXPECT_FALSE(core::auth::VerifySasSignature(token, "c2s="));
  EXPECT_EQ(hub.err.str(), "");
}

TEST(DeviceTokenTest, TtlAndSecondaryKey) {
  CommandHarness hub;
  hub.transport.replies.push_back(Reply(200, kDevice));
  ASSERT_EQ(hub.Run({"device", "token", "d1", "--ttl", "60", "--key", "secondary"}), kExitOk)
      << hub.err.str();
  core::auth::SasToken token = PrintedToken(hub.out.str());
  EXPECT_EQ(token.expiry, UnixSeconds(hub.clock.Now()) + 60);
  EXPECT_TRUE(core::auth::VerifySasSignature(token, "c2s="));
  EXPECT_FALSE(core::auth::VerifySasSignature(token, "cGs="));
}

TEST(DeviceTokenTest, JsonHoldsTheDeviceTheTokenAndItsExpiry) {
  CommandHarness hub;
  hub.transport.replies.push_back(Reply(200, kDevice));
  ASSERT_EQ(hub.Run({"device", "token", "d1", "--ttl", "31536000", "--json"}), kExitOk)
      << hub.err.str();
  Json out = Json::parse(hub.out.str());
  EXPECT_EQ(out["deviceId"], "d1");
  EXPECT_EQ(out["expiry"], FormatIso8601(hub.clock.Now() + std::chrono::hours(24 * 365)));
  auto token = core::auth::ParseSasToken(out["sasToken"].get<std::string>());
  ASSERT_TRUE(token) << out.dump();
  EXPECT_EQ(token->expiry, UnixSeconds(hub.clock.Now()) + 365 * 24 * 3600);
  EXPECT_TRUE(core::auth::VerifySasSignature(*token, "cGs="));
}

// What matters in the end: the hub's own Authenticator takes the token as the device's, until it
// expires. An id with characters that need escaping checks that sr is encoded as the hub decodes.
TEST(DeviceTokenTest, TheHubsAuthenticatorAcceptsItUntilItExpires) {
  constexpr char kId[] = "room-1:sensor@floor%2";
  CommandHarness hub;
  hub.transport.replies.push_back(Reply(
      200,
      Json({{"deviceId", kId},
            {"authentication", {{"type", "sas"}, {"symmetricKey", {{"primaryKey", kTestKey}}}}}})
          .dump()));
  ASSERT_EQ(hub.Run({"device", "token", kId, "--ttl", "120"}), kExitOk) << hub.err.str();

  storage::MemoryStore store;
  core::auth::PolicyStore policies(store);  // empty: device tokens need no policy
  core::auth::Authenticator authenticator(
      kTestHost, policies, hub.clock,
      [&](std::string_view id) -> std::optional<core::auth::DeviceCredentials> {
        if (id != kId) return std::nullopt;
        return core::auth::DeviceCredentials{.primary_key = kTestKey};
      });
  std::string token = hub.out.str().substr(0, hub.out.str().find('\n'));
  auto principal = authenticator.Authenticate(token);
  ASSERT_TRUE(principal) << principal.error().ToString() << " for " << token;
  EXPECT_EQ(principal->kind, core::auth::Principal::Kind::kDevice);
  EXPECT_EQ(principal->device_id, kId);
  EXPECT_TRUE(authenticator.AuthorizeDeviceConnect(*principal, kId).ok());
  hub.clock.Advance(std::chrono::seconds(120));
  EXPECT_FALSE(authenticator.Authenticate(token));
}

TEST(DeviceTokenTest, UnknownDeviceIsNotFound) {
  CommandHarness hub;
  hub.transport.replies.push_back(ErrorReply(404, "DeviceNotFound", "Device 'd9' not found"));
  EXPECT_EQ(hub.Run({"device", "token", "d9"}), kExitNotFound);
  EXPECT_EQ(hub.err.str(), "iothub: DeviceNotFound: Device 'd9' not found (HTTP 404)\n");
  EXPECT_EQ(hub.out.str(), "");
}

TEST(DeviceTokenTest, DeviceWithoutTheKeyIsAnError) {
  CommandHarness hub;
  hub.transport.replies = {
      Reply(200, R"({"deviceId":"x","authentication":{"type":"selfSigned","symmetricKey":null}})"),
      Reply(200, R"({"deviceId":"y","authentication":{"type":"sas",
                     "symmetricKey":{"primaryKey":"cGs=","secondaryKey":""}}})")};
  EXPECT_EQ(hub.Run({"device", "token", "x"}), kExitRejected);
  EXPECT_NE(hub.err.str().find("device 'x' has no primary symmetric key"), std::string::npos)
      << hub.err.str();
  EXPECT_EQ(hub.Run({"device", "token", "y", "--key", "secondary"}), kExitRejected);
  EXPECT_NE(hub.err.str().find("device 'y' has no secondary symmetric key"), std::string::npos)
      << hub.err.str();
  EXPECT_EQ(hub.out.str(), "");
}

TEST(DeviceTokenTest, TtlOutOfRangeOrBadKeyIsAUsageErrorWithoutAnyRequest) {
  CommandHarness hub;
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--ttl", "0"}), kExitUsage);
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--ttl", "31536001"}), kExitUsage);  // > 365 days
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--ttl", "-5"}), kExitUsage);
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--ttl", "1h"}), kExitUsage);
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--ttl", "99999999999"}), kExitUsage);
  EXPECT_EQ(hub.Run({"device", "token", "d1", "--key", "third"}), kExitUsage);
  EXPECT_EQ(hub.Run({"device", "token"}), kExitUsage);  // no device id
  EXPECT_TRUE(hub.transport.requests.empty());
  EXPECT_EQ(hub.out.str(), "");
}

TEST(DeviceCommandsTest, StatsMergesBothCalls) {
  CommandHarness hub;
  auto replies = [] {
    return std::deque<Result<HttpResponse>>{
        Reply(200, R"({"totalDeviceCount":2,"enabledDeviceCount":1,"disabledDeviceCount":1})"),
        Reply(200, R"({"connectedDeviceCount":1})")};
  };
  hub.transport.replies = replies();
  ASSERT_EQ(hub.Run({"stats"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "devices:    2 (1 enabled, 1 disabled)\nconnected:  1\n");
  hub.out.str("");
  hub.transport.replies = replies();
  ASSERT_EQ(hub.Run({"stats", "--json"}), kExitOk);
  EXPECT_EQ(Json::parse(hub.out.str()),
            Json::parse(R"({"totalDeviceCount":2,"enabledDeviceCount":1,"disabledDeviceCount":1,
                            "connectedDeviceCount":1})"));
}

TEST(DeviceCommandsTest, UnauthorizedAndUnreachable) {
  CommandHarness hub;
  hub.transport.replies = {
      ErrorReply(401, "IotHubUnauthorizedAccess", "Unauthorized"),
      Unavailable("cannot connect to 127.0.0.9:443: Connection refused", kConnectionError)};
  EXPECT_EQ(hub.Run({"stats"}), kExitUnauthorized);
  EXPECT_EQ(hub.Run({"stats"}), kExitConnection);
  EXPECT_NE(hub.err.str().find("iothub: cannot connect to 127.0.0.9:443: Connection refused\n"),
            std::string::npos)
      << hub.err.str();
}

}  // namespace
}  // namespace iothub::cli
