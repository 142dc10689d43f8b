// Cross-checks core/auth's SAS tokens and connection strings against the official Azure IoT Node
// SDKs (azure-iot-common, azure-iot-device, azure-iothub, pinned in package.json and installed by
// scripts/setup-node). sas_token_check.js runs the SDKs' own token code; this file feeds its output
// to ParseSasToken / VerifySasSignature / Authenticator / ParseConnectionString, and ours back to
// the SDKs' parsers. Known, harmless differences (each pinned by a test below, so a change in
// either implementation shows up):
// - encodeUriComponentStrict writes '*' as "%2a" (lower-case hex); our UrlEncode writes "%2A".
//   Tokens for device ids with '*' therefore differ in sr and sig; both sides accept the other's,
//   since the signature covers sr exactly as sent.
// - The SDK's toString orders fields sr, sig, skn, se; ours sr, sig, se, skn (order is free).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/strings.h"
#include "core/auth/authenticator.h"
#include "core/auth/policy.h"
#include "core/auth/sas_token.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/temp_dir.h"

#ifndef IOTHUB_COMPAT_DIR
#error "IOTHUB_COMPAT_DIR (the tests/compat folder) must be defined by CMake"
#endif

namespace iothub::core::auth {
namespace {

using nlohmann::json;

constexpr char kHost[] = "hub.example";
constexpr char kVectorKey[] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";  // 32 bytes, one '='
constexpr char kPlusSlashKey[] = "++//++//++//++//++//++//++//++//++//++///v8=";  // 32 bytes
constexpr char kShortKey[] = "+Pn6+/z9/v/7/78+P/zvvg==";  // 16 bytes, "==" padding
constexpr int64_t kNowMs = 1'700'000'000'123;  // a fractional second: the SDKs round differently

// Every character PROTOCOL.md allows in a device id besides letters and digits, one per id, plus
// upper case (ids are case-sensitive) and all of them at once.
constexpr const char* kDeviceIds[] = {
    "dev-1", "Dev.1", "pct%41",   "under_score", "star*",
    "ask?",  "bang!", "paren(x)", "a,b",         "c:d",
    "e=f",   "g@h",   "dollar$",  "it's",        "-.%_*?!(),:=@$'Az09"};
constexpr const char* kKeys[] = {kVectorKey, kPlusSlashKey, kShortKey};

std::filesystem::path CompatDir() { return IOTHUB_COMPAT_DIR; }

// Why the SDK cannot run here, or "" when it can.
std::string SdkProblem() {
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "`node` is not on PATH";
  for (const char* pkg : {"azure-iot-common", "azure-iot-device", "azure-iothub"}) {
    if (!std::filesystem::exists(CompatDir() / "node_modules" / pkg / "package.json")) {
      return (CompatDir() / "node_modules" / pkg).string() + " is missing";
    }
  }
  return "";
}

// Runs sas_token_check.js on `requests`; one result object per request.
void RunSdk(const json& requests, json* results) {
  testing::TempDir dir;
  std::filesystem::path request_file = dir.path() / "requests.json";
  std::ofstream(request_file) << requests.dump();
  std::string command = "node '" + (CompatDir() / "sas_token_check.js").string() + "' '" +
                        request_file.string() + "'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << command;
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = pclose(pipe);
  ASSERT_EQ(status, 0) << command << " failed; stdout: " << out;
  *results = json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(results->is_array()) << out;
  ASSERT_EQ(results->size(), requests.size()) << out;
  for (size_t i = 0; i < results->size(); ++i) {
    ASSERT_TRUE((*results)[i].value("ok", false))
        << "SDK failed on " << requests[i].dump() << ": " << (*results)[i].dump();
  }
}

// The SDK's service-token field order (sr, sig, skn, se) rewritten to ours (sr, sig, se, skn).
std::string InOurFieldOrder(const std::string& sdk_token) {
  std::string prefix = "SharedAccessSignature ";
  std::map<std::string, std::string> fields;
  for (std::string_view f : Split(std::string_view(sdk_token).substr(prefix.size()), '&')) {
    size_t eq = f.find('=');
    fields[std::string(f.substr(0, eq))] = std::string(f.substr(eq + 1));
  }
  std::string out = prefix + "sr=" + fields["sr"] + "&sig=" + fields["sig"] + "&se=" + fields["se"];
  if (fields.count("skn")) out += "&skn=" + fields["skn"];
  return out;
}

class SasCompatTest : public ::testing::Test {
 protected:
  SasCompatTest()
      : policies_(store_), auth_(kHost, policies_, clock_, [this](std::string_view id) {
          auto it = devices_.find(std::string(id));
          return it == devices_.end() ? std::nullopt : std::optional(it->second);
        }) {}

  void SetUp() override {
    std::string problem = SdkProblem();
    ASSERT_EQ(problem, "") << "The official Azure IoT Node SDKs are needed for this test: run "
                              "scripts/setup-node (it installs node and npm-ci's tests/compat).";
    storage::WriteBatch batch;
    for (const SharedAccessPolicy& p : std::vector<SharedAccessPolicy>{
             {"iothubowner", kVectorKey, kShortKey,
              kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect},
             {"service", kPlusSlashKey, kVectorKey, kServiceConnect},
             {"device", kShortKey, kPlusSlashKey, kDeviceConnect}}) {
      batch.Put(kPoliciesTable, p.name, EncodePolicy(p));
    }
    ASSERT_TRUE(store_.CommitAndWait(std::move(batch), storage::Durability::kSync));
    ASSERT_TRUE(policies_.LoadOrCreateDefaults().ok());
    clock_.Set(FromUnixMillis(kNowMs));
  }

  Principal MustAuthenticate(const std::string& token) {
    Result<Principal> p = auth_.Authenticate(token);
    EXPECT_TRUE(p) << p.error().ToString() << " for " << token;
    return p ? *p : Principal{};
  }

  storage::MemoryStore store_;
  FakeClock clock_;
  std::map<std::string, DeviceCredentials> devices_;
  PolicyStore policies_;
  Authenticator auth_;
};

TEST_F(SasCompatTest, DeviceClientTokensAuthenticateAndMatchOurs) {
  json requests = json::array();
  for (const char* id : kDeviceIds) {
    for (const char* key : kKeys) {
      requests.push_back({{"op", "device_token"},
                          {"host", kHost},
                          {"device_id", id},
                          {"key", key},
                          {"now_ms", kNowMs}});
    }
  }
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(requests, &results));
  json verify = json::array();
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string id = requests[i]["device_id"], key = requests[i]["key"];
    std::string sdk = results[i]["token"];
    int64_t se = results[i]["se"];
    SCOPED_TRACE(id + " / " + key + ": " + sdk);
    // The device client's expiry: floor(now in seconds) + 3600.
    EXPECT_EQ(se, kNowMs / 1000 + 3600);
    devices_[id] = {key, "", true};
    Principal p = MustAuthenticate(sdk);
    EXPECT_EQ(p.kind, Principal::Kind::kDevice);
    EXPECT_EQ(p.device_id, id);
    EXPECT_EQ(ToUnixMillis(p.expiry), se * 1000);
    EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, id).ok());
    Result<SasToken> parsed = ParseSasToken(sdk);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->resource, std::string(kHost) + "/devices/" + id);
    EXPECT_TRUE(VerifySasSignature(*parsed, key));
    EXPECT_FALSE(VerifySasSignature(*parsed, kKeys[(i + 1) % std::size(kKeys)]));

    std::string ours = CreateSasToken(parsed->resource, key, FromUnixMillis(se * 1000));
    if (id.find('*') == std::string::npos) {
      EXPECT_EQ(ours, sdk);  // byte for byte
    } else {
      EXPECT_NE(ours, sdk);  // "%2A" vs "%2a": see the file comment
      Result<SasToken> our_parsed = ParseSasToken(ours);
      ASSERT_TRUE(our_parsed);
      EXPECT_TRUE(EqualsIgnoreCase(our_parsed->sr_raw, parsed->sr_raw));
      EXPECT_EQ(our_parsed->resource, parsed->resource);
    }
    verify.push_back({{"op", "verify"}, {"kind", "device"}, {"token", ours}, {"key", key}});
  }
  json verified;
  ASSERT_NO_FATAL_FAILURE(RunSdk(verify, &verified));
  for (size_t i = 0; i < verify.size(); ++i) {
    SCOPED_TRACE(verify[i].dump());
    EXPECT_TRUE(verified[i]["signature_ok"].get<bool>());
    EXPECT_TRUE(verified[i]["skn"].is_null());
  }
}

TEST_F(SasCompatTest, ExplicitExpiriesMatchByteForByteAndExpire) {
  const std::vector<int64_t> expiries = {1, 1'700'003'600, 4'102'444'800, 253'402'300'799};
  json requests = json::array();
  for (int64_t se : expiries) {
    for (const std::string& id : {std::string("dev-1"), std::string("Dev.1")}) {
      requests.push_back({{"op", "device_token_at"},
                          {"host", kHost},
                          {"device_id", id},
                          {"key", kPlusSlashKey},
                          {"expiry", se}});
    }
  }
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(requests, &results));
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string id = requests[i]["device_id"], sdk = results[i]["token"];
    int64_t se = requests[i]["expiry"];
    SCOPED_TRACE(sdk);
    EXPECT_EQ(CreateSasToken(std::string(kHost) + "/devices/" + id, kPlusSlashKey,
                             FromUnixMillis(se * 1000)),
              sdk);
    devices_[id] = {kShortKey, kPlusSlashKey, true};  // the secondary key signed it
    clock_.Set(FromUnixMillis(se * 1000 - 1));
    EXPECT_EQ(MustAuthenticate(sdk).device_id, id);
    clock_.Set(FromUnixMillis(se * 1000));  // se <= now: expired
    EXPECT_EQ(auth_.Authenticate(sdk).error().code(), StatusCode::kUnauthenticated);
  }
}

TEST_F(SasCompatTest, ServiceClientTokensAuthenticateAndMatchOursUpToFieldOrder) {
  const std::map<std::string, std::string> keys = {{"iothubowner", kVectorKey},
                                                   {"service", kPlusSlashKey}};
  json requests = json::array();
  for (const auto& [policy, key] : keys) {
    requests.push_back({{"op", "service_token"},
                        {"host", kHost},
                        {"policy", policy},
                        {"key", key},
                        {"now_ms", kNowMs}});
    requests.push_back({{"op", "service_token_at"},
                        {"host", kHost},
                        {"policy", policy},
                        {"key", key},
                        {"expiry", 4'102'444'800}});
  }
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(requests, &results));
  json verify = json::array();
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string policy = requests[i]["policy"], key = requests[i]["key"];
    std::string sdk = results[i]["token"];
    SCOPED_TRACE(sdk);
    Result<SasToken> parsed = ParseSasToken(sdk);
    ASSERT_TRUE(parsed);
    if (requests[i]["op"] == "service_token") {
      // The service client's expiry: ceil(now in seconds + 3600), one more than a device's here.
      EXPECT_EQ(parsed->expiry, kNowMs / 1000 + 3601);
    }
    Principal p = MustAuthenticate(sdk);
    EXPECT_EQ(p.kind, Principal::Kind::kPolicy);
    EXPECT_EQ(p.policy_name, policy);
    EXPECT_EQ(p.scope, kHost);
    EXPECT_EQ(p.rights, policies_.Find(policy)->rights);
    std::string ours = CreateSasToken(kHost, key, FromUnixMillis(parsed->expiry * 1000), policy);
    EXPECT_NE(ours, sdk);  // field order: see the file comment
    EXPECT_EQ(ours, InOurFieldOrder(sdk));
    verify.push_back({{"op", "verify"}, {"kind", "service"}, {"token", ours}, {"key", key}});
  }
  json verified;
  ASSERT_NO_FATAL_FAILURE(RunSdk(verify, &verified));
  for (size_t i = 0; i < verify.size(); ++i) {
    SCOPED_TRACE(verify[i].dump());
    EXPECT_TRUE(verified[i]["signature_ok"].get<bool>());
    EXPECT_EQ(verified[i]["skn"], requests[i]["policy"]);
    EXPECT_EQ(verified[i]["sr"], kHost);
  }
}

TEST_F(SasCompatTest, DeviceClientWithPolicyKeyConnectionStringSignsWithSkn) {
  // A device connection string carrying SharedAccessKeyName=device makes the device client sign
  // device-scoped tokens with the policy key and skn=device (PROTOCOL.md).
  json requests = json::array();
  for (const std::string& id : {std::string("dev-1"), std::string("-.%_*?!(),:=@$'Az09")}) {
    requests.push_back({{"op", "device_token"},
                        {"host", kHost},
                        {"device_id", id},
                        {"key", kShortKey},
                        {"key_name", "device"},
                        {"now_ms", kNowMs}});
  }
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(requests, &results));
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string id = requests[i]["device_id"], sdk = results[i]["token"];
    SCOPED_TRACE(sdk);
    devices_[id] = {kVectorKey, "", true};  // its own key is not the one that signed
    Principal p = MustAuthenticate(sdk);
    EXPECT_EQ(p.kind, Principal::Kind::kPolicy);
    EXPECT_EQ(p.policy_name, "device");
    EXPECT_EQ(p.device_id, id);
    EXPECT_TRUE(auth_.AuthorizeDeviceConnect(p, id).ok());
    if (id.find('*') == std::string::npos) {
      EXPECT_EQ(CreateSasToken(std::string(kHost) + "/devices/" + id, kShortKey,
                               FromUnixMillis((kNowMs / 1000 + 3600) * 1000), "device"),
                InOurFieldOrder(sdk));
    }
  }
}

TEST_F(SasCompatTest, StarIsTheOnlyEncodingDifference) {
  std::string all = "-.%_*?!(),:=@$'/ +&;#~AZaz09";
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(json::array({{{"op", "encode"}, {"s", all}}}), &results));
  std::string sdk = results[0]["encoded"], ours = UrlEncode(all);
  EXPECT_NE(ours, sdk);
  size_t star = ours.find("%2A");
  ASSERT_NE(star, std::string::npos);
  ours.replace(star, 3, "%2a");
  EXPECT_EQ(ours, sdk);
}

TEST_F(SasCompatTest, ConnectionStringsRoundTripBothWays) {
  json requests = json::array();
  for (const char* id : kDeviceIds) {
    requests.push_back({{"op", "device_token"},
                        {"host", kHost},
                        {"device_id", id},
                        {"key", kPlusSlashKey},
                        {"now_ms", kNowMs}});
    requests.push_back({{"op", "parse_cs"},
                        {"kind", "device"},
                        {"cs", DeviceConnectionString(kHost, id, kPlusSlashKey)}});
  }
  for (const char* key : kKeys) {
    requests.push_back({{"op", "parse_cs"},
                        {"kind", "service"},
                        {"cs", ServiceConnectionString(kHost, "iothubowner", key)}});
  }
  json results;
  ASSERT_NO_FATAL_FAILURE(RunSdk(requests, &results));
  for (size_t i = 0; i < requests.size(); ++i) {
    const json& req = requests[i];
    const json& res = results[i];
    SCOPED_TRACE(req.dump() + " -> " + res.dump());
    if (req["op"] == "device_token") {  // the SDK's createWithSharedAccessKey, parsed by us
      std::string sdk_cs = res["connection_string"];
      EXPECT_EQ(sdk_cs,
                DeviceConnectionString(kHost, req["device_id"].get<std::string>(), kPlusSlashKey));
      Result<ConnectionString> cs = ParseConnectionString(sdk_cs);
      ASSERT_TRUE(cs);
      EXPECT_EQ(cs->host_name, kHost);
      EXPECT_EQ(cs->device_id, req["device_id"]);
      EXPECT_EQ(cs->shared_access_key, kPlusSlashKey);
      EXPECT_EQ(cs->shared_access_key_name, "");
    } else if (req["kind"] == "device") {  // ours, parsed by azure-iot-device
      Result<ConnectionString> cs = ParseConnectionString(req["cs"].get<std::string>());
      ASSERT_TRUE(cs);
      EXPECT_EQ(res["fields"], json({{"HostName", kHost},
                                     {"DeviceId", cs->device_id},
                                     {"SharedAccessKey", kPlusSlashKey}}));
    } else {  // ours, parsed by azure-iothub
      Result<ConnectionString> cs = ParseConnectionString(req["cs"].get<std::string>());
      ASSERT_TRUE(cs);
      EXPECT_EQ(res["fields"], json({{"HostName", kHost},
                                     {"SharedAccessKeyName", "iothubowner"},
                                     {"SharedAccessKey", cs->shared_access_key}}));
    }
  }
}

}  // namespace
}  // namespace iothub::core::auth
