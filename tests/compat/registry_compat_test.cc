// The registry REST API of a real iothubd as the official azure-iothub Registry (pinned in
// package.json) sees it: registry_compat.js runs the SDK against the hub and prints what the SDK
// returned; the tests here judge that output.
//
// The hub runs on a loopback address of its own with HTTPS on port 443, the only port the SDK
// knows (node_sdk.h says how and what it needs).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/compat/node_sdk.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

// Runs the hub and registry_compat.js once for the whole suite; each test checks one part.
class RegistryCompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run_ = new SuiteRun(RunSuiteScript("registry_compat.js", {"azure-iothub"}, {"--shards", "2"},
                                       {{"owner", "iothubowner"}, {"reader", "registryRead"}}));
  }

  static void TearDownTestSuite() { delete run_; }

  void SetUp() override { ASSERT_EQ(run_->error, "") << "cannot run the Node SDK against iothubd"; }

  // The result of one step of registry_compat.js.
  static json R(const char* step) { return run_->Step(step); }

  // One bulk result's errors as deviceId -> errorCode.
  static std::map<std::string, int> Errors(const json& bulk) {
    std::map<std::string, int> out;
    for (const json& e : bulk.value("errors", json::array())) {
      out[e.value("deviceId", "?")] = e.value("errorCode", 0);
      EXPECT_FALSE(e.value("errorStatus", "").empty()) << e;
    }
    return out;
  }

  static inline SuiteRun* run_ = nullptr;
};

TEST_F(RegistryCompatTest, CreateAndGet) {
  json created = R("create");
  ASSERT_EQ(created["ok"], true) << created;
  EXPECT_EQ(created["deviceId"], "compat-1");
  EXPECT_EQ(created["status_code"], 200);
  EXPECT_EQ(created["primaryKey"].get<std::string>().size(), 44u) << created;
  EXPECT_EQ(created["secondaryKey"].get<std::string>().size(), 44u) << created;
  EXPECT_FALSE(created["etag"].get<std::string>().empty());
  json got = R("get");
  ASSERT_EQ(got["ok"], true) << got;
  EXPECT_EQ(got["etag"], created["etag"]);
  EXPECT_EQ(got["generationId"], created["generationId"]);
  EXPECT_EQ(got["connectionState"], "Disconnected");
}

TEST_F(RegistryCompatTest, SdkErrorClassesForNotFoundAndAlreadyExists) {
  EXPECT_EQ(R("createExisting")["error"], "DeviceAlreadyExistsError") << R("createExisting");
  EXPECT_EQ(R("createExisting")["status"], 409);
  EXPECT_EQ(R("getUnknown")["error"], "DeviceNotFoundError") << R("getUnknown");
  EXPECT_EQ(R("getUnknown")["status"], 404);
}

TEST_F(RegistryCompatTest, UpdateAndStaleEtag) {
  json updated = R("update");
  ASSERT_EQ(updated["ok"], true) << updated;
  EXPECT_EQ(updated["status"], "disabled");
  EXPECT_NE(updated["etag"], R("create")["etag"]);
  EXPECT_EQ(updated["primaryKey"], R("create")["primaryKey"]);  // sent back unchanged
  json stale = R("updateStaleEtag");
  EXPECT_EQ(stale["error"], "InvalidEtagError") << stale;
  EXPECT_EQ(stale["status"], 412);
  EXPECT_EQ(R("afterStaleUpdate")["status"], "disabled") << R("afterStaleUpdate");
}

TEST_F(RegistryCompatTest, List) {
  json list = R("list");
  ASSERT_EQ(list["ok"], true) << list;
  EXPECT_EQ(list["deviceIds"], json::array({"compat-1"}));
}

TEST_F(RegistryCompatTest, AddDevices) {
  json added = R("addDevices");
  ASSERT_EQ(added["ok"], true) << added;
  EXPECT_EQ(added["status"], 200);
  EXPECT_EQ(added["isSuccessful"], true);
  EXPECT_EQ(added["errors"], json::array());
  EXPECT_EQ(added["warnings"], json::array());
  json got = R("bulkGet");
  ASSERT_EQ(got["ok"], true) << got;
  for (const char* id : {"bulk-1", "bulk-2", "bulk-3"}) {
    EXPECT_EQ(got["devices"][id]["primaryKey"].get<std::string>().size(), 44u) << id;
  }
  EXPECT_EQ(got["devices"]["bulk-2"]["status"], "disabled");
  EXPECT_EQ(got["devices"]["bulk-1"]["status"], "enabled");

  json again = R("addDevicesExisting");
  ASSERT_EQ(again["ok"], true) << again;
  EXPECT_EQ(again["isSuccessful"], false);
  EXPECT_EQ(Errors(again), (std::map<std::string, int>{{"bulk-1", 409001}}));
}

TEST_F(RegistryCompatTest, UpdateDevices) {
  json forced = R("updateDevicesForce");
  ASSERT_EQ(forced["ok"], true) << forced;
  EXPECT_EQ(forced["isSuccessful"], false);
  EXPECT_EQ(Errors(forced), (std::map<std::string, int>{{"no-such-device", 404001}}));
  json by_etag = R("updateDevicesEtag");
  ASSERT_EQ(by_etag["ok"], true) << by_etag;
  EXPECT_EQ(Errors(by_etag), (std::map<std::string, int>{{"bulk-3", 412001}}));
  json after = R("afterUpdateDevices")["devices"];
  EXPECT_EQ(after["bulk-1"]["status"], "disabled") << after;
  EXPECT_EQ(after["bulk-2"]["status"], "enabled") << after;  // fresh etag: applied
  EXPECT_EQ(after["bulk-3"]["status"], "enabled") << after;  // stale etag: not applied
  // Bulk updates keep keys the SDK sends back empty.
  EXPECT_EQ(after["bulk-1"]["primaryKey"], R("bulkGet")["devices"]["bulk-1"]["primaryKey"]);
}

TEST_F(RegistryCompatTest, RemoveDevices) {
  json by_etag = R("removeDevicesEtag");
  ASSERT_EQ(by_etag["ok"], true) << by_etag;
  EXPECT_EQ(Errors(by_etag), (std::map<std::string, int>{{"bulk-2", 412001}}));
  json forced = R("removeDevicesForce");
  ASSERT_EQ(forced["ok"], true) << forced;
  EXPECT_EQ(Errors(forced), (std::map<std::string, int>{{"no-such-device", 404001}}));
  EXPECT_EQ(R("afterRemoveDevices")["deviceIds"], json::array({"compat-1"}))
      << R("afterRemoveDevices");
}

TEST_F(RegistryCompatTest, BulkLimitsAndRights) {
  json too_many = R("bulkTooMany");
  EXPECT_EQ(too_many["status"], 413) << too_many;
  EXPECT_NE(too_many["message"].get<std::string>().find("at most 100"), std::string::npos)
      << too_many;
  EXPECT_EQ(R("sdkRefusesTooMany")["error"], "ArgumentError") << R("sdkRefusesTooMany");
  json read_only = R("bulkWithReadOnlyPolicy");
  EXPECT_EQ(read_only["error"], "UnauthorizedError") << read_only;
  EXPECT_EQ(read_only["status"], 401);
}

TEST_F(RegistryCompatTest, Statistics) {
  json registry = R("registryStatistics");
  ASSERT_EQ(registry["ok"], true) << registry;
  // compat-1 (disabled) is the only device left at that point.
  EXPECT_EQ(registry["totalDeviceCount"], 1);
  EXPECT_EQ(registry["enabledDeviceCount"], 0);
  EXPECT_EQ(registry["disabledDeviceCount"], 1);
  json service = R("serviceStatistics");
  ASSERT_EQ(service["ok"], true) << service;
  EXPECT_EQ(service["status"], 200);
  EXPECT_EQ(service["body"], json({{"connectedDeviceCount", 0}}));
}

TEST_F(RegistryCompatTest, EdgeScopes) {
  json edge = R("edgeCreate");
  ASSERT_EQ(edge["ok"], true) << edge;
  EXPECT_EQ(edge["capabilities"]["iotEdge"], true);
  std::string scope = edge["deviceScope"];
  EXPECT_EQ(scope.rfind("ms-azure-iot-edge://edge-1-", 0), 0u) << scope;
  json child = R("childCreate");
  ASSERT_EQ(child["ok"], true) << child;
  EXPECT_EQ(child["deviceScope"], scope);
  EXPECT_EQ(child["parentScopes"], json::array({scope}));
  json foreign = R("childForeignScope");
  EXPECT_EQ(foreign["error"], "ArgumentError") << foreign;
  EXPECT_EQ(foreign["status"], 400);
  json kept = R("edgeUpdateKeepsScope");
  ASSERT_EQ(kept["ok"], true) << kept;
  EXPECT_EQ(kept["deviceScope"], scope);
}

TEST_F(RegistryCompatTest, Delete) {
  EXPECT_EQ(R("delete")["status"], 204) << R("delete");
  EXPECT_EQ(R("getDeleted")["error"], "DeviceNotFoundError") << R("getDeleted");
  EXPECT_EQ(R("deleteUnknown")["error"], "DeviceNotFoundError") << R("deleteUnknown");
}

}  // namespace
}  // namespace iothub::testing
