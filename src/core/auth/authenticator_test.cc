#include "core/auth/authenticator.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/auth/sas_token.h"
#include "storage/memory/memory_store.h"

namespace iothub::core::auth {
namespace {

constexpr char kHost[] = "myhub.example.com";
// base64("0123456789abcdef0123456789abcdef"); see sas_token_test.cc for the known vector.
constexpr char kVectorKey[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest()
      : policies_(store_), auth_(kHost, policies_, clock_, [this](std::string_view id) {
          auto it = devices_.find(std::string(id));
          return it == devices_.end() ? std::nullopt : std::optional(it->second);
        }) {
    EXPECT_TRUE(policies_.LoadOrCreateDefaults().ok());
    devices_["d1"] = {GenerateKey(), GenerateKey(), true};
    devices_["d2"] = {GenerateKey(), GenerateKey(), true};
    devices_["off"] = {GenerateKey(), GenerateKey(), false};
  }

  Timestamp InAnHour() const { return clock_.Now() + std::chrono::hours(1); }
  std::string DeviceToken(const std::string& id, int key = 0) {
    const DeviceCredentials& c = devices_.at(id);
    return CreateSasToken(std::string(kHost) + "/devices/" + id,
                          key == 0 ? c.primary_key : c.secondary_key, InAnHour());
  }
  std::string PolicyToken(const std::string& policy, std::string_view scope = kHost, int key = 0) {
    SharedAccessPolicy p = *policies_.Find(policy);
    return CreateSasToken(scope, key == 0 ? p.primary_key : p.secondary_key, InAnHour(), policy);
  }
  Principal MustAuthenticate(const std::string& token) {
    Result<Principal> p = auth_.Authenticate(token);
    EXPECT_TRUE(p) << p.error().ToString() << " for " << token;
    return p ? *p : Principal{};
  }
  StatusCode AuthenticateCode(const std::string& token) {
    Result<Principal> p = auth_.Authenticate(token);
    return p ? StatusCode::kOk : p.error().code();
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  std::map<std::string, DeviceCredentials> devices_;
  PolicyStore policies_;
  Authenticator auth_;
};

TEST_F(AuthenticatorTest, DeviceTokenWithPrimaryKey) {
  Principal p = MustAuthenticate(DeviceToken("d1"));
  EXPECT_EQ(p.kind, Principal::Kind::kDevice);
  EXPECT_EQ(p.device_id, "d1");
  EXPECT_EQ(p.policy_name, "");
  EXPECT_EQ(p.rights, uint32_t{kDeviceConnect});
  EXPECT_EQ(p.scope, "myhub.example.com/devices/d1");
  EXPECT_EQ(p.expiry, InAnHour());
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, "d1").ok());
  EXPECT_TRUE(
      auth_.Authorize(p, kDeviceConnect, "myhub.example.com/devices/d1/messages/events").ok());
}

TEST_F(AuthenticatorTest, DeviceTokenWithSecondaryKey) {
  EXPECT_EQ(MustAuthenticate(DeviceToken("d1", 1)).device_id, "d1");
}

TEST_F(AuthenticatorTest, KnownVectorAuthenticates) {
  devices_["dev-1"] = {kVectorKey, "", true};
  clock_.Set(FromUnixMillis(1'700'003'599'000));
  Principal p = MustAuthenticate(
      "SharedAccessSignature sr=myhub.example.com%2Fdevices%2Fdev-1"
      "&sig=nostKhVRlFMnMRcc%2BlT0LrxM%2Bu8xNE%2FMvEVWJWv25OE%3D&se=1700003600");
  EXPECT_EQ(p.device_id, "dev-1");
}

TEST_F(AuthenticatorTest, ForgedSignatureIsRefused) {
  std::string forged = CreateSasToken("myhub.example.com/devices/d1", GenerateKey(), InAnHour());
  Result<Principal> p = auth_.Authenticate(forged);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(p.error().reason(), "IotHubUnauthorizedAccess");
  // d2's key cannot sign for d1.
  EXPECT_EQ(AuthenticateCode(CreateSasToken("myhub.example.com/devices/d1",
                                            devices_["d2"].primary_key, InAnHour())),
            StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ExpiryIsExclusive) {
  std::string token = DeviceToken("d1");
  clock_.Advance(std::chrono::hours(1) - Duration(1));
  EXPECT_EQ(AuthenticateCode(token), StatusCode::kOk);
  clock_.Advance(Duration(1));  // se == now
  Result<Principal> p = auth_.Authenticate(token);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(p.error().message().find("expired"), std::string::npos);
}

TEST_F(AuthenticatorTest, AuthorizeRefusesAPrincipalWhoseTokenHasSinceExpired) {
  Principal p = MustAuthenticate(PolicyToken("iothubowner"));
  EXPECT_TRUE(auth_.Authorize(p, kRegistryRead, "myhub.example.com/devices/d1").ok());
  clock_.Advance(std::chrono::hours(1));
  Status s = auth_.Authorize(p, kRegistryRead, "myhub.example.com/devices/d1");
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("expired"), std::string::npos);
}

TEST_F(AuthenticatorTest, ScopeMustBeThisHub) {
  const std::string key = devices_["d1"].primary_key;
  for (std::string sr : {"otherhub.example.com/devices/d1", "myhub.example.com.evil/devices/d1",
                         "myhub.example.co/devices/d1", "xmyhub.example.com/devices/d1",
                         "devices/d1", "/myhub.example.com/devices/d1"}) {
    EXPECT_EQ(AuthenticateCode(CreateSasToken(sr, key, InAnHour())), StatusCode::kUnauthenticated)
        << sr;
  }
  SharedAccessPolicy owner = *policies_.Find("iothubowner");
  for (std::string sr : {"otherhub.example.com", "myhub.example.com.evil", "myhub.example.comx",
                         "myhub.example.co"}) {
    EXPECT_EQ(AuthenticateCode(CreateSasToken(sr, owner.primary_key, InAnHour(), "iothubowner")),
              StatusCode::kUnauthenticated)
        << sr;
  }
}

TEST_F(AuthenticatorTest, HostAndPathCompareCaseInsensitively) {
  Principal p = MustAuthenticate(
      CreateSasToken("MyHub.Example.COM/Devices/d1", devices_["d1"].primary_key, InAnHour()));
  EXPECT_EQ(p.device_id, "d1");
  EXPECT_EQ(p.scope, "myhub.example.com/devices/d1");
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, "d1").ok());
  Principal owner = MustAuthenticate(PolicyToken("iothubowner", "MYHUB.EXAMPLE.COM"));
  EXPECT_TRUE(auth_.Authorize(owner, kRegistryWrite, "myhub.example.com/devices/x").ok());
}

TEST_F(AuthenticatorTest, TrailingSlashInScopeIsIgnored) {
  Principal p = MustAuthenticate(
      CreateSasToken("myhub.example.com/devices/d1/", devices_["d1"].primary_key, InAnHour()));
  EXPECT_EQ(p.scope, "myhub.example.com/devices/d1");
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, "d1").ok());
}

TEST_F(AuthenticatorTest, PolicyTokenWithEitherKey) {
  for (int key : {0, 1}) {
    Principal p = MustAuthenticate(PolicyToken("service", kHost, key));
    EXPECT_EQ(p.kind, Principal::Kind::kPolicy);
    EXPECT_EQ(p.policy_name, "service");
    EXPECT_EQ(p.rights, uint32_t{kServiceConnect});
    EXPECT_EQ(p.device_id, "");
    EXPECT_EQ(p.scope, "myhub.example.com");
  }
}

TEST_F(AuthenticatorTest, UnknownPolicyIsRefused) {
  SharedAccessPolicy owner = *policies_.Find("iothubowner");
  EXPECT_EQ(AuthenticateCode(CreateSasToken(kHost, owner.primary_key, InAnHour(), "nobody")),
            StatusCode::kUnauthenticated);
  // Names are case-sensitive.
  EXPECT_EQ(AuthenticateCode(CreateSasToken(kHost, owner.primary_key, InAnHour(), "IoTHubOwner")),
            StatusCode::kUnauthenticated);
  // Another policy's key does not sign for this one.
  EXPECT_EQ(AuthenticateCode(CreateSasToken(kHost, owner.primary_key, InAnHour(), "service")),
            StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, PolicyWithoutTheRightIsDenied) {
  Principal service = MustAuthenticate(PolicyToken("service"));
  EXPECT_TRUE(
      auth_.Authorize(service, kServiceConnect, "myhub.example.com/messages/devicebound").ok());
  EXPECT_EQ(auth_.Authorize(service, kRegistryRead, "myhub.example.com/devices/d1").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(service, "d1").code(), StatusCode::kPermissionDenied);

  Principal read = MustAuthenticate(PolicyToken("registryRead"));
  EXPECT_TRUE(auth_.Authorize(read, kRegistryRead, "myhub.example.com/devices/d1").ok());
  EXPECT_EQ(auth_.Authorize(read, kRegistryWrite, "myhub.example.com/devices/d1").code(),
            StatusCode::kPermissionDenied);

  Principal owner = MustAuthenticate(PolicyToken("iothubowner"));
  for (Right r : {kRegistryRead, kRegistryWrite, kServiceConnect, kDeviceConnect}) {
    EXPECT_TRUE(auth_.Authorize(owner, r, "myhub.example.com/devices/d1").ok()) << r;
  }
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(owner, "d2").ok());
}

TEST_F(AuthenticatorTest, ScopeIsASegmentWisePrefix) {
  Principal p = MustAuthenticate(PolicyToken("iothubowner", "myhub.example.com/devices/a"));
  EXPECT_EQ(p.device_id, "a");
  struct Case {
    const char* resource;
    bool allowed;
  } cases[] = {
      {"myhub.example.com/devices/a", true},
      {"myhub.example.com/devices/a/", true},
      {"myhub.example.com/devices/a/messages/events", true},
      {"MYHUB.example.com/DEVICES/a/messages/events", true},
      {"myhub.example.com/devices/ab", false},
      {"myhub.example.com/devices/ab/messages/events", false},
      {"myhub.example.com/devices/A", false},  // ids are case-sensitive
      {"myhub.example.com/devices", false},
      {"myhub.example.com", false},
      {"myhub.example.com/devices/b", false},
      {"myhub.example.com/devicesx/a", false},
      {"", false},
  };
  for (const Case& c : cases) {
    Status s = auth_.Authorize(p, kRegistryRead, c.resource);
    EXPECT_EQ(s.ok(), c.allowed) << c.resource << ": " << s.ToString();
    if (!c.allowed) {
      EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << c.resource;
    }
  }
}

TEST_F(AuthenticatorTest, NonDeviceScopeIsASegmentWisePrefixToo) {
  Principal p = MustAuthenticate(PolicyToken("service", "myhub.example.com/messages"));
  EXPECT_EQ(p.device_id, "");
  EXPECT_TRUE(auth_.Authorize(p, kServiceConnect, "myhub.example.com/messages/devicebound").ok());
  EXPECT_TRUE(auth_.Authorize(p, kServiceConnect, "myhub.example.com/Messages").ok());
  EXPECT_EQ(auth_.Authorize(p, kServiceConnect, "myhub.example.com/messagesx/devicebound").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.Authorize(p, kServiceConnect, "myhub.example.com/devices/d1").code(),
            StatusCode::kPermissionDenied);
}

TEST_F(AuthenticatorTest, HubScopeCoversEverythingOnTheHub) {
  Principal p = MustAuthenticate(PolicyToken("registryRead"));
  EXPECT_TRUE(auth_.Authorize(p, kRegistryRead, "myhub.example.com").ok());
  EXPECT_TRUE(auth_.Authorize(p, kRegistryRead, "myhub.example.com/devices/zz").ok());
  EXPECT_FALSE(auth_.Authorize(p, kRegistryRead, "myhub.example.comx/devices/zz").ok());
  EXPECT_FALSE(auth_.Authorize(p, kRegistryRead, "otherhub/devices/zz").ok());
}

TEST_F(AuthenticatorTest, DeviceTokenReachesOnlyItsOwnDevice) {
  Principal p = MustAuthenticate(DeviceToken("d1"));
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(p, "d2").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(p, "D1").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(p, "d").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(p, "d10").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(
      auth_.Authorize(p, kDeviceConnect, "myhub.example.com/devices/d2/messages/events").code(),
      StatusCode::kPermissionDenied);
  // A device has DeviceConnect and nothing else.
  for (Right r : {kRegistryRead, kRegistryWrite, kServiceConnect}) {
    EXPECT_EQ(auth_.Authorize(p, r, "myhub.example.com/devices/d1").code(),
              StatusCode::kPermissionDenied);
  }
}

TEST_F(AuthenticatorTest, DisabledDeviceIsRefusedOnlyWithAValidSignature) {
  Result<Principal> p = auth_.Authenticate(DeviceToken("off"));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(p.error().reason(), "DeviceDisabled");

  Result<Principal> forged = auth_.Authenticate(
      CreateSasToken("myhub.example.com/devices/off", GenerateKey(), InAnHour()));
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().reason(), "IotHubUnauthorizedAccess") << "state not revealed";
}

TEST_F(AuthenticatorTest, DeviceDisabledAfterAuthenticationCannotConnect) {
  Principal p = MustAuthenticate(DeviceToken("d1"));
  devices_["d1"].enabled = false;
  Status s = auth_.AuthorizeDeviceConnect(p, "d1");
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.reason(), "DeviceDisabled");
  devices_.erase("d1");
  s = auth_.AuthorizeDeviceConnect(p, "d1");
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(s.reason(), "DeviceNotFound");
}

TEST_F(AuthenticatorTest, UnknownDeviceIsRefused) {
  EXPECT_EQ(AuthenticateCode(CreateSasToken("myhub.example.com/devices/ghost",
                                            devices_["d1"].primary_key, InAnHour())),
            StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, DeviceTokenMustNameADevice) {
  const std::string key = devices_["d1"].primary_key;
  for (std::string sr :
       {"myhub.example.com", "myhub.example.com/devices", "myhub.example.com/devices/",
        "myhub.example.com/messages/events", "myhub.example.com/devices/d1/modules/m1",
        "myhub.example.com/devices/d1/Modules"}) {
    EXPECT_EQ(AuthenticateCode(CreateSasToken(sr, key, InAnHour())), StatusCode::kUnauthenticated)
        << sr;
  }
}

TEST_F(AuthenticatorTest, DevicePolicyTokenScopedToADevice) {
  Principal p = MustAuthenticate(PolicyToken("device", "myhub.example.com/devices/d1"));
  EXPECT_EQ(p.kind, Principal::Kind::kPolicy);
  EXPECT_EQ(p.device_id, "d1");
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, "d1").ok());
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(p, "d2").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth_.Authorize(p, kServiceConnect, "myhub.example.com/devices/d1").code(),
            StatusCode::kPermissionDenied);

  // The device policy over the whole hub connects any existing, enabled device.
  Principal hub = MustAuthenticate(PolicyToken("device"));
  EXPECT_TRUE(auth_.AuthorizeDeviceConnect(hub, "d2").ok());
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(hub, "off").reason(), "DeviceDisabled");
  EXPECT_EQ(auth_.AuthorizeDeviceConnect(hub, "ghost").reason(), "DeviceNotFound");
}

TEST_F(AuthenticatorTest, MalformedTokensAreUnauthenticated) {
  for (std::string token : {"", "garbage", "SharedAccessSignature ", "Basic dXNlcjpwYXNz",
                            "SharedAccessSignature sr=myhub.example.com&se=99999999999",
                            "SharedAccessSignature sr=myhub.example.com&sig=x&se=soon"}) {
    EXPECT_EQ(AuthenticateCode(token), StatusCode::kUnauthenticated) << token;
  }
}

TEST_F(AuthenticatorTest, PrincipalWithEmptyScopeIsDenied) {
  Principal p;
  p.kind = Principal::Kind::kPolicy;
  p.rights = kRegistryRead;
  p.expiry = InAnHour();
  EXPECT_EQ(auth_.Authorize(p, kRegistryRead, "myhub.example.com").code(),
            StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace iothub::core::auth
