#include "http/registry_resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/resource_test_fixture.h"
#include "http/statistics_resource.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::hours;

// The registry and statistics resources over a real Hub (MemoryStore, fake clock, manual shards),
// driven through the router exactly as the session would.
class RegistryResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenHub());
    AddRegistryRoutes(router_, *hub_);
    AddStatisticsRoutes(router_, *hub_);
  }

  Response Call(std::string method, std::string_view target, std::string body = "",
                std::optional<std::string> token = std::nullopt,
                std::optional<std::string> if_match = std::nullopt) {
    Headers headers{{"Authorization", token.value_or(PolicyToken("iothubowner"))}};
    if (if_match) headers.emplace("If-Match", *if_match);
    return Dispatch(MakeRequest(std::move(method), target, std::move(headers), std::move(body)));
  }

  Response Create(const std::string& id, const std::string& body = "{}") {
    return Call("PUT", "/devices/" + id + "?api-version=2021-04-12", body);
  }
};

TEST_F(RegistryResourceTest, CreateGeneratesKeysAndAnswersWithQuotedEtag) {
  Response r = Create("d1", R"({"deviceId":"d1","status":"enabled"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json; charset=utf-8");
  json j = json::parse(r.body);
  EXPECT_EQ(j["deviceId"], "d1");
  EXPECT_FALSE(j["generationId"].get<std::string>().empty());
  EXPECT_EQ(r.headers.at("ETag"), "\"" + j["etag"].get<std::string>() + "\"");
  EXPECT_FALSE(j["authentication"]["symmetricKey"]["primaryKey"].get<std::string>().empty());
  EXPECT_FALSE(j["authentication"]["symmetricKey"]["secondaryKey"].get<std::string>().empty());
  EXPECT_TRUE(hub_->registry().Get("d1").has_value());
}

TEST_F(RegistryResourceTest, CreateKeepsGivenKeys) {
  std::string key = core::auth::GenerateKey();
  Response r = Create("d1", R"({"authentication":{"type":"sas","symmetricKey":{"primaryKey":")" +
                                key + R"(","secondaryKey":""}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["authentication"]["symmetricKey"]["primaryKey"], key);
}

TEST_F(RegistryResourceTest, CreateOfExistingDeviceIs409) {
  ASSERT_EQ(Create("d1").status, 200);
  Response r = Create("d1");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceAlreadyExists");
}

TEST_F(RegistryResourceTest, InvalidDeviceIdIs400) {
  Response r = Create("bad%20id");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid");
  EXPECT_EQ(Create(std::string(129, 'a')).status, 400);
}

TEST_F(RegistryResourceTest, MalformedJsonIs400WithAzureBody) {
  Response r = Create("d1", "{\"deviceId\":");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid");
  EXPECT_FALSE(hub_->registry().Get("d1").has_value());
}

TEST_F(RegistryResourceTest, BodyIdMustMatchPath) {
  EXPECT_EQ(Create("d1", R"({"deviceId":"d2"})").status, 400);
}

TEST_F(RegistryResourceTest, GetReturnsTheDeviceAndItsEtag) {
  std::string etag = Create("d1").headers.at("ETag");
  Response r = Call("GET", "/devices/d1?api-version=2021-04-12");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("ETag"), etag);
  EXPECT_EQ(json::parse(r.body)["connectionState"], "Disconnected");
}

TEST_F(RegistryResourceTest, GetUnknownDeviceIs404DeviceNotFound) {
  Response r = Call("GET", "/devices/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceNotFound");
}

TEST_F(RegistryResourceTest, ReplaceWithStarKeepsEmptyKeysAndChangesStatus) {
  json created = json::parse(Create("d1").body);
  Response r =
      Call("PUT", "/devices/d1", R"({"deviceId":"d1","status":"disabled"})", std::nullopt, "\"*\"");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["status"], "disabled");
  EXPECT_EQ(j["authentication"]["symmetricKey"], created["authentication"]["symmetricKey"]);
  EXPECT_EQ(j["generationId"], created["generationId"]);
  EXPECT_NE(j["etag"], created["etag"]);
}

TEST_F(RegistryResourceTest, ReplaceWithCurrentEtagSucceedsAndStaleEtagIs412) {
  std::string etag = Create("d1").headers.at("ETag");
  Response ok = Call("PUT", "/devices/d1", R"({"status":"disabled"})", std::nullopt, etag);
  ASSERT_EQ(ok.status, 200) << ok.body;
  Response stale = Call("PUT", "/devices/d1", R"({"status":"enabled"})", std::nullopt, etag);
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(hub_->registry().Get("d1")->status, core::DeviceStatus::kDisabled);
}

TEST_F(RegistryResourceTest, ReplaceOfUnknownDeviceIs404) {
  EXPECT_EQ(Call("PUT", "/devices/nope", "{}", std::nullopt, "*").status, 404);
}

TEST_F(RegistryResourceTest, DeleteIs204ThenTheDeviceIsGone) {
  ASSERT_EQ(Create("d1").status, 200);
  Response r = Call("DELETE", "/devices/d1", "", std::nullopt, "\"*\"");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Call("GET", "/devices/d1").status, 404);
  EXPECT_EQ(Call("DELETE", "/devices/d1", "", std::nullopt, "*").status, 404);
}

TEST_F(RegistryResourceTest, DeleteWithStaleEtagIs412AndWithoutIfMatchIsUnconditional) {
  std::string old_etag = Create("d1").headers.at("ETag");
  ASSERT_EQ(Call("PUT", "/devices/d1", "{}", std::nullopt, "*").status, 200);
  EXPECT_EQ(Call("DELETE", "/devices/d1", "", std::nullopt, old_etag).status, 412);
  EXPECT_EQ(Call("DELETE", "/devices/d1").status, 204);
}

TEST_F(RegistryResourceTest, ListReturnsDevicesInIdOrderHonouringTop) {
  for (const char* id : {"c", "a", "b"}) ASSERT_EQ(Create(id).status, 200);
  Response all = Call("GET", "/devices/?api-version=2021-04-12");
  ASSERT_EQ(all.status, 200);
  json j = json::parse(all.body);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["deviceId"], "a");
  EXPECT_EQ(j[2]["deviceId"], "c");
  json two = json::parse(Call("GET", "/devices/?top=2").body);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1]["deviceId"], "b");
  EXPECT_EQ(json::parse(Call("GET", "/devices").body).size(), 3u);
}

TEST_F(RegistryResourceTest, ListOfEmptyRegistryIsEmptyArray) {
  Response r = Call("GET", "/devices/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[]");
}

TEST_F(RegistryResourceTest, BadTopIs400) {
  for (const char* top : {"0", "1001", "-1", "x", "", "5x"}) {
    EXPECT_EQ(Call("GET", std::string("/devices/?top=") + top).status, 400) << top;
  }
  EXPECT_EQ(Call("GET", "/devices/?top=1000").status, 200);
}

TEST_F(RegistryResourceTest, DeviceStatistics) {
  ASSERT_EQ(Create("a").status, 200);
  ASSERT_EQ(Create("b", R"({"status":"disabled"})").status, 200);
  Response r = Call("GET", "/statistics/devices?api-version=2021-04-12");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(json::parse(r.body),
            json({{"totalDeviceCount", 2}, {"enabledDeviceCount", 1}, {"disabledDeviceCount", 1}}));
}

TEST_F(RegistryResourceTest, ServiceStatistics) {
  ASSERT_EQ(Create("a").status, 200);
  hub_->registry().SetConnectionState("a", true);
  Response r = Call("GET", "/statistics/service");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json({{"connectedDeviceCount", 1}}));
  ASSERT_TRUE(hub_->registry().FlushActivity().ok());
}

// --- auth refusals ---

TEST_F(RegistryResourceTest, MissingAuthorizationIs401) {
  Response response = Dispatch(MakeRequest("GET", "/devices/"));
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(ErrorCode(response), "ErrorCode:IotHubUnauthorizedAccess");
}

TEST_F(RegistryResourceTest, ExpiredTokenIs401) {
  std::string token = PolicyToken("iothubowner", kHost, std::chrono::seconds(10));
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_EQ(Call("GET", "/devices/", "", token).status, 401);
}

TEST_F(RegistryResourceTest, ForgedTokenIs401) {
  std::string forged = core::auth::CreateSasToken(kHost, core::auth::GenerateKey(),
                                                  clock_.Now() + hours(1), "iothubowner");
  EXPECT_EQ(Call("GET", "/devices/", "", forged).status, 401);
  EXPECT_EQ(Call("GET", "/devices/", "", "SharedAccessSignature garbage").status, 401);
  EXPECT_EQ(Call("GET", "/devices/", "", "Bearer abc").status, 401);
}

TEST_F(RegistryResourceTest, DeviceTokenIsRefusedOnRegistryCalls) {
  json created = json::parse(Create("d1").body);
  std::string key = created["authentication"]["symmetricKey"]["primaryKey"];
  std::string token = DeviceToken("d1", key);
  Response r = Call("GET", "/devices/d1", "", token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:IotHubUnauthorizedAccess");
  EXPECT_EQ(Call("PUT", "/devices/d1", "{}", token, "*").status, 401);
  EXPECT_EQ(Call("DELETE", "/devices/d1", "", token).status, 401);
  EXPECT_TRUE(hub_->registry().Get("d1").has_value());
}

TEST_F(RegistryResourceTest, RegistryReadPolicyReadsButCannotWrite) {
  ASSERT_EQ(Create("d1").status, 200);
  std::string token = PolicyToken("registryRead");
  EXPECT_EQ(Call("GET", "/devices/d1", "", token).status, 200);
  EXPECT_EQ(Call("GET", "/devices/", "", token).status, 200);
  EXPECT_EQ(Call("GET", "/statistics/devices", "", token).status, 200);
  Response put = Call("PUT", "/devices/d2", "{}", token);
  EXPECT_EQ(put.status, 401);
  EXPECT_EQ(ErrorCode(put), "ErrorCode:IotHubUnauthorizedAccess");
  EXPECT_EQ(Call("DELETE", "/devices/d1", "", token).status, 401);
  EXPECT_FALSE(hub_->registry().Get("d2").has_value());
  EXPECT_TRUE(hub_->registry().Get("d1").has_value());
}

TEST_F(RegistryResourceTest, RegistryReadWritePolicyWrites) {
  std::string token = PolicyToken("registryReadWrite");
  EXPECT_EQ(Call("PUT", "/devices/d1", "{}", token).status, 200);
  EXPECT_EQ(Call("DELETE", "/devices/d1", "", token).status, 204);
}

TEST_F(RegistryResourceTest, ServicePolicyHasNoRegistryRights) {
  std::string token = PolicyToken("service");
  EXPECT_EQ(Call("GET", "/devices/", "", token).status, 401);
  EXPECT_EQ(Call("GET", "/statistics/devices", "", token).status, 401);
  EXPECT_EQ(Call("GET", "/statistics/service", "", token).status, 200);
  EXPECT_EQ(Call("GET", "/statistics/service", "", PolicyToken("registryRead")).status, 401);
}

TEST_F(RegistryResourceTest, PolicyTokenScopedToOneDeviceReachesOnlyIt) {
  ASSERT_EQ(Create("d1").status, 200);
  ASSERT_EQ(Create("d2").status, 200);
  std::string token = PolicyToken("iothubowner", std::string(kHost) + "/devices/d1");
  EXPECT_EQ(Call("GET", "/devices/d1", "", token).status, 200);
  EXPECT_EQ(Call("GET", "/devices/d2", "", token).status, 401);
  EXPECT_EQ(Call("GET", "/devices/", "", token).status, 401);
}

}  // namespace
}  // namespace iothub::http
