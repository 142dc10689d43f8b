#include "http/c2d_resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/auth/sas_token.h"
#include "http/feedback_resource.h"
#include "storage/memory/memory_store.h"
#include "tests/testing/manual_executor.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kHost = "hub.example";

// The C2D send and purge resources over a real Hub (MemoryStore, fake clock, manual shards),
// dispatched as the session does: the answer comes only once the device's shard has run.
class C2dResourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::HubOptions options;
    options.host_name = kHost;
    options.c2d.max_queue_depth = 3;
    options.feedback.batch_size = 1;
    hub_ = std::make_unique<core::Hub>(options, store_, clock_,
                                       std::vector<Executor*>{&shard0_, &shard1_});
    ASSERT_TRUE(hub_->Open().ok());
    AddC2dRoutes(router_, *hub_);
    core::Device d;
    d.id = "d1";
    auto created = hub_->registry().Create(d);
    ASSERT_TRUE(created.has_value());
    device_key_ = created->primary_key;
  }

  std::string PolicyToken(const std::string& policy) {
    auto p = hub_->policies().Find(policy);
    EXPECT_TRUE(p.has_value()) << policy;
    return core::auth::CreateSasToken(kHost, p->primary_key, clock_.Now() + hours(1), policy);
  }
  std::string DeviceToken() {
    return core::auth::CreateSasToken(std::string(kHost) + "/devices/d1", device_key_,
                                      clock_.Now() + hours(1));
  }

  // Dispatches without running the shards; the answer lands in `answer_`.
  void Start(std::string method, std::string_view target, std::string body = "",
             Headers headers = {}, std::optional<std::string> token = std::nullopt) {
    auto r = std::make_shared<Request>();
    r->method = std::move(method);
    EXPECT_TRUE(ParseTarget(target, r.get()).ok());
    r->headers = std::move(headers);
    r->headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    r->body = std::move(body);
    answer_.reset();
    router_.Dispatch(
        r, [this](Response response) { answer_ = std::move(response); }, &blocking_);
  }
  Response Call(std::string method, std::string_view target, std::string body = "",
                Headers headers = {}, std::optional<std::string> token = std::nullopt) {
    Start(std::move(method), target, std::move(body), std::move(headers), std::move(token));
    RunAll();
    EXPECT_TRUE(answer_.has_value()) << "no answer";
    return answer_.value_or(Response{.status = 0, .headers = {}, .body = {}, .stream = {}});
  }
  Response Send(std::string body = "hello", Headers headers = {},
                std::optional<std::string> token = std::nullopt, std::string id = "d1") {
    return Call("POST", "/devices/" + id + "/messages/deviceBound?api-version=2021-04-12",
                std::move(body), std::move(headers), std::move(token));
  }

  void RunAll() {
    while (shard0_.RunAll() + shard1_.RunAll() + blocking_.RunAll() > 0) {
    }
  }

  core::C2dQueues& Queues() { return hub_->c2d(hub_->ShardOf("d1")); }

  static std::string ErrorCode(const Response& r) {
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("Message")) return "<no Azure body>";
    std::string message = body["Message"];
    return message.substr(0, message.find(';'));
  }

  FakeClock clock_;
  storage::MemoryStore store_;
  testing::ManualExecutor shard0_, shard1_, blocking_;
  std::unique_ptr<core::Hub> hub_;
  Router router_;
  std::string device_key_;
  std::optional<Response> answer_;
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

TEST_F(C2dResourceTest, BadOrOutOfRangeExpiryIs400) {
  EXPECT_EQ(Send("x", {{"IoTHub-Expiry", "tomorrow"}}).status, 400);
  // Below the 1 minute minimum TTL.
  EXPECT_EQ(Send("x", {{"IoTHub-Expiry", FormatIso8601(clock_.Now() + seconds(10))}}).status, 400);
  EXPECT_EQ(Queues().Depth("d1"), 0u);
}

TEST_F(C2dResourceTest, SendRefusesMissingDeviceAndWeakTokens) {
  Request r;
  r.method = "POST";
  ASSERT_TRUE(ParseTarget("/devices/d1/messages/deviceBound", &r).ok());
  Response no_token = router_.Dispatch(r);
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(ErrorCode(no_token), "ErrorCode:IotHubUnauthorizedAccess");
  EXPECT_EQ(Send("x", {}, DeviceToken()).status, 401);
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
  EXPECT_EQ(Call("DELETE", "/devices/d1/commands", "", {}, DeviceToken()).status, 401);
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
