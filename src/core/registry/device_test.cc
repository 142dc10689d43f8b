#include "core/registry/device.h"

#include <gtest/gtest.h>

#include <string>

namespace iothub::core {
namespace {

TEST(DeviceIdTest, AcceptsLettersDigitsAndTheListedSpecials) {
  const std::string good[] = {
      "a",
      "Z",
      "0",
      "device-1",
      "Device.With_Underscore",
      "-.%_*?!(),:=@$'",
      "a%20b",
      "x:y=z@w$v'u",
      std::string(128, 'x'),
  };
  for (const std::string& id : good) EXPECT_TRUE(ValidateDeviceId(id).ok()) << id;
}

TEST(DeviceIdTest, RejectsEverythingElse) {
  const std::string bad[] = {
      "",         std::string(129, 'x'),
      "a b",      "a/b",
      "a\\b",     "a#b",
      "a&b",      "a+b",
      "a;b",      "a\"b",
      "a<b",      "a>b",
      "a[b",      "a{b",
      "a|b",      "a^b",
      "a`b",      "a~b",
      "\xc3\xa4", std::string("a\0b", 3),
      "a\tb",     "a\nb",
  };
  for (const std::string& id : bad) {
    Status s = ValidateDeviceId(id);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(s.reason(), "ArgumentInvalid") << id;
  }
}

TEST(DeviceNamesTest, ParseWhatTheNamesPrint) {
  for (DeviceStatus s : {DeviceStatus::kEnabled, DeviceStatus::kDisabled}) {
    DeviceStatus parsed{};
    ASSERT_TRUE(ParseDeviceStatus(DeviceStatusName(s), &parsed));
    EXPECT_EQ(parsed, s);
  }
  for (DeviceAuthType t : {DeviceAuthType::kSas, DeviceAuthType::kSelfSigned,
                           DeviceAuthType::kCertificateAuthority, DeviceAuthType::kNone}) {
    DeviceAuthType parsed{};
    ASSERT_TRUE(ParseDeviceAuthType(DeviceAuthTypeName(t), &parsed));
    EXPECT_EQ(parsed, t);
  }
  DeviceStatus status{};
  EXPECT_TRUE(ParseDeviceStatus("Disabled", &status));
  EXPECT_EQ(status, DeviceStatus::kDisabled);
  EXPECT_FALSE(ParseDeviceStatus("on", &status));
  DeviceAuthType type{};
  EXPECT_TRUE(ParseDeviceAuthType("SelfSigned", &type));
  EXPECT_EQ(type, DeviceAuthType::kSelfSigned);
  EXPECT_FALSE(ParseDeviceAuthType("x509", &type));
  EXPECT_EQ(ConnectionStateName(ConnectionState::kConnected), "Connected");
  EXPECT_EQ(ConnectionStateName(ConnectionState::kDisconnected), "Disconnected");
}

Device FullDevice() {
  Device d;
  d.id = "dev-1";
  d.generation_id = "637000000000000001";
  d.status = DeviceStatus::kDisabled;
  d.status_reason = "maintenance";
  d.status_updated_time = FromUnixMillis(1'700'000'000'123);
  d.auth_type = DeviceAuthType::kSelfSigned;
  d.primary_key = "AAAA";
  d.secondary_key = "BBBB";
  d.primary_thumbprint = std::string(40, 'a');
  d.secondary_thumbprint = std::string(64, 'b');
  d.capabilities.iot_edge = true;
  d.device_scope = "ms-azure-iot-edge://dev-1-1";
  d.parent_scopes = {"ms-azure-iot-edge://parent-2"};
  return d;
}

TEST(DeviceCodingTest, IdentityRoundTripsAndLeavesRuntimeFieldsOut) {
  Device d = FullDevice();
  Result<std::string> bytes = EncodeDeviceIdentity(d);
  ASSERT_TRUE(bytes);
  Result<Device> decoded = DecodeDeviceIdentity(*bytes);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, d);

  Device with_runtime = d;
  with_runtime.etag = "MQ==";
  with_runtime.connection_state = ConnectionState::kConnected;
  with_runtime.last_activity_time = FromUnixMillis(5);
  with_runtime.cloud_to_device_message_count = 7;
  EXPECT_EQ(*EncodeDeviceIdentity(with_runtime), *bytes);
}

TEST(DeviceCodingTest, InvalidUtf8IsRefusedNotMangled) {
  Device d = FullDevice();
  d.status_reason = "\xff\xfe";
  Result<std::string> bytes = EncodeDeviceIdentity(d);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code(), StatusCode::kInvalidArgument);
}

TEST(DeviceCodingTest, DamagedIdentityIsCorruption) {
  std::string good = *EncodeDeviceIdentity(FullDevice());
  const std::string bad[] = {
      "",
      "not json",
      "[]",
      "{}",
      good.substr(0, good.size() - 1),
      R"({"v":2,"id":"x"})",
      R"({"v":"1"})",
      [&] {
        std::string s = good;
        s.replace(s.find("disabled"), 8, "sleeping");
        return s;
      }(),
      [&] {
        std::string s = good;
        s.replace(s.find("selfSigned"), 10, "magic");
        return s;
      }(),
      [&] {
        std::string s = good;
        s.replace(s.find("\"iotEdge\":true"), 14, "\"iotEdge\":1");
        return s;
      }(),
      [&] {
        std::string s = good;
        s.replace(s.find("\"id\""), 4, "\"ix\"");
        return s;
      }(),
  };
  for (const std::string& bytes : bad) {
    Result<Device> d = DecodeDeviceIdentity(bytes);
    ASSERT_FALSE(d) << bytes;
    EXPECT_EQ(d.error().code(), StatusCode::kCorruption) << bytes;
  }
}

TEST(DeviceCodingTest, ActivityRoundTripsAndRejectsDamage) {
  DeviceActivity a{"637", ConnectionState::kConnected, FromUnixMillis(10), FromUnixMillis(20)};
  std::string bytes = EncodeDeviceActivity(a);
  Result<DeviceActivity> decoded = DecodeDeviceActivity(bytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, a);
  EXPECT_EQ(DecodeDeviceActivity(bytes.substr(1)).error().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeDeviceActivity(R"({"v":1})").error().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace iothub::core
