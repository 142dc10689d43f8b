#include "http/bulk_registry_resource.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "http/registry_resource.h"
#include "http/resource_test_fixture.h"
#include "tests/testing/forwarding_store.h"

namespace iothub::http {
namespace {

using nlohmann::json;

// Fails every identity commit while `fail` is set, to see store errors per device.
class FailingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void Commit(storage::WriteBatch batch, storage::Durability durability,
              storage::CommitCallback done) override {
    if (fail) {
      done(Internal("disk on fire"));
      return;
    }
    ForwardingStore::Commit(std::move(batch), durability, std::move(done));
  }
  std::atomic<bool> fail{false};
};

// POST /devices over a real Hub (MemoryStore, fake clock, manual shards), next to the single-device
// registry routes, driven through the router as the session would.
class BulkRegistryResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenHub({}, &failing_));
    AddRegistryRoutes(router_, *hub_);  // GET /devices first, as the daemon registers them
    AddBulkRegistryRoutes(router_, *hub_);
  }

  Response Call(std::string method, std::string_view target, std::string body = "",
                std::optional<std::string> token = std::nullopt) {
    return Dispatch(MakeRequest(std::move(method), target,
                                {{"Authorization", token.value_or(PolicyToken("iothubowner"))}},
                                std::move(body)));
  }

  // A vector, not a json: json{x} of one element is x itself, not an array of it.
  Response Bulk(const std::vector<json>& devices, std::optional<std::string> token = std::nullopt) {
    return Call("POST", "/devices?api-version=2021-04-12", json(devices).dump(), std::move(token));
  }

  // The body of a 200 answer (fails the test otherwise).
  json Result(const Response& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), "application/json; charset=utf-8");
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j.value("warnings", json()), json::array()) << r.body;
    return j;
  }

  // What azure-iothub's Registry sends for a device: deviceId renamed to id, importMode added,
  // authentication normalized to sas with empty keys.
  static json SdkDevice(const std::string& id, const std::string& mode) {
    return {{"id", id},
            {"importMode", mode},
            {"authentication",
             {{"type", "sas"}, {"symmetricKey", {{"primaryKey", ""}, {"secondaryKey", ""}}}}}};
  }

  bool Exists(const std::string& id) { return hub_->registry().Get(id).has_value(); }
  std::string Etag(const std::string& id) { return hub_->registry().Get(id)->etag; }

  FailingStore failing_{store_};  // over the fixture's MemoryStore
};

TEST_F(BulkRegistryResourceTest, AddDevicesCreatesEveryDeviceWithGeneratedKeys) {
  json result = Result(Bulk({SdkDevice("a", "create"), SdkDevice("b", "create")}));
  EXPECT_EQ(result,
            json({{"isSuccessful", true}, {"errors", json::array()}, {"warnings", json::array()}}));
  for (const char* id : {"a", "b"}) {
    auto d = hub_->registry().Get(id);
    ASSERT_TRUE(d.has_value()) << id;
    EXPECT_FALSE(d->primary_key.empty());
    EXPECT_FALSE(d->secondary_key.empty());
  }
}

TEST_F(BulkRegistryResourceTest, CreateKeepsGivenFields) {
  json device = SdkDevice("a", "create");
  device["status"] = "disabled";
  device["statusReason"] = "parked";
  device["authentication"]["symmetricKey"]["primaryKey"] = core::auth::GenerateKey();
  ASSERT_TRUE(Result(Bulk({device}))["isSuccessful"]);
  auto d = hub_->registry().Get("a");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->status, core::DeviceStatus::kDisabled);
  EXPECT_EQ(d->status_reason, "parked");
  EXPECT_EQ(d->primary_key, device["authentication"]["symmetricKey"]["primaryKey"]);
}

TEST_F(BulkRegistryResourceTest, ExistingDeviceIsAPerDeviceErrorAndTheOthersStillApply) {
  CreateDevice("b");
  std::string etag = Etag("b");
  json result =
      Result(Bulk({SdkDevice("a", "create"), SdkDevice("b", "create"), SdkDevice("c", "create")}));
  EXPECT_EQ(result["isSuccessful"], false);
  ASSERT_EQ(result["errors"].size(), 1u) << result;
  EXPECT_EQ(result["errors"][0]["deviceId"], "b");
  EXPECT_EQ(result["errors"][0]["errorCode"], 409001);
  EXPECT_FALSE(result["errors"][0]["errorStatus"].get<std::string>().empty());
  EXPECT_TRUE(Exists("a"));
  EXPECT_TRUE(Exists("c"));
  EXPECT_EQ(Etag("b"), etag);  // untouched
}

TEST_F(BulkRegistryResourceTest, ImportModeIsCaseInsensitive) {
  CreateDevice("u");
  CreateDevice("d");
  json result =
      Result(Bulk({SdkDevice("c", "CREATE"), SdkDevice("u", "Update"), SdkDevice("d", "dElEtE")}));
  EXPECT_EQ(result["isSuccessful"], true) << result;
  EXPECT_TRUE(Exists("c"));
  EXPECT_FALSE(Exists("d"));
}

TEST_F(BulkRegistryResourceTest, UpdateIsUnconditionalAndKeepsEmptyKeys) {
  CreateDevice("a");
  core::Device before = *hub_->registry().Get("a");
  json device = SdkDevice("a", "Update");
  device["status"] = "disabled";
  device["eTag"] = "\"not-the-etag\"";  // ignored by an unconditional update
  EXPECT_EQ(Result(Bulk({device}))["isSuccessful"], true);
  core::Device after = *hub_->registry().Get("a");
  EXPECT_EQ(after.status, core::DeviceStatus::kDisabled);
  EXPECT_EQ(after.primary_key, before.primary_key);
  EXPECT_EQ(after.generation_id, before.generation_id);
  EXPECT_NE(after.etag, before.etag);
}

TEST_F(BulkRegistryResourceTest, UpdateOfUnknownDeviceIsDeviceNotFoundAndCreatesNothing) {
  json result = Result(Bulk({SdkDevice("ghost", "Update")}));
  EXPECT_EQ(result["isSuccessful"], false);
  ASSERT_EQ(result["errors"].size(), 1u);
  EXPECT_EQ(result["errors"][0], json({{"deviceId", "ghost"},
                                       {"errorCode", 404001},
                                       {"errorStatus", result["errors"][0]["errorStatus"]}}));
  EXPECT_FALSE(Exists("ghost"));
}

TEST_F(BulkRegistryResourceTest, UpdateIfMatchETagAppliesOnlyWithTheCurrentEtag) {
  CreateDevice("a");
  CreateDevice("b");
  std::string stale = Etag("b");
  ASSERT_TRUE(hub_->registry().Replace(core::Device{.id = "b"}, "").has_value());
  json fresh = SdkDevice("a", "UpdateIfMatchETag");
  fresh["etag"] = Etag("a");  // the Node SDK's Device spells it "etag"
  fresh["status"] = "disabled";
  json old = SdkDevice("b", "UpdateIfMatchETag");
  old["eTag"] = "\"" + stale + "\"";  // .NET spells it "eTag"; quotes are ignored
  old["status"] = "disabled";
  json result = Result(Bulk({fresh, old}));
  EXPECT_EQ(result["isSuccessful"], false);
  ASSERT_EQ(result["errors"].size(), 1u) << result;
  EXPECT_EQ(result["errors"][0]["deviceId"], "b");
  EXPECT_EQ(result["errors"][0]["errorCode"], 412001);
  EXPECT_EQ(hub_->registry().Get("a")->status, core::DeviceStatus::kDisabled);
  EXPECT_EQ(hub_->registry().Get("b")->status, core::DeviceStatus::kEnabled);
}

TEST_F(BulkRegistryResourceTest, IfMatchModesWithoutAnEtagAreRefusedWhole) {
  CreateDevice("a");
  for (const char* mode : {"updateIfMatchETag", "deleteIfMatchETag"}) {
    Response r = Bulk({SdkDevice("a", mode)});
    EXPECT_EQ(r.status, 400) << mode;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid") << mode;
  }
  EXPECT_TRUE(Exists("a"));
}

TEST_F(BulkRegistryResourceTest, DeleteRemovesAndReportsUnknownDevices) {
  CreateDevice("a");
  json result = Result(Bulk({SdkDevice("a", "Delete"), SdkDevice("ghost", "Delete")}));
  EXPECT_EQ(result["isSuccessful"], false);
  ASSERT_EQ(result["errors"].size(), 1u);
  EXPECT_EQ(result["errors"][0]["deviceId"], "ghost");
  EXPECT_EQ(result["errors"][0]["errorCode"], 404001);
  EXPECT_FALSE(Exists("a"));
}

TEST_F(BulkRegistryResourceTest, DeleteIfMatchETagKeepsADeviceWhoseEtagMoved) {
  CreateDevice("a");
  CreateDevice("b");
  std::string stale = Etag("b");
  ASSERT_TRUE(hub_->registry().Replace(core::Device{.id = "b"}, "").has_value());
  json a = SdkDevice("a", "DeleteIfMatchETag");
  a["eTag"] = Etag("a");
  json b = SdkDevice("b", "DeleteIfMatchETag");
  b["eTag"] = stale;
  json result = Result(Bulk({a, b}));
  ASSERT_EQ(result["errors"].size(), 1u) << result;
  EXPECT_EQ(result["errors"][0]["errorCode"], 412001);
  EXPECT_FALSE(Exists("a"));
  EXPECT_TRUE(Exists("b"));
}

TEST_F(BulkRegistryResourceTest, MixedModesApplyInOrder) {
  CreateDevice("old");
  // Deleting then re-creating the same id is one id twice: refused (below). Different ids mix.
  json result = Result(
      Bulk({SdkDevice("new", "create"), SdkDevice("old", "delete"), SdkDevice("new2", "create")}));
  EXPECT_EQ(result["isSuccessful"], true) << result;
  EXPECT_TRUE(Exists("new"));
  EXPECT_TRUE(Exists("new2"));
  EXPECT_FALSE(Exists("old"));
}

TEST_F(BulkRegistryResourceTest, TheSdkDeviceObjectsReadOnlyFieldsAreIgnored) {
  // new Device({deviceId}) of azure-iothub, as removeDevices / updateDevices pass it on.
  json device = {
      {"id", "a"},
      {"importMode", "create"},
      {"generationId", nullptr},
      {"etag", nullptr},
      {"connectionState", "disconnected"},
      {"status", "enabled"},
      {"statusReason", nullptr},
      {"connectionStateUpdatedTime", nullptr},
      {"statusUpdatedTime", nullptr},
      {"lastActivityTime", nullptr},
      {"cloudToDeviceMessageCount", "0"},
      {"capabilities", json::object()},
      {"authentication",
       {{"symmetricKey", {{"primaryKey", nullptr}, {"secondaryKey", nullptr}}},
        {"x509Thumbprint", {{"primaryThumbprint", nullptr}, {"secondaryThumbprint", nullptr}}},
        {"type", "sas"}}}};
  EXPECT_EQ(Result(Bulk({device}))["isSuccessful"], true);
  EXPECT_TRUE(Exists("a"));
}

TEST_F(BulkRegistryResourceTest, DeviceIdIsAcceptedWhenIdIsAbsent) {
  json device = {{"deviceId", "a"}, {"importMode", "create"}};
  EXPECT_EQ(Result(Bulk({device}))["isSuccessful"], true);
  EXPECT_TRUE(Exists("a"));
}

TEST_F(BulkRegistryResourceTest, AScopeOfNoEdgeDeviceIsAPerDeviceArgumentError) {
  ASSERT_TRUE(hub_->registry()
                  .Create(core::Device{.id = "edge", .capabilities = {.iot_edge = true}})
                  .has_value());
  std::string scope = hub_->registry().Get("edge")->device_scope;
  ASSERT_FALSE(scope.empty());
  json child = SdkDevice("child", "create");
  child["deviceScope"] = scope;
  json orphan = SdkDevice("orphan", "create");
  orphan["deviceScope"] = "ms-azure-iot-edge://nobody-1";
  json result = Result(Bulk({child, orphan}));
  ASSERT_EQ(result["errors"].size(), 1u) << result;
  EXPECT_EQ(result["errors"][0]["deviceId"], "orphan");
  EXPECT_EQ(result["errors"][0]["errorCode"], 400004);
  auto made = hub_->registry().Get("child");
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ(made->parent_scopes, std::vector<std::string>{scope});
  EXPECT_FALSE(Exists("orphan"));
}

TEST_F(BulkRegistryResourceTest, StoreFailureIsAPerDeviceServerErrorWithoutDetails) {
  failing_.fail = true;
  json result = Result(Bulk({SdkDevice("a", "create")}));
  failing_.fail = false;
  EXPECT_EQ(result["isSuccessful"], false);
  ASSERT_EQ(result["errors"].size(), 1u) << result;
  EXPECT_EQ(result["errors"][0]["errorCode"], 500001);
  EXPECT_EQ(result.dump().find("disk on fire"), std::string::npos) << result;
  EXPECT_FALSE(Exists("a"));
}

// --- the request refused as a whole: nothing applied ---

TEST_F(BulkRegistryResourceTest, OneHundredDevicesIsTheLimit) {
  std::vector<json> hundred;
  for (int i = 0; i < 100; ++i) hundred.push_back(SdkDevice("d" + std::to_string(i), "create"));
  EXPECT_EQ(Result(Bulk(hundred))["isSuccessful"], true);
  EXPECT_EQ(hub_->registry().Stats().total, 100u);

  std::vector<json> too_many;
  for (int i = 0; i < 101; ++i) too_many.push_back(SdkDevice("e" + std::to_string(i), "create"));
  Response r = Bulk(too_many);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:TooManyDevices");
  EXPECT_NE(r.body.find("at most 100"), std::string::npos) << r.body;
  EXPECT_EQ(hub_->registry().Stats().total, 100u);
}

TEST_F(BulkRegistryResourceTest, MalformedBodiesAre400ArgumentInvalid) {
  for (const char* body : {"", "[", "{\"id\":\"a\"}", "[]", "[1]", "[null]", "\"create\""}) {
    Response r = Call("POST", "/devices", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid") << body;
  }
}

TEST_F(BulkRegistryResourceTest, BadElementsRefuseTheWholeRequest) {
  json no_id = {{"importMode", "create"}};
  json bad_id = SdkDevice("bad id", "create");
  json no_mode = {{"id", "x"}};
  json unknown_mode = SdkDevice("x", "createOrUpdate");
  json mode_not_string = {{"id", "x"}, {"importMode", 1}};
  json bad_status = SdkDevice("x", "create");
  bad_status["status"] = "sleepy";
  json id_mismatch = SdkDevice("x", "create");
  id_mismatch["deviceId"] = "y";
  for (const json& bad :
       {no_id, bad_id, no_mode, unknown_mode, mode_not_string, bad_status, id_mismatch}) {
    Response r = Bulk({SdkDevice("ok", "create"), bad});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid") << bad;
  }
  EXPECT_FALSE(Exists("ok"));
  EXPECT_NE(Bulk({unknown_mode}).body.find("createOrUpdate"), std::string::npos);
}

TEST_F(BulkRegistryResourceTest, AnIdTwiceIsDeviceDefinedMultipleTimes) {
  Response r = Bulk({SdkDevice("a", "create"), SdkDevice("b", "create"), SdkDevice("a", "delete")});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceDefinedMultipleTimes");
  EXPECT_FALSE(Exists("a"));
  EXPECT_FALSE(Exists("b"));
}

// --- auth ---

TEST_F(BulkRegistryResourceTest, RegistryReadWriteMayRegistryReadMayNot) {
  EXPECT_EQ(
      Result(Bulk({SdkDevice("a", "create")}, PolicyToken("registryReadWrite")))["isSuccessful"],
      true);
  for (const char* policy : {"registryRead", "service", "device"}) {
    Response r = Bulk({SdkDevice("b", "create")}, PolicyToken(policy));
    EXPECT_EQ(r.status, 401) << policy;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:IotHubUnauthorizedAccess") << policy;
  }
  EXPECT_FALSE(Exists("b"));
}

TEST_F(BulkRegistryResourceTest, MissingOrDeviceTokenIs401) {
  CreateDevice("d1");
  std::string device_token = DeviceToken(*hub_->registry().Get("d1"));
  EXPECT_EQ(Bulk({SdkDevice("d1", "delete")}, device_token).status, 401);
  EXPECT_EQ(
      Dispatch(MakeRequest("POST", "/devices", {}, json::array({SdkDevice("d1", "delete")}).dump()))
          .status,
      401);
  EXPECT_TRUE(Exists("d1"));
}

TEST_F(BulkRegistryResourceTest, ATokenScopedToOneDeviceCannotBulk) {
  std::string token = PolicyToken("iothubowner", std::string(kHost) + "/devices/a");
  EXPECT_EQ(Bulk({SdkDevice("a", "create")}, token).status, 401);
  EXPECT_FALSE(Exists("a"));
}

TEST_F(BulkRegistryResourceTest, GetDevicesStillListsBesidePostDevices) {
  ASSERT_EQ(Result(Bulk({SdkDevice("a", "create")}))["isSuccessful"], true);
  Response list = Call("GET", "/devices/?api-version=2021-04-12");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body).size(), 1u);
  EXPECT_EQ(Call("DELETE", "/devices").status, 405);
}

}  // namespace
}  // namespace iothub::http
