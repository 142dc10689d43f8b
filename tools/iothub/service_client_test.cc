#include "tools/iothub/service_client.h"

#include <gtest/gtest.h>

#include "core/auth/sas_token.h"
#include "tools/iothub/cli_status.h"
#include "tools/iothub/fake_transport.h"

namespace iothub::cli {
namespace {

using namespace std::chrono_literals;

class ServiceClientTest : public ::testing::Test {
 protected:
  ServiceClientTest()
      : client_(transport_,
                {.host_name = kTestHost,
                 .shared_access_key_name = "iothubowner",
                 .shared_access_key = kTestKey},
                clock_) {}

  const HttpRequest& Only() {
    EXPECT_EQ(transport_.requests.size(), 1u);
    return transport_.requests.back();
  }

  FakeClock clock_;
  FakeTransport transport_;
  ServiceClient client_;
};

TEST_F(ServiceClientTest, RequestsCarryAOneHourPolicyTokenAndTheApiVersion) {
  transport_.replies.push_back(Reply(200, R"({"deviceId":"d1"})"));
  ASSERT_TRUE(client_.GetDevice("d1").has_value());
  const HttpRequest& request = Only();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/devices/d1?api-version=2021-04-12");
  EXPECT_EQ(HeaderOf(request, "Accept"), "application/json");
  auto token = core::auth::ParseSasToken(HeaderOf(request, "Authorization"));
  ASSERT_TRUE(token.has_value()) << HeaderOf(request, "Authorization");
  EXPECT_EQ(token->resource, kTestHost);
  EXPECT_EQ(token->key_name, "iothubowner");
  EXPECT_EQ(token->expiry * 1000, ToUnixMillis(clock_.Now() + 1h));
  EXPECT_TRUE(core::auth::VerifySasSignature(*token, kTestKey));
}

TEST_F(ServiceClientTest, DeviceIdsArePercentEncodedInPaths) {
  transport_.replies.push_back(Reply(200, "{}"));
  ASSERT_TRUE(client_.GetDevice("a b/c$'").has_value());
  EXPECT_EQ(Line(Only()), "GET /devices/a%20b%2Fc%24%27");
}

TEST_F(ServiceClientTest, CreateSendsTheDeviceWithoutIfMatch) {
  transport_.replies.push_back(Reply(200, R"({"deviceId":"d1","etag":"e1"})"));
  auto created = client_.CreateDevice({{"deviceId", "d1"}, {"status", "enabled"}});
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(JsonString(*created, "etag"), "e1");
  const HttpRequest& request = Only();
  EXPECT_EQ(Line(request), "PUT /devices/d1");
  EXPECT_EQ(HeaderOf(request, "If-Match"), "");
  EXPECT_EQ(HeaderOf(request, "Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(Json::parse(request.body), Json({{"deviceId", "d1"}, {"status", "enabled"}}));
}

TEST_F(ServiceClientTest, ReplaceAndDeleteSendQuotedEtags) {
  transport_.replies = {Reply(200, "{}"), Reply(204), Reply(204)};
  ASSERT_TRUE(client_.ReplaceDevice({{"deviceId", "d1"}}, "MQ==").has_value());
  ASSERT_TRUE(client_.DeleteDevice("d1", "").ok());
  ASSERT_TRUE(client_.DeleteDevice("d1", "\"Mg==\"").ok());
  ASSERT_EQ(transport_.requests.size(), 3u);
  EXPECT_EQ(HeaderOf(transport_.requests[0], "If-Match"), "\"MQ==\"");
  EXPECT_EQ(Line(transport_.requests[1]), "DELETE /devices/d1");
  EXPECT_EQ(HeaderOf(transport_.requests[1], "If-Match"), "*");
  EXPECT_EQ(HeaderOf(transport_.requests[2], "If-Match"), "\"Mg==\"");
}

TEST_F(ServiceClientTest, ListAndStatisticsPaths) {
  transport_.replies = {Reply(200, "[]"), Reply(200, "{}"), Reply(200, "{}")};
  ASSERT_TRUE(client_.ListDevices(10).has_value());
  ASSERT_TRUE(client_.DeviceStatistics().has_value());
  ASSERT_TRUE(client_.ServiceStatistics().has_value());
  EXPECT_EQ(transport_.requests[0].target, "/devices/?top=10&api-version=2021-04-12");
  EXPECT_EQ(Line(transport_.requests[1]), "GET /statistics/devices");
  EXPECT_EQ(Line(transport_.requests[2]), "GET /statistics/service");
}

TEST_F(ServiceClientTest, ErrorAnswersBecomeStatusesWithTheAzureCode) {
  transport_.replies.push_back(ErrorReply(404, "DeviceNotFound", "Device 'd9' not found"));
  auto got = client_.GetDevice("d9");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(got.error().reason(), "DeviceNotFound");
}

TEST_F(ServiceClientTest, TransportFailuresPassThrough) {
  transport_.replies.push_back(Unavailable("cannot connect", kConnectionError));
  auto got = client_.GetDevice("d1");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().reason(), kConnectionError);
}

TEST_F(ServiceClientTest, BodiesThatAreNotTheExpectedJsonAreBadResponses) {
  transport_.replies = {Reply(200, "<html>"), Reply(200, "{}")};
  EXPECT_EQ(client_.GetDevice("d1").error().reason(), kBadResponse);
  EXPECT_EQ(client_.ListDevices(5).error().reason(), kBadResponse);
}

TEST_F(ServiceClientTest, SendC2dMapsTheMessageToHeaders) {
  transport_.replies.push_back(
      Reply(201, R"({"deviceId":"d1","messageId":"m1","sequenceNumber":3})"));
  C2dMessage message{.body = "hello",
                     .message_id = "m1",
                     .correlation_id = "c1",
                     .ack = "full",
                     .content_type = "text/plain",
                     .content_encoding = "utf-8",
                     .expiry = clock_.Now() + 90s,
                     .properties = {{"alert", "50%"}, {"Mixed-Case", "v"}}};
  auto sent = client_.SendC2d("d1", message);
  ASSERT_TRUE(sent.has_value()) << sent.error().message();
  EXPECT_EQ((*sent)["sequenceNumber"], 3);
  const HttpRequest& request = Only();
  EXPECT_EQ(Line(request), "POST /devices/d1/messages/deviceBound");
  EXPECT_EQ(request.body, "hello");
  EXPECT_EQ(HeaderOf(request, "IoTHub-MessageId"), "m1");
  EXPECT_EQ(HeaderOf(request, "IoTHub-CorrelationId"), "c1");
  EXPECT_EQ(HeaderOf(request, "IoTHub-Ack"), "full");
  EXPECT_EQ(HeaderOf(request, "IoTHub-Expiry"), FormatIso8601(clock_.Now() + 90s));
  EXPECT_EQ(HeaderOf(request, "Content-Type"), "text/plain");
  EXPECT_EQ(HeaderOf(request, "iothub-contentencoding"), "utf-8");
  EXPECT_EQ(HeaderOf(request, "Content-Encoding"), "");
  EXPECT_EQ(HeaderOf(request, "iothub-app-alert"), "50%");  // raw, as the hub reads them
  EXPECT_EQ(HeaderOf(request, "iothub-app-Mixed-Case"), "v");
}

TEST_F(ServiceClientTest, SendC2dLeavesUnsetFieldsOut) {
  transport_.replies.push_back(Reply(201, R"({"deviceId":"d1","messageId":null})"));
  ASSERT_TRUE(client_.SendC2d("d1", C2dMessage{.body = ""}).has_value());
  for (const auto& [name, value] : Only().headers) {
    EXPECT_TRUE(name == "Authorization" || name == "Accept") << name;
  }
}

TEST_F(ServiceClientTest, PurgeDeletesTheCommandsCollection) {
  transport_.replies.push_back(Reply(200, R"({"totalMessagesPurged":2,"deviceId":"d1"})"));
  auto purged = client_.PurgeC2d("d1");
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(Line(Only()), "DELETE /devices/d1/commands");
}

TEST_F(ServiceClientTest, ReceiveFeedbackEmptyAndLocked) {
  transport_.replies = {Reply(204),
                        Reply(200, R"([{"originalMessageId":"m1","statusCode":"Success"}])",
                              {{"ETag", "\"lock-1\""}})};
  auto none = client_.ReceiveFeedback();
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  auto batch = client_.ReceiveFeedback();
  ASSERT_TRUE(batch.has_value());
  ASSERT_TRUE(batch->has_value());
  EXPECT_EQ((*batch)->lock_token, "lock-1");
  EXPECT_EQ((*batch)->records.size(), 1u);
  EXPECT_EQ(Line(transport_.requests[0]), "GET /messages/serviceBound/feedback");
}

TEST_F(ServiceClientTest, UnreadableFeedbackIsGivenBack) {
  transport_.replies = {Reply(200, "not json", {{"ETag", "\"lock-2\""}}), Reply(204)};
  auto batch = client_.ReceiveFeedback();
  ASSERT_FALSE(batch.has_value());
  EXPECT_EQ(batch.error().reason(), kBadResponse);
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Line(transport_.requests[1]), "POST /messages/serviceBound/feedback/lock-2/abandon");

  transport_.replies = {Reply(200, "[]")};
  EXPECT_EQ(client_.ReceiveFeedback().error().reason(), kBadResponse);  // no ETag
}

TEST_F(ServiceClientTest, CompleteAndAbandonFeedback) {
  transport_.replies = {Reply(204), Reply(204), ErrorReply(412, "DeviceMessageLockLost", "x")};
  EXPECT_TRUE(client_.CompleteFeedback("l/1").ok());
  EXPECT_TRUE(client_.AbandonFeedback("l2").ok());
  EXPECT_EQ(client_.AbandonFeedback("l3").code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(Line(transport_.requests[0]), "DELETE /messages/serviceBound/feedback/l%2F1");
  EXPECT_EQ(Line(transport_.requests[1]), "POST /messages/serviceBound/feedback/l2/abandon");
}

TEST_F(ServiceClientTest, StreamEventsAsksForServerSentEvents) {
  transport_.streams.push_back({.head = Reply(404), .chunks = {}, .end = Status::Ok()});
  struct Ignore final : StreamHandler {
    bool OnHead(const HttpResponse&) override { return false; }
    bool OnData(std::string_view) override { return false; }
    bool ShouldStop() override { return false; }
  } handler;
  ASSERT_TRUE(
      client_.StreamEvents({.from = "start", .device_id = "d 1", .last_event_id = "2:7"}, handler)
          .ok());
  const HttpRequest& request = Only();
  EXPECT_EQ(request.target, "/messages/events?from=start&deviceId=d%201&api-version=2021-04-12");
  EXPECT_EQ(HeaderOf(request, "Accept"), "text/event-stream");
  EXPECT_EQ(HeaderOf(request, "Last-Event-ID"), "2:7");
}

}  // namespace
}  // namespace iothub::cli
