#include "http/device_resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/crypto.h"
#include "http/resource_test_fixture.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;

constexpr std::string_view kBatchType = "application/vnd.microsoft.iothub.json";

// The device transport over a real Hub (MemoryStore, fake clock, manual shards), driven through
// the router's asynchronous Dispatch as the session drives it.
class DeviceResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(OpenHub());
    AddDeviceRoutes(router_, *hub_);
    device_ = CreateDevice("d1");
    CreateDevice("d2");
  }

  // Dispatches asynchronously, runs the shards until quiet, and returns the one answer.
  Response Call(std::string method, std::string_view target, Headers headers = {},
                std::string body = "", std::optional<std::string> token = std::nullopt) {
    headers.emplace("Authorization", token.value_or(DeviceToken(device_)));
    return Dispatch(MakeRequest(std::move(method), target, std::move(headers), std::move(body)));
  }

  Response Send(std::string body, Headers headers = {}) {
    return Call("POST", "/devices/d1/messages/events?api-version=2021-04-12", std::move(headers),
                std::move(body));
  }
  Response Receive(Headers headers = {}) {
    return Call("GET", "/devices/d1/messages/devicebound?api-version=2021-04-12",
                std::move(headers));
  }
  Response Complete(const std::string& lock, std::string_view query = "") {
    return Call("DELETE", "/devices/d1/messages/devicebound/" + lock + "?api-version=2021-04-12" +
                              std::string(query));
  }
  Response Abandon(const std::string& lock) {
    return Call("POST",
                "/devices/d1/messages/devicebound/" + lock + "/abandon?api-version=2021-04-12");
  }

  // Enqueues a C2D message for d1 and waits until it is durable.
  void SendC2d(core::Message m) {
    std::optional<Result<uint64_t>> result;
    hub_->SendC2d("d1", std::move(m), blocking_,
                  [&](Result<uint64_t> r) { result = std::move(r); });
    RunAll();
    ASSERT_TRUE(result.has_value() && result->has_value());
  }

  // Every telemetry message of d1's partition.
  std::vector<core::Message> Telemetry() {
    auto read = hub_->telemetry().Read(hub_->telemetry().PartitionOf("d1"), 0, 100);
    EXPECT_TRUE(read.has_value());
    return read.value_or(std::vector<core::Message>{});
  }

  core::Device device_;
};

TEST_F(DeviceResourceTest, SendStoresBodyPropertiesAndStamps) {
  Response r = Send("{\"t\":21}", {{"iothub-to", "/devices/d1/messages/events"},
                                   {"iothub-app-unit", "C"},
                                   {"IoTHub-MessageId", "m-1"},
                                   {"IoTHub-CorrelationId", "c-1"},
                                   {"iothub-contenttype", "application/json"},
                                   {"iothub-contentencoding", "utf-8"}});
  ASSERT_EQ(r.status, 204) << r.body;
  auto stored = Telemetry();
  ASSERT_EQ(stored.size(), 1u);
  const core::Message& m = stored[0];
  EXPECT_EQ(m.body, "{\"t\":21}");
  EXPECT_EQ(m.properties, (std::vector<std::pair<std::string, std::string>>{{"unit", "C"}}));
  EXPECT_EQ(m.message_id, "m-1");
  EXPECT_EQ(m.correlation_id, "c-1");
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_EQ(m.content_encoding, "utf-8");
  EXPECT_EQ(m.to, "");  // the SDK's automatic iothub-to is addressing, not a property
  EXPECT_EQ(m.connection_device_id, "d1");
  EXPECT_EQ(m.connection_auth_generation_id, device_.generation_id);
  json auth = json::parse(m.connection_auth_method);
  EXPECT_EQ(auth["scope"], "device");
  EXPECT_EQ(auth["type"], "sas");
  EXPECT_EQ(auth["issuer"], "iothub");
  EXPECT_TRUE(auth["acceptingIpFilterRule"].is_null());
  EXPECT_EQ(hub_->registry().Get("d1")->last_activity_time, clock_.Now());
}

TEST_F(DeviceResourceTest, SendKeepsAToTheSenderSet) {
  ASSERT_EQ(Send("x", {{"IoTHub-To", "/elsewhere"}}).status, 204);
  EXPECT_EQ(Telemetry().at(0).to, "/elsewhere");
}

TEST_F(DeviceResourceTest, TheTransfersContentTypeIsNotTheMessages) {
  // The C SDK's HTTP transport sends application/octet-stream; IoT Hub reads iothub-contenttype.
  ASSERT_EQ(Send("x", {{"Content-Type", "application/octet-stream"}}).status, 204);
  EXPECT_EQ(Telemetry().at(0).content_type, "");
}

TEST_F(DeviceResourceTest, SendAcceptsAnEmptyBody) {
  ASSERT_EQ(Send("").status, 204);
  EXPECT_EQ(Telemetry().at(0).body, "");
}

TEST_F(DeviceResourceTest, BatchAsTheNodeSdkSendsIt) {
  // azure-iot-device-http sendEventBatch: base64 bodies, "iothub-app-" keys, dt-subject bare.
  std::string body = "[{\"body\": \"" + Base64Encode("one") +
                     "\", \"properties\":{\"iothub-app-k\":\"v1\",\"dt-subject\":\"s\"}},"
                     "{\"body\": \"" +
                     Base64Encode("two") + "\"}]";
  Response r = Send(body, {{"Content-Type", std::string(kBatchType)}});
  ASSERT_EQ(r.status, 204) << r.body;
  auto stored = Telemetry();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0].body, "one");
  ASSERT_NE(stored[0].FindProperty("k"), nullptr);
  EXPECT_EQ(*stored[0].FindProperty("k"), "v1");
  ASSERT_NE(stored[0].FindProperty("dt-subject"), nullptr);
  EXPECT_EQ(stored[1].body, "two");
  EXPECT_TRUE(stored[1].properties.empty());
  EXPECT_EQ(stored[1].connection_auth_generation_id, device_.generation_id);
  EXPECT_EQ(stored[0].content_type, "");  // the batch's own Content-Type is not the messages'
}

TEST_F(DeviceResourceTest, BatchWithSystemPropertiesAndPlainBodies) {
  json batch = json::array({{{"body", "plain text"},
                             {"base64Encoded", false},
                             {"properties",
                              {{"iothub-messageid", "m-7"},
                               {"iothub-contenttype", "text/plain"},
                               {"iothub-app-n", 5}}}}});
  Response r = Send(batch.dump(), {{"Content-Type",
                                    "application/vnd.microsoft.iothub.json; "
                                    "charset=utf-8"}});
  ASSERT_EQ(r.status, 204) << r.body;
  auto stored = Telemetry();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "plain text");
  EXPECT_EQ(stored[0].message_id, "m-7");
  EXPECT_EQ(stored[0].content_type, "text/plain");
  EXPECT_EQ(*stored[0].FindProperty("n"), "5");
}

TEST_F(DeviceResourceTest, BrokenBatchesAre400) {
  for (std::string bad :
       {std::string("not json"), std::string("{}"), std::string("[]"), std::string("[1]"),
        std::string("[{\"body\":\"%%%\"}]"), std::string("[{\"body\":5}]"),
        std::string("[{\"properties\":[]}]"), std::string("[{\"properties\":{\"k\":{}}}]"),
        std::string("[{\"properties\":{\"iothub-ack\":\"maybe\"}}]")}) {
    Response r = Send(bad, {{"Content-Type", std::string(kBatchType)}});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid") << bad;
  }
  EXPECT_TRUE(Telemetry().empty());
}

TEST_F(DeviceResourceTest, BadHeaderIs400) {
  Response r = Send("x", {{"IoTHub-Expiry", "soon"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("IoTHub-Expiry"), std::string::npos) << r.body;
}

TEST_F(DeviceResourceTest, OversizeMessageAndBatchAre413) {
  std::string big(hub_->telemetry().options().max_message_size + 1, 'x');
  Response single = Send(big);
  EXPECT_EQ(single.status, 413);
  EXPECT_EQ(ErrorCode(single), "ErrorCode:MessageTooLarge");

  std::string half =
      Base64Encode(std::string(hub_->telemetry().options().max_message_size / 2 + 1, 'y'));
  Response batch = Send("[{\"body\":\"" + half + "\"},{\"body\":\"" + half + "\"}]",
                        {{"Content-Type", std::string(kBatchType)}});
  EXPECT_EQ(batch.status, 413);
  EXPECT_TRUE(Telemetry().empty());
}

TEST_F(DeviceResourceTest, ReceiveEmptyQueueIs204) {
  Response r = Receive();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers.count("ETag"), 0u);
}

TEST_F(DeviceResourceTest, ReceiveAnswersBodyHeadersAndQuotedLock) {
  core::Message m;
  m.body = "hello";
  m.message_id = "m-1";
  m.correlation_id = "c-1";
  m.ack = core::AckMode::kFull;
  m.properties = {{"color", "blue"}};
  SendC2d(m);

  Response r = Receive();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.headers.at("iothub-messageid"), "m-1");
  EXPECT_EQ(r.headers.at("iothub-correlationid"), "c-1");
  EXPECT_EQ(r.headers.at("iothub-to"), "/devices/d1/messages/deviceBound");
  EXPECT_EQ(r.headers.at("iothub-ack"), "full");
  EXPECT_EQ(r.headers.at("iothub-deliverycount"), "0");
  EXPECT_FALSE(r.headers.at("iothub-sequencenumber").empty());
  EXPECT_FALSE(r.headers.at("iothub-enqueuedtime").empty());
  EXPECT_EQ(r.headers.at("iothub-app-color"), "blue");
  EXPECT_FALSE(Lock(r).empty());
  // Locked: a second receive sees nothing.
  EXPECT_EQ(Receive().status, 204);
}

TEST_F(DeviceResourceTest, ReceiveForwardsOnlyWhatTheSenderSet) {
  core::Message m;
  m.body = "";
  SendC2d(m);
  Response r = Receive();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers.count("iothub-ack"), 0u);
  EXPECT_EQ(r.headers.count("iothub-messageid"), 0u);
  for (const auto& [name, value] : r.headers) {
    EXPECT_FALSE(name.starts_with("iothub-app-")) << name;
  }
}

TEST_F(DeviceResourceTest, CompleteRemovesTheMessage) {
  SendC2d(core::Message{.body = "a"});
  std::string lock = Lock(Receive());
  EXPECT_EQ(Complete(lock).status, 204);
  clock_.Advance(hours(1));
  hub_->ProcessTimers(hub_->ShardOf("d1"));
  RunAll();
  EXPECT_EQ(Receive().status, 204);
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("d1")).Depth("d1"), 0u);
}

TEST_F(DeviceResourceTest, CompleteAcceptsAQuotedLock) {
  SendC2d(core::Message{.body = "a"});
  std::string lock = Lock(Receive());
  EXPECT_EQ(Complete("%22" + lock + "%22").status, 204);
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("d1")).Depth("d1"), 0u);
}

TEST_F(DeviceResourceTest, RejectDeadLettersTheMessage) {
  SendC2d(core::Message{.body = "a"});
  std::string lock = Lock(Receive());
  EXPECT_EQ(Complete(lock, "&reject").status, 204);
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("d1")).Depth("d1"), 0u);
  EXPECT_EQ(Receive().status, 204);
}

TEST_F(DeviceResourceTest, AbandonRedeliversWithHigherDeliveryCount) {
  SendC2d(core::Message{.body = "a"});
  Response first = Receive();
  EXPECT_EQ(Abandon(Lock(first)).status, 204);
  Response second = Receive();
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "a");
  EXPECT_EQ(second.headers.at("iothub-deliverycount"), "1");
  EXPECT_NE(Lock(second), Lock(first));
}

TEST_F(DeviceResourceTest, StaleOrUnknownLockIs412) {
  SendC2d(core::Message{.body = "a"});
  std::string lock = Lock(Receive());
  ASSERT_EQ(Complete(lock).status, 204);
  for (Response r : {Complete(lock), Complete(lock, "&reject"), Abandon(lock),
                     Complete("00000000-0000-0000-0000-000000000000")}) {
    EXPECT_EQ(r.status, 412);
    EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceMessageLockLost");
  }
}

TEST_F(DeviceResourceTest, DefaultLockLastsTheQueuesLockTimeout) {
  SendC2d(core::Message{.body = "a"});
  ASSERT_EQ(Receive().status, 200);
  clock_.Advance(seconds(59));
  EXPECT_EQ(Receive().status, 204);
  clock_.Advance(seconds(2));
  EXPECT_EQ(Receive().status, 200);
}

TEST_F(DeviceResourceTest, LockTimeoutHeaderSetsTheLock) {
  SendC2d(core::Message{.body = "a"});
  ASSERT_EQ(Receive({{"IotHub-MessageLockTimeout", "10"}}).status, 200);
  clock_.Advance(seconds(9));
  EXPECT_EQ(Receive().status, 204);
  clock_.Advance(seconds(2));
  Response again = Receive({{"IotHub-MessageLockTimeout", "1"}});  // clamped up to 5 s
  ASSERT_EQ(again.status, 200);
  clock_.Advance(seconds(4));
  EXPECT_EQ(Receive().status, 204);
  clock_.Advance(seconds(2));
  Response third = Receive({{"iothub-messagelocktimeout", "100000"}});  // clamped down to 300 s
  ASSERT_EQ(third.status, 200);
  clock_.Advance(seconds(299));
  EXPECT_EQ(Receive().status, 204);
  clock_.Advance(seconds(2));
  EXPECT_EQ(Receive().status, 200);
}

TEST_F(DeviceResourceTest, MalformedLockTimeoutIs400) {
  SendC2d(core::Message{.body = "a"});
  for (std::string bad : {"ten", "", "5s", "-"}) {
    Response r = Receive({{"IotHub-MessageLockTimeout", bad}});
    EXPECT_EQ(r.status, 400) << bad;
  }
  EXPECT_EQ(Receive().status, 200);  // nothing was locked by the refused requests
}

TEST_F(DeviceResourceTest, ATokenMayChangeBetweenRequests) {
  EXPECT_EQ(Call("POST", "/devices/d1/messages/events", {}, "a", DeviceToken(device_)).status, 204);
  EXPECT_EQ(Call("POST", "/devices/d1/messages/events", {}, "b",
                 DeviceToken(device_.id, device_.secondary_key))
                .status,
            204);
  EXPECT_EQ(Telemetry().size(), 2u);
}

TEST_F(DeviceResourceTest, PolicyWithDeviceConnectMayActForADevice) {
  Response r = Call("POST", "/devices/d1/messages/events", {}, "a", PolicyToken("device"));
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(json::parse(Telemetry().at(0).connection_auth_method)["scope"], "hub");
  EXPECT_EQ(Call("GET", "/devices/d1/messages/devicebound", {}, "", PolicyToken("device")).status,
            204);
}

TEST_F(DeviceResourceTest, EveryRouteRefusesAnotherDevicesToken) {
  SendC2d(core::Message{.body = "a"});
  std::string lock = Lock(Receive());
  std::string other = DeviceToken(*hub_->registry().Get("d2"));
  std::vector<Response> answers = {
      Call("POST", "/devices/d1/messages/events", {}, "x", other),
      Call("GET", "/devices/d1/messages/devicebound", {}, "", other),
      Call("DELETE", "/devices/d1/messages/devicebound/" + lock, {}, "", other),
      Call("DELETE", "/devices/d1/messages/devicebound/" + lock + "?reject", {}, "", other),
      Call("POST", "/devices/d1/messages/devicebound/" + lock + "/abandon", {}, "", other)};
  for (const Response& r : answers) {
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(ErrorCode(r), "ErrorCode:IotHubUnauthorizedAccess");
  }
  EXPECT_TRUE(Telemetry().empty());
  EXPECT_EQ(hub_->c2d(hub_->ShardOf("d1")).Depth("d1"), 1u);
}

TEST_F(DeviceResourceTest, BadTokensAre401) {
  core::Device forged = device_;
  forged.primary_key = Base64Encode("not the key");
  for (std::string token : {std::string(""), std::string("SharedAccessSignature garbage"),
                            DeviceToken(forged), DeviceToken(device_, seconds(-1)),
                            PolicyToken("service"), PolicyToken("registryReadWrite")}) {
    Response r = Call("POST", "/devices/d1/messages/events", {}, "x", token);
    EXPECT_EQ(r.status, 401) << token;
  }
  EXPECT_TRUE(Telemetry().empty());
}

TEST_F(DeviceResourceTest, MissingAuthorizationIs401) {
  Response r = Dispatch(MakeRequest("GET", "/devices/d1/messages/devicebound"));
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(r.status, 401);
}

TEST_F(DeviceResourceTest, DisabledDeviceIs401) {
  core::Device off = CreateDevice("off", core::DeviceStatus::kDisabled);
  Response r = Call("POST", "/devices/off/messages/events", {}, "x", DeviceToken(off));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Call("GET", "/devices/off/messages/devicebound", {}, "", PolicyToken("device")).status,
            401);
}

}  // namespace
}  // namespace iothub::http
