#include "http/device_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace iothub::http {
namespace {

using nlohmann::json;

core::Device Sample() {
  core::Device d;
  d.id = "d1";
  d.generation_id = "638000000000000001";
  d.etag = "MQ==";
  d.status = core::DeviceStatus::kDisabled;
  d.status_reason = "maintenance";
  d.status_updated_time = FromUnixMillis(1'700'000'000'123);
  d.primary_key = "cGs=";
  d.secondary_key = "c2s=";
  d.connection_state = core::ConnectionState::kConnected;
  d.connection_state_updated_time = FromUnixMillis(1'700'000'001'000);
  d.cloud_to_device_message_count = 3;
  d.capabilities.iot_edge = true;
  d.device_scope = "ms-azure-iot-edge://d1-1";
  return d;
}

TEST(DeviceJsonTest, PrintsAzureFieldNamesAndTypes) {
  json j = json::parse(DeviceToJson(Sample()));
  EXPECT_EQ(j["deviceId"], "d1");
  EXPECT_EQ(j["generationId"], "638000000000000001");
  EXPECT_EQ(j["etag"], "MQ==");
  EXPECT_EQ(j["status"], "disabled");
  EXPECT_EQ(j["statusReason"], "maintenance");
  EXPECT_EQ(j["connectionState"], "Connected");
  EXPECT_EQ(j["connectionStateUpdatedTime"], "2023-11-14T22:13:21.0000000Z");
  EXPECT_EQ(j["statusUpdatedTime"], "2023-11-14T22:13:20.1230000Z");
  EXPECT_EQ(j["lastActivityTime"], "0001-01-01T00:00:00Z");
  ASSERT_TRUE(j["cloudToDeviceMessageCount"].is_number_unsigned());
  EXPECT_EQ(j["cloudToDeviceMessageCount"], 3);
  EXPECT_EQ(j["authentication"]["type"], "sas");
  EXPECT_EQ(j["authentication"]["symmetricKey"]["primaryKey"], "cGs=");
  EXPECT_EQ(j["authentication"]["symmetricKey"]["secondaryKey"], "c2s=");
  EXPECT_TRUE(j["authentication"]["x509Thumbprint"]["primaryThumbprint"].is_null());
  EXPECT_TRUE(j["authentication"]["x509Thumbprint"]["secondaryThumbprint"].is_null());
  EXPECT_EQ(j["capabilities"]["iotEdge"], true);
  EXPECT_EQ(j["deviceScope"], "ms-azure-iot-edge://d1-1");
  EXPECT_TRUE(j["parentScopes"].is_array());
  EXPECT_EQ(j.size(), 14u);
}

TEST(DeviceJsonTest, EmptyStringsPrintAsNull) {
  core::Device d;
  d.id = "d2";
  json j = json::parse(DeviceToJson(d));
  EXPECT_TRUE(j["statusReason"].is_null());
  EXPECT_TRUE(j["deviceScope"].is_null());
  EXPECT_TRUE(j["authentication"]["symmetricKey"]["primaryKey"].is_null());
  EXPECT_EQ(j["statusUpdatedTime"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(j["connectionState"], "Disconnected");
  EXPECT_EQ(j["status"], "enabled");
}

TEST(DeviceJsonTest, ListIsAnArray) {
  json j = json::parse(DevicesToJson({Sample(), Sample()}));
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(json::parse(DevicesToJson({})), json::array());
}

TEST(DeviceJsonTest, ParsesWhatItPrints) {
  core::Device in = Sample();
  in.parent_scopes = {"ms-azure-iot-edge://p-1"};
  in.device_scope = "ms-azure-iot-edge://p-1";
  auto out = DeviceFromJson(DeviceToJson(in), "d1");
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_EQ(out->id, "d1");
  EXPECT_EQ(out->status, core::DeviceStatus::kDisabled);
  EXPECT_EQ(out->status_reason, "maintenance");
  EXPECT_EQ(out->auth_type, core::DeviceAuthType::kSas);
  EXPECT_EQ(out->primary_key, "cGs=");
  EXPECT_EQ(out->secondary_key, "c2s=");
  EXPECT_TRUE(out->capabilities.iot_edge);
  EXPECT_EQ(out->device_scope, "ms-azure-iot-edge://p-1");
  EXPECT_EQ(out->parent_scopes, in.parent_scopes);
  // Read-only fields are not taken from the body.
  EXPECT_EQ(out->etag, "");
  EXPECT_EQ(out->generation_id, "");
  EXPECT_EQ(out->cloud_to_device_message_count, 0u);
  EXPECT_EQ(out->connection_state, core::ConnectionState::kDisconnected);
}

TEST(DeviceJsonTest, MinimalBodyTakesThePathId) {
  auto out = DeviceFromJson("{}", "p1");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->id, "p1");
  EXPECT_EQ(out->status, core::DeviceStatus::kEnabled);
  EXPECT_EQ(out->auth_type, core::DeviceAuthType::kSas);
  EXPECT_TRUE(out->primary_key.empty());
}

TEST(DeviceJsonTest, UnknownFieldsAndNullsAreIgnored) {
  auto out = DeviceFromJson(
      R"({"deviceId":"d","future":{"x":1},"status":null,"authentication":{"type":"selfSigned",)"
      R"("x509Thumbprint":{"primaryThumbprint":"AB","secondaryThumbprint":null},"symmetricKey":null},)"
      R"("capabilities":{"iotEdge":null},"parentScopes":null,"statusReason":null})",
      "d");
  ASSERT_TRUE(out.has_value()) << out.error().ToString();
  EXPECT_EQ(out->status, core::DeviceStatus::kEnabled);
  EXPECT_EQ(out->auth_type, core::DeviceAuthType::kSelfSigned);
  EXPECT_EQ(out->primary_thumbprint, "AB");
  EXPECT_FALSE(out->capabilities.iot_edge);
}

TEST(DeviceJsonTest, StatusIsCaseInsensitive) {
  auto out = DeviceFromJson(R"({"status":"Disabled"})", "d");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status, core::DeviceStatus::kDisabled);
}

TEST(DeviceJsonTest, RejectsBadBodies) {
  const char* bad[] = {
      "",
      "{",
      "not json",
      "[]",
      "\"d\"",
      R"({"deviceId":"other"})",
      R"({"deviceId":5})",
      R"({"status":"sleeping"})",
      R"({"status":true})",
      R"({"statusReason":1})",
      R"({"authentication":"sas"})",
      R"({"authentication":{"type":"password"}})",
      R"({"authentication":{"symmetricKey":{"primaryKey":1}}})",
      R"({"authentication":{"x509Thumbprint":[]}})",
      R"({"capabilities":{"iotEdge":"yes"}})",
      R"({"capabilities":true})",
      R"({"deviceScope":1})",
      R"({"parentScopes":"s"})",
      R"({"parentScopes":[1]})",
  };
  for (const char* body : bad) {
    auto out = DeviceFromJson(body, "d");
    ASSERT_FALSE(out.has_value()) << body;
    EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(out.error().reason(), "ArgumentInvalid") << body;
  }
}

}  // namespace
}  // namespace iothub::http
