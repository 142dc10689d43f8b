#include "http/c2d_resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/feedback_resource.h"
#include "http/resource_test_fixture.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;

// The C2D send and purge resources over a real Hub (MemoryStore, fake clock, manual shards),
// dispatched as the session does: the answer comes only once the device's shard has run.
class C2dResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    core::HubOptions options;
    options.c2d.max_queue_depth = 3;
    options.feedback.batch_size = 1;
    ASSERT_NO_FATAL_FAILURE(OpenHub(options));
    AddC2dRoutes(router_, *hub_);
    device_ = CreateDevice("d1");
  }

  // Dispatches without running the shards; the answer lands in `answer_`.
  void Start(std::string method, std::string_view target, std::string body = "",
             Headers headers = {}, std::optional<std::string> token = std::nullopt) {
    headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    ResourceTest::Start(
        MakeRequest(std::move(method), target, std::move(headers), std::move(body)));
  }
  Response Call(std::string method, std::string_view target, std::string body = "",
                Headers headers = {}, std::optional<std::string> token = std::nullopt) {
    headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    return Dispatch(MakeRequest(std::move(method), target, std::move(headers), std::move(body)));
  }
  Response Send(std::string body = "hello", Headers headers = {},
                std::optional<std::string> token = std::nullopt, std::string id = "d1") {
    return Call("POST", "/devices/" + id + "/messages/deviceBound?api-version=2021-04-12",
                std::move(body), std::move(headers), std::move(token));
  }

  core::C2dQueues& Queues() { return hub_->c2d(hub_->ShardOf("d1")); }

  core::Device device_;
};

TEST_F(C2dResourceTest, SendAnswers201OnlyOnceTheMessageIsDurable) {
  Start("POST", "/devices/d1/messages/deviceBound", "hello", {{"IoTHub-MessageId", "m1"}});
  EXPECT_FALSE(answer_.has_value()) << "answered before the device's shard ran";
  RunAll();
  ASSERT_TRUE(answer_.has_value());
  EXPECT_EQ(answer_->status, 201) << answer_->body;
  EXPECT_EQ(answer_->headers.at("Content-Type"), "application/json; charset=utf-8");
  json j = json::parse(answer_->body);
  EXPECT_EQ(j["deviceId"], "d1");
  EXPECT_EQ(j["messageId"], "m1");
  ASSERT_TRUE(j["sequenceNumber"].is_number_unsigned());
  auto locked = Queues().ReceiveAndLock("d1");
  ASSERT_TRUE(locked.has_value());
  EXPECT_EQ(locked->body, "hello");
  EXPECT_EQ(locked->sequence_number, j["sequenceNumber"].get<uint64_t>());
}

TEST_F(C2dResourceTest, HeadersBecomeMessageProperties) {
  Response r = Send("{\"on\":true}", {{"iothub-app-color", "red"},
                                      {"IoTHub-CorrelationId", "c1"},
                                      {"IoTHub-UserId", "ops"},
                                      {"IoTHub-Ack", "full"},
                                      {"Content-Type", "application/json"},
                                      {"Content-Encoding", "utf-8"},
                                      {"IoTHub-Expiry", FormatIso8601(clock_.Now() + hours(2))}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(json::parse(r.body)["messageId"].is_null());
  auto m = Queues().ReceiveAndLock("d1");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->body, "{\"on\":true}");
  ASSERT_NE(m->FindProperty("color"), nullptr);
  EXPECT_EQ(*m->FindProperty("color"), "red");
  EXPECT_EQ(m->correlation_id, "c1");
  EXPECT_EQ(m->user_id, "ops");
  EXPECT_EQ(m->ack, core::AckMode::kFull);
  EXPECT_EQ(m->content_type, "application/json");
  EXPECT_EQ(m->content_encoding, "utf-8");
  EXPECT_EQ(m->expiry, clock_.Now() + hours(2));
}

TEST_F(C2dResourceTest, TheHubAddressesTheMessage) {
  ASSERT_EQ(Send("x", {{"IoTHub-To", "/devices/other/messages/deviceBound"}}).status, 201);
  auto m = Queues().ReceiveAndLock("d1");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->to, "/devices/d1/messages/deviceBound");
}

TEST_F(C2dResourceTest, EmptyBodyIsAValidMessage) {
  ASSERT_EQ(Send("").status, 201);
  auto m = Queues().ReceiveAndLock("d1");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->body, "");
}

TEST_F(C2dResourceTest, PathMatchesCaseInsensitively) {
  EXPECT_EQ(Call("POST", "/devices/d1/messages/devicebound", "x").status, 201);
}

TEST_F(C2dResourceTest, UnknownDeviceIs404) {
  Response r = Send("x", {}, std::nullopt, "nobody");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceNotFound");
}

TEST_F(C2dResourceTest, FullQueueIs403DeviceMaximumQueueDepthExceeded) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Send().status, 201) << i;
  Response r = Send();
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceMaximumQueueDepthExceeded");
}

TEST_F(C2dResourceTest, OversizedBodyIs413) {
  Response r = Send(std::string(64 * 1024 + 1, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:MessageTooLarge");
  EXPECT_EQ(Queues().Depth("d1"), 0u);
}

TEST_F(C2dResourceTest, PropertiesCountTowardsTheSizeLimit) {
  Response r = Send(std::string(64 * 1024 - 4, 'x'), {{"iothub-app-key", "value"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:MessageTooLarge");
}

TEST_F(C2dResourceTest, BadAckHeaderIs400) {
  Response r = Send("x", {{"IoTHub-Ack", "sometimes"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:ArgumentInvalid");
  EXPECT_EQ(Queues().Depth("d1"), 0u);
}

TEST_F(C2dResourceTest, AnUnreadableExpiryIs400) {
  EXPECT_EQ(Send("x", {{"IoTHub-Expiry", "tomorrow"}}).status, 400);
  EXPECT_EQ(Queues().Depth("d1"), 0u);
}

// The 1 minute minimum is for the hub's default TTL only: a sender may set any expiry.
TEST_F(C2dResourceTest, AnExpiryUnderAMinuteIsAccepted) {
  EXPECT_EQ(Send("x", {{"IoTHub-Expiry", FormatIso8601(clock_.Now() + seconds(10))}}).status, 201);
  EXPECT_EQ(Queues().Depth("d1"), 1u);
}

TEST_F(C2dResourceTest, SendRefusesMissingDeviceAndWeakTokens) {
  Response no_token = Dispatch(MakeRequest("POST", "/devices/d1/messages/deviceBound"));
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(ErrorCode(no_token), "ErrorCode:IotHubUnauthorizedAccess");
  EXPECT_EQ(Send("x", {}, DeviceToken(device_)).status, 401);
  EXPECT_EQ(Send("x", {}, PolicyToken("registryRead")).status, 401);
  EXPECT_EQ(Send("x", {}, PolicyToken("registryReadWrite")).status, 401);
  EXPECT_EQ(Send("x", {}, "SharedAccessSignature sr=hub.example&sig=bad&se=1&skn=service").status,
            401);
  EXPECT_EQ(Queues().Depth("d1"), 0u);
  EXPECT_EQ(Send("x", {}, PolicyToken("iothubowner")).status, 201);
}

TEST_F(C2dResourceTest, PurgeAnswersTheCount) {
  ASSERT_EQ(Send().status, 201);
  ASSERT_EQ(Send().status, 201);
  Response r = Call("DELETE", "/devices/d1/commands?api-version=2021-04-12");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body),
            json({{"totalMessagesPurged", 2}, {"deviceId", "d1"}, {"moduleId", nullptr}}));
  EXPECT_EQ(Queues().Depth("d1"), 0u);
  r = Call("DELETE", "/devices/d1/commands");
  EXPECT_EQ(json::parse(r.body)["totalMessagesPurged"], 0);
}

TEST_F(C2dResourceTest, PurgeOfUnknownDeviceIs404) {
  Response r = Call("DELETE", "/devices/nobody/commands");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "ErrorCode:DeviceNotFound");
}

TEST_F(C2dResourceTest, PurgeRefusesWeakTokens) {
  ASSERT_EQ(Send().status, 201);
  EXPECT_EQ(Call("DELETE", "/devices/d1/commands", "", {}, DeviceToken(device_)).status, 401);
  EXPECT_EQ(Call("DELETE", "/devices/d1/commands", "", {}, PolicyToken("registryRead")).status,
            401);
  EXPECT_EQ(Queues().Depth("d1"), 1u);
}

TEST_F(C2dResourceTest, PurgeOfAFullAckMessageReachesFeedback) {
  AddFeedbackRoutes(router_, *hub_);
  ASSERT_EQ(Send("x", {{"IoTHub-MessageId", "m1"}, {"IoTHub-Ack", "full"}}).status, 201);
  ASSERT_EQ(Call("DELETE", "/devices/d1/commands").status, 200);
  hub_->ProcessTimers(0);
  RunAll();
  Response r = Call("GET", "/messages/serviceBound/feedback");
  ASSERT_EQ(r.status, 200) << r.body;
  json records = json::parse(r.body);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["originalMessageId"], "m1");
  EXPECT_EQ(records[0]["statusCode"], "Purged");
}

}  // namespace
}  // namespace iothub::http
