#include "http/feedback_resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "http/c2d_resource.h"
#include "http/resource_test_fixture.h"

namespace iothub::http {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;

// The feedback resources over a real Hub: C2D messages are sent over HTTP, settled by driving
// the device's C2dQueues as a device front-end would, and their feedback read back over HTTP.
class FeedbackResourceTest : public ResourceTest {
 protected:
  void SetUp() override {
    core::HubOptions options;
    options.feedback.batch_size = 1;  // one record per feedback message
    ASSERT_NO_FATAL_FAILURE(OpenHub(options));
    AddC2dRoutes(router_, *hub_);
    AddFeedbackRoutes(router_, *hub_);
    device_ = CreateDevice("d1");
  }

  // Dispatches without running any executor; the answer so far (none: it comes on the feedback
  // executor). The answer lands in answer_.
  std::optional<Response> Start(std::string method, std::string_view target, Headers headers = {},
                                std::optional<std::string> token = std::nullopt) {
    headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    ResourceTest::Start(MakeRequest(std::move(method), target, std::move(headers)));
    return answer_;
  }
  Response Call(std::string method, std::string_view target, Headers headers = {},
                std::optional<std::string> token = std::nullopt) {
    headers.emplace("Authorization", token.value_or(PolicyToken("service")));
    return Dispatch(MakeRequest(std::move(method), target, std::move(headers)));
  }

  // Sends a C2D message with ack=full over HTTP and completes it as the device would; the
  // feedback record is then batched into a feedback message.
  void SendAndComplete(const std::string& message_id) {
    Response sent = Call("POST", "/devices/d1/messages/deviceBound",
                         {{"IoTHub-Ack", "full"}, {"IoTHub-MessageId", message_id}});
    ASSERT_EQ(sent.status, 201) << sent.body;
    core::C2dQueues& queues = hub_->c2d(hub_->ShardOf("d1"));
    auto locked = queues.ReceiveAndLock("d1");
    ASSERT_TRUE(locked.has_value());
    Status completed = Internal("not called");
    queues.Complete("d1", locked->lock_token, [&](Status s) { completed = s; });
    RunAll();
    ASSERT_TRUE(completed.ok()) << completed.ToString();
    hub_->ProcessTimers(0);  // batch the record (batch_size 1)
    RunAll();
  }

  core::Device device_;
};

TEST_F(FeedbackResourceTest, EmptyQueueIs204) {
  Response r = Call("GET", "/messages/serviceBound/feedback?api-version=2021-04-12");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(FeedbackResourceTest, ReceiveRunsOnTheFeedbackExecutor) {
  EXPECT_FALSE(Start("GET", "/messages/serviceBound/feedback").has_value());
  EXPECT_FALSE(answer_.has_value());
  shard0_.RunAll();
  EXPECT_TRUE(answer_.has_value());
}

TEST_F(FeedbackResourceTest, CompletedFullAckMessageYieldsAFeedbackBatch) {
  SendAndComplete("m1");
  Response r = Call("GET", "/messages/serviceBound/feedback");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("Content-Type"), "application/vnd.microsoft.iothub.feedback.json");
  EXPECT_NE(Lock(r), "<unquoted>");
  EXPECT_FALSE(r.headers.at("iothub-messageid").empty());
  Timestamp enqueued;
  EXPECT_TRUE(ParseIso8601(r.headers.at("iothub-enqueuedtime"), &enqueued));
  EXPECT_EQ(r.headers.at("iothub-deliverycount"), "0");
  EXPECT_EQ(r.headers.at("iothub-userid"), kHost);
  json records = json::parse(r.body);
  ASSERT_TRUE(records.is_array());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["originalMessageId"], "m1");
  EXPECT_EQ(records[0]["statusCode"], "Success");
  EXPECT_EQ(records[0]["description"], "Success");
  EXPECT_EQ(records[0]["deviceId"], "d1");
  EXPECT_EQ(records[0]["deviceGenerationId"], device_.generation_id);
  // Locked: a second receive sees nothing.
  EXPECT_EQ(Call("GET", "/messages/serviceBound/feedback").status, 204);
}

TEST_F(FeedbackResourceTest, CompleteRemovesTheMessageAndAcceptsTheQuotedEtag) {
  SendAndComplete("m1");
  Response r = Call("GET", "/messages/serviceBound/feedback");
  ASSERT_EQ(r.status, 200);
  std::string quoted = UrlEncode(r.headers.at("ETag"));
  EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/" + quoted).status, 204);
  EXPECT_EQ(hub_->feedback().Depth(), 0u);
  clock_.Advance(hours(2));  // past any lock: nothing comes back
  EXPECT_EQ(Call("GET", "/messages/serviceBound/feedback").status, 204);
}

TEST_F(FeedbackResourceTest, StaleLockIs412) {
  SendAndComplete("m1");
  std::string lock = Lock(Call("GET", "/messages/serviceBound/feedback"));
  ASSERT_EQ(Call("DELETE", "/messages/serviceBound/feedback/" + lock).status, 204);
  Response again = Call("DELETE", "/messages/serviceBound/feedback/" + lock);
  EXPECT_EQ(again.status, 412);
  EXPECT_EQ(ErrorCode(again), "ErrorCode:DeviceMessageLockLost");
  EXPECT_EQ(Call("POST", "/messages/serviceBound/feedback/" + lock + "/abandon").status, 412);
  EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/no-such-lock").status, 412);
}

TEST_F(FeedbackResourceTest, AbandonMakesItVisibleAgainWithAHigherDeliveryCount) {
  SendAndComplete("m1");
  std::string first = Lock(Call("GET", "/messages/serviceBound/feedback"));
  EXPECT_EQ(Call("POST", "/messages/serviceBound/feedback/" + first + "/abandon").status, 204);
  Response again = Call("GET", "/messages/serviceBound/feedback");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.headers.at("iothub-deliverycount"), "1");
  EXPECT_NE(Lock(again), first);
  EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/" + first).status, 412);
  EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/" + Lock(again)).status, 204);
}

TEST_F(FeedbackResourceTest, LockTimeoutHeaderIsHonoured) {
  SendAndComplete("m1");
  Response r = Call("GET", "/messages/serviceBound/feedback", {{"IotHub-MessageLockTimeout", "5"}});
  ASSERT_EQ(r.status, 200);
  clock_.Advance(seconds(6));
  EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/" + Lock(r)).status, 412);
  EXPECT_EQ(Call("GET", "/messages/serviceBound/feedback").status, 200) << "visible again";
}

TEST_F(FeedbackResourceTest, BadLockTimeoutHeaderIs400) {
  for (const char* bad : {"0", "301", "soon", ""}) {
    Response r =
        Call("GET", "/messages/serviceBound/feedback", {{"IotHub-MessageLockTimeout", bad}});
    EXPECT_EQ(r.status, 400) << bad;
  }
}

TEST_F(FeedbackResourceTest, RefusesMissingDeviceAndWeakTokens) {
  SendAndComplete("m1");
  EXPECT_EQ(Dispatch(MakeRequest("GET", "/messages/serviceBound/feedback")).status, 401);
  std::string device = DeviceToken(device_);
  for (const std::string& token : {device, PolicyToken("registryRead"),
                                   PolicyToken("registryReadWrite"), PolicyToken("device")}) {
    Response get = Call("GET", "/messages/serviceBound/feedback", {}, token);
    EXPECT_EQ(get.status, 401) << token;
    EXPECT_EQ(ErrorCode(get), "ErrorCode:IotHubUnauthorizedAccess");
    EXPECT_EQ(Call("DELETE", "/messages/serviceBound/feedback/x", {}, token).status, 401);
    EXPECT_EQ(Call("POST", "/messages/serviceBound/feedback/x/abandon", {}, token).status, 401);
  }
  EXPECT_EQ(Call("GET", "/messages/serviceBound/feedback", {}, PolicyToken("iothubowner")).status,
            200);
}

}  // namespace
}  // namespace iothub::http
