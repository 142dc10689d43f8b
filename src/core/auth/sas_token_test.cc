#include "core/auth/sas_token.h"

#include <gtest/gtest.h>

#include "base/crypto.h"
#include "base/strings.h"

namespace iothub::core::auth {
namespace {

// base64("0123456789abcdef0123456789abcdef")
constexpr char kKey[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const Timestamp kExpiry = FromUnixMillis(1'700'003'600'000);

// Computed independently with Python 3 (hmac, hashlib, base64, urllib.parse):
//   key = base64.b64decode(kKey); se = '1700003600'
//   sr  = urllib.parse.quote('myhub.example.com/devices/dev-1', safe='')
//   sig = base64.b64encode(hmac.new(key, (sr + '\n' + se).encode(), hashlib.sha256).digest())
//   'SharedAccessSignature sr=' + sr + '&sig=' + urllib.parse.quote(sig, safe='') + '&se=' + se
constexpr char kDeviceVector[] =
    "SharedAccessSignature sr=myhub.example.com%2Fdevices%2Fdev-1"
    "&sig=nostKhVRlFMnMRcc%2BlT0LrxM%2Bu8xNE%2FMvEVWJWv25OE%3D&se=1700003600";
// The same with sr = 'myhub.example.com' and '&skn=iothubowner' appended.
constexpr char kServiceVector[] =
    "SharedAccessSignature sr=myhub.example.com"
    "&sig=3GA7zjJHfljxjD3retrOn2SBW90HvAyhJg%2BygYrNrBI%3D&se=1700003600&skn=iothubowner";

TEST(SasTokenTest, CreateMatchesIndependentlyComputedDeviceToken) {
  EXPECT_EQ(CreateSasToken("myhub.example.com/devices/dev-1", kKey, kExpiry), kDeviceVector);
}

TEST(SasTokenTest, CreateMatchesIndependentlyComputedServiceToken) {
  EXPECT_EQ(CreateSasToken("myhub.example.com", kKey, kExpiry, "iothubowner"), kServiceVector);
}

TEST(SasTokenTest, CreateTruncatesExpiryToWholeSeconds) {
  EXPECT_EQ(CreateSasToken("myhub.example.com/devices/dev-1", kKey, kExpiry + Duration(999)),
            kDeviceVector);
}

TEST(SasTokenTest, ParseKnownVector) {
  Result<SasToken> token = ParseSasToken(kDeviceVector);
  ASSERT_TRUE(token) << token.error().ToString();
  EXPECT_EQ(token->sr_raw, "myhub.example.com%2Fdevices%2Fdev-1");
  EXPECT_EQ(token->resource, "myhub.example.com/devices/dev-1");
  EXPECT_EQ(token->signature, "nostKhVRlFMnMRcc+lT0LrxM+u8xNE/MvEVWJWv25OE=");
  EXPECT_EQ(token->expiry, 1700003600);
  EXPECT_EQ(token->key_name, "");
  EXPECT_TRUE(VerifySasSignature(*token, kKey));
}

TEST(SasTokenTest, RoundTripVerifiesOnlyWithTheSigningKey) {
  std::string key = GenerateKey();
  Result<SasToken> token =
      ParseSasToken(CreateSasToken("hub/devices/a b%c", key, kExpiry, "my policy"));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->resource, "hub/devices/a b%c");
  EXPECT_EQ(token->key_name, "my policy");
  EXPECT_TRUE(VerifySasSignature(*token, key));
  EXPECT_FALSE(VerifySasSignature(*token, GenerateKey()));
  EXPECT_FALSE(VerifySasSignature(*token, "not base64!"));
  EXPECT_FALSE(VerifySasSignature(*token, ""));
}

TEST(SasTokenTest, EmptySknMeansADeviceKeyToken) {
  // Older SDKs (Java) send "skn=" with device-key tokens; IoT Hub accepts them.
  auto token = ParseSasToken(std::string(kDeviceVector) + "&skn=");
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  EXPECT_TRUE(token->key_name.empty());
  EXPECT_TRUE(VerifySasSignature(*token, kKey));
}

TEST(SasTokenTest, FieldsInAnyOrder) {
  Result<SasToken> token = ParseSasToken(
      "SharedAccessSignature skn=iothubowner&se=1700003600"
      "&sig=3GA7zjJHfljxjD3retrOn2SBW90HvAyhJg%2BygYrNrBI%3D&sr=myhub.example.com");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->key_name, "iothubowner");
  EXPECT_TRUE(VerifySasSignature(*token, kKey));
}

TEST(SasTokenTest, UnknownFieldsAreIgnored) {
  Result<SasToken> token = ParseSasToken(std::string(kDeviceVector) + "&foo=bar");
  ASSERT_TRUE(token);
  EXPECT_TRUE(VerifySasSignature(*token, kKey));
}

// The signature covers sr as it appears in the token. A client that encoded sr differently (here:
// slashes left raw, or lowercase escapes) signed those bytes; re-encoding would break it, and a
// signature over the canonical form must not verify a differently-encoded sr.
TEST(SasTokenTest, SignatureCoversSrVerbatim) {
  std::string key_bytes = *Base64Decode(kKey);
  for (std::string sr :
       {"myhub.example.com/devices/dev-1", "myhub.example.com%2fdevices%2fdev-1"}) {
    std::string own_sig = Base64Encode(HmacSha256(key_bytes, sr + "\n1700003600"));
    Result<SasToken> own = ParseSasToken("SharedAccessSignature sr=" + sr +
                                         "&sig=" + UrlEncode(own_sig) + "&se=1700003600");
    ASSERT_TRUE(own);
    EXPECT_EQ(own->resource, "myhub.example.com/devices/dev-1");
    EXPECT_TRUE(VerifySasSignature(*own, kKey)) << sr;

    // The canonical token's signature with this sr: same resource, different bytes.
    Result<SasToken> swapped =
        ParseSasToken("SharedAccessSignature sr=" + sr +
                      "&sig=nostKhVRlFMnMRcc%2BlT0LrxM%2Bu8xNE%2FMvEVWJWv25OE%3D&se=1700003600");
    ASSERT_TRUE(swapped);
    EXPECT_FALSE(VerifySasSignature(*swapped, kKey)) << sr;
  }
}

TEST(SasTokenTest, TamperedFieldsDoNotVerify) {
  SasToken token = *ParseSasToken(kDeviceVector);
  SasToken later = token;
  later.expiry += 1;
  EXPECT_FALSE(VerifySasSignature(later, kKey));
  SasToken other = token;
  other.sr_raw = "myhub.example.com%2Fdevices%2Fdev-2";
  EXPECT_FALSE(VerifySasSignature(other, kKey));
  SasToken forged = token;
  forged.signature[0] = forged.signature[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifySasSignature(forged, kKey));
  SasToken truncated = token;
  truncated.signature.pop_back();
  EXPECT_FALSE(VerifySasSignature(truncated, kKey));
}

TEST(SasTokenTest, MalformedTokensAreUnauthenticated) {
  const std::string good_sig = "sig=nostKhVRlFMnMRcc%2BlT0LrxM%2Bu8xNE%2FMvEVWJWv25OE%3D";
  const std::string inputs[] = {
      "",
      "SharedAccessSignature",
      "SharedAccessSignature ",
      "SharedAccessSignaturesr=h&" + good_sig + "&se=1",
      "Bearer sr=h&" + good_sig + "&se=1",
      "sr=h&" + good_sig + "&se=1",
      "SharedAccessSignature " + good_sig + "&se=1",            // no sr
      "SharedAccessSignature sr=h&se=1",                        // no sig
      "SharedAccessSignature sr=h&" + good_sig,                 // no se
      "SharedAccessSignature sr=h&sr=h&" + good_sig + "&se=1",  // duplicate sr
      "SharedAccessSignature sr=h&" + good_sig + "&" + good_sig + "&se=1",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&se=1",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&skn=a&skn=a",
      "SharedAccessSignature sr=&" + good_sig + "&se=1",  // empty sr
      "SharedAccessSignature sr=h&sig=&se=1",
      "SharedAccessSignature sr=h&" + good_sig + "&se=",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&skn=&skn=",
      "SharedAccessSignature sr=h&" + good_sig + "&se=abc",
      "SharedAccessSignature sr=h&" + good_sig + "&se=-5",
      "SharedAccessSignature sr=h&" + good_sig + "&se=+5",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1.5",
      "SharedAccessSignature sr=h&" + good_sig + "&se=0123",
      "SharedAccessSignature sr=h&" + good_sig + "&se=99999999999999999999",
      "SharedAccessSignature sr=h&" + good_sig + "&se=9223372036854775808",
      "SharedAccessSignature sr=h%2&" + good_sig + "&se=1",  // broken escape
      "SharedAccessSignature sr=h%zz&" + good_sig + "&se=1",
      "SharedAccessSignature sr=h&sig=%&se=1",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&skn=%G0",
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&garbage",  // field without '='
      "SharedAccessSignature sr=h&" + good_sig + "&se=1&",         // empty field
      "SharedAccessSignature &&&",
  };
  for (const std::string& input : inputs) {
    Result<SasToken> token = ParseSasToken(input);
    ASSERT_FALSE(token) << "accepted: " << input;
    EXPECT_EQ(token.error().code(), StatusCode::kUnauthenticated) << input;
  }
}

TEST(SasTokenTest, AcceptsLargestExpiryAndCaseOfPrefix) {
  Result<SasToken> token =
      ParseSasToken("sharedaccesssignature  sr=h&sig=x&se=9223372036854775807");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->expiry, 9223372036854775807);
}

TEST(SasTokenTest, GenerateKeyIs32RandomBytes) {
  std::string a = GenerateKey();
  std::string b = GenerateKey();
  EXPECT_NE(a, b);
  ASSERT_TRUE(Base64Decode(a));
  EXPECT_EQ(Base64Decode(a)->size(), 32u);
}

TEST(ConnectionStringTest, ParsesDeviceStringWithPaddingIntact) {
  Result<ConnectionString> cs = ParseConnectionString(
      "HostName=myhub.example.com;DeviceId=dev-1;SharedAccessKey=" + std::string(kKey));
  ASSERT_TRUE(cs) << cs.error().ToString();
  EXPECT_EQ(cs->host_name, "myhub.example.com");
  EXPECT_EQ(cs->device_id, "dev-1");
  EXPECT_EQ(cs->shared_access_key, kKey);
  EXPECT_EQ(cs->shared_access_key.substr(cs->shared_access_key.size() - 1), "=");
  EXPECT_EQ(cs->shared_access_key_name, "");
}

TEST(ConnectionStringTest, ParsesDoublePaddingAndMixedCaseKeys) {
  // "AA==" (one zero byte): the double padding must survive the split at the first '='.
  Result<ConnectionString> cs = ParseConnectionString(
      "hostname=h;SHAREDACCESSKEYNAME=iothubowner;sharedAccessKey=AA==;"
      "GatewayHostName=edge;ModuleId=m;x509=true;");
  ASSERT_TRUE(cs) << cs.error().ToString();
  EXPECT_EQ(cs->host_name, "h");
  EXPECT_EQ(cs->shared_access_key_name, "iothubowner");
  EXPECT_EQ(cs->shared_access_key, "AA==");
  EXPECT_EQ(cs->gateway_host_name, "edge");
  EXPECT_EQ(cs->module_id, "m");
}

TEST(ConnectionStringTest, BuildersRoundTrip) {
  std::string device = DeviceConnectionString("h", "d1", kKey);
  EXPECT_EQ(device, "HostName=h;DeviceId=d1;SharedAccessKey=" + std::string(kKey));
  Result<ConnectionString> parsed = ParseConnectionString(device);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->device_id, "d1");
  EXPECT_EQ(parsed->shared_access_key, kKey);

  std::string service = ServiceConnectionString("h", "service", kKey);
  EXPECT_EQ(service, "HostName=h;SharedAccessKeyName=service;SharedAccessKey=" + std::string(kKey));
  parsed = ParseConnectionString(service);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->shared_access_key_name, "service");
}

TEST(ConnectionStringTest, RejectsMalformed) {
  const char* inputs[] = {
      "",
      ";;",
      "DeviceId=d;SharedAccessKey=AA==",  // no HostName
      "HostName=;DeviceId=d",             // empty HostName
      "HostName=h;DeviceId",              // piece without '='
      "HostName=h;HostName=g",            // duplicate
      "HostName=h;hostname=g",            // duplicate, other case
      "HostName=h;SharedAccessKey=not base64",
      "HostName=h;SharedAccessKey=AA=",
  };
  for (const char* input : inputs) {
    Result<ConnectionString> cs = ParseConnectionString(input);
    ASSERT_FALSE(cs) << "accepted: " << input;
    EXPECT_EQ(cs.error().code(), StatusCode::kInvalidArgument) << input;
  }
}

}  // namespace
}  // namespace iothub::core::auth
