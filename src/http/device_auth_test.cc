#include "http/device_auth.h"

#include <gtest/gtest.h>

#include "http/resource_test_fixture.h"

namespace iothub::http {
namespace {

using core::auth::Principal;
using std::chrono::hours;
using std::chrono::seconds;

class DeviceAuthTest : public ResourceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenHub());
    d1_ = CreateDevice("d1");
    d2_ = CreateDevice("d2");
  }

  Result<Principal> Authorize(std::optional<std::string> token, std::string_view id = "d1") {
    Request request;
    if (token) request.headers.emplace("Authorization", *token);
    return AuthorizeDevice(hub_->authenticator(), request, id, kHost);
  }

  static bool Is401(const Result<Principal>& r) {
    return !r && (r.error().code() == StatusCode::kUnauthenticated ||
                  r.error().code() == StatusCode::kPermissionDenied);
  }

  core::Device d1_, d2_;
};

TEST_F(DeviceAuthTest, DeviceTokenOfThatDevice) {
  auto p = Authorize(DeviceToken(d1_));
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->kind, Principal::Kind::kDevice);
  EXPECT_EQ(p->device_id, "d1");
}

TEST_F(DeviceAuthTest, EitherKeyAndRenewedTokensWork) {
  EXPECT_TRUE(Authorize(DeviceToken(d1_)).has_value());
  clock_.Advance(seconds(30));
  EXPECT_TRUE(Authorize(DeviceToken(d1_.id, d1_.secondary_key)).has_value());
  EXPECT_TRUE(Authorize(DeviceToken(d1_, hours(2))).has_value());
}

TEST_F(DeviceAuthTest, PolicyWithDeviceConnect) {
  auto p = Authorize(PolicyToken("device"));
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->kind, Principal::Kind::kPolicy);
  EXPECT_TRUE(Authorize(PolicyToken("iothubowner")).has_value());
  // A device-scoped policy token reaches that device only.
  std::string scoped = PolicyToken("device", std::string(kHost) + "/devices/d1");
  EXPECT_TRUE(Authorize(scoped, "d1").has_value());
  EXPECT_TRUE(Is401(Authorize(scoped, "d2")));
}

TEST_F(DeviceAuthTest, PolicyWithoutDeviceConnectIsRefusedNamingTheRule) {
  auto p = Authorize(PolicyToken("service"));
  ASSERT_TRUE(Is401(p));
  EXPECT_NE(p.error().message().find("'service'"), std::string::npos) << p.error().message();
  EXPECT_EQ(p.error().reason(), "IotHubUnauthorizedAccess");
  EXPECT_TRUE(Is401(Authorize(PolicyToken("registryReadWrite"))));
}

TEST_F(DeviceAuthTest, AnotherDevicesTokenIsRefused) {
  auto p = Authorize(DeviceToken(d2_), "d1");
  ASSERT_TRUE(Is401(p));
  EXPECT_EQ(p.error().reason(), "IotHubUnauthorizedAccess");
  // Device ids are case-sensitive.
  EXPECT_TRUE(Is401(Authorize(DeviceToken(d1_), "D1")));
}

TEST_F(DeviceAuthTest, MissingMalformedForgedAndExpiredTokens) {
  EXPECT_TRUE(Is401(Authorize(std::nullopt)));
  EXPECT_TRUE(Is401(Authorize("")));
  EXPECT_TRUE(Is401(Authorize("Bearer abc")));
  EXPECT_TRUE(Is401(Authorize(DeviceToken(d1_.id, d2_.primary_key))));
  EXPECT_TRUE(Is401(Authorize(DeviceToken(d1_, seconds(-1)))));
}

TEST_F(DeviceAuthTest, DisabledAndUnknownDevices) {
  core::Device off = d1_;
  off.status = core::DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Replace(off, "*").has_value());
  auto p = Authorize(DeviceToken(d1_));
  ASSERT_TRUE(Is401(p));
  EXPECT_EQ(p.error().reason(), "DeviceDisabled");
  EXPECT_TRUE(Is401(Authorize(PolicyToken("device"))));
  EXPECT_TRUE(Is401(Authorize(PolicyToken("device"), "nobody")));
}

}  // namespace
}  // namespace iothub::http
