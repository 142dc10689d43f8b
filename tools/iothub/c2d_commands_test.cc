#include <gtest/gtest.h>

#include "tools/iothub/cli_status.h"
#include "tools/iothub/fake_transport.h"

namespace iothub::cli {
namespace {

using namespace std::chrono_literals;

constexpr char kFeedbackPath[] = "/messages/serviceBound/feedback";

HttpResponse Batch(const std::string& lock, const Json& records) {
  return Reply(200, records.dump(),
               {{"ETag", "\"" + lock + "\""},
                {"Content-Type", "application/vnd.microsoft.iothub.feedback.json"}});
}

Json Record(const std::string& message_id, const std::string& code = "Success") {
  return {{"originalMessageId", message_id},
          {"enqueuedTimeUtc", "2024-05-01T10:00:00.0000000Z"},
          {"statusCode", code},
          {"description", code},
          {"deviceId", "d1"},
          {"deviceGenerationId", "g1"}};
}

// A hub for --wait-feedback: answers the send, then feedback GETs from `gets` in order (204 when
// used up); completes and abandons succeed.
class FeedbackHub {
 public:
  explicit FeedbackHub(CommandHarness& harness) {
    harness.transport.on_send = [this](const HttpRequest& request) -> Result<HttpResponse> {
      std::string line = Line(request);
      if (line == "POST /devices/d1/messages/deviceBound") {
        message_id = HeaderOf(request, "IoTHub-MessageId");
        ack = HeaderOf(request, "IoTHub-Ack");
        return Reply(
            201,
            Json({{"deviceId", "d1"}, {"messageId", message_id}, {"sequenceNumber", 1}}).dump());
      }
      if (line == std::string("GET ") + kFeedbackPath) {
        if (next_ >= gets.size()) return Reply(204);
        return gets[next_++](message_id);
      }
      settles.push_back(line);
      return Reply(204);
    };
  }

  std::vector<std::function<HttpResponse(const std::string& message_id)>> gets;
  std::string message_id;
  std::string ack;
  std::vector<std::string> settles;  // complete / abandon request lines, in order

 private:
  size_t next_ = 0;
};

TEST(C2dSendTest, SendsAndPrintsTheSequenceNumber) {
  CommandHarness hub;
  hub.transport.replies.push_back(
      Reply(201, R"({"deviceId":"d1","messageId":"m1","sequenceNumber":4})"));
  ASSERT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--message-id", "m1", "--ttl", "60"}), kExitOk)
      << hub.err.str();
  EXPECT_EQ(hub.out.str(), "Sent message m1 to d1 (sequence number 4).\n");
  const HttpRequest& request = hub.transport.requests.at(0);
  EXPECT_EQ(HeaderOf(request, "IoTHub-Expiry"), FormatIso8601(hub.clock.Now() + 60s));
  EXPECT_EQ(HeaderOf(request, "IoTHub-Ack"), "");
}

TEST(C2dSendTest, QueueFullIsRejected) {
  CommandHarness hub;
  hub.transport.replies.push_back(
      ErrorReply(403, "DeviceMaximumQueueDepthExceeded", "queue of d1 is full"));
  EXPECT_EQ(hub.Run({"c2d", "send", "d1", "hi"}), kExitRejected);
  EXPECT_NE(hub.err.str().find("DeviceMaximumQueueDepthExceeded"), std::string::npos);
}

TEST(C2dSendTest, WaitFeedbackCompletesTheMatchingBatchAndGivesTheOthersBack) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {
      [](const std::string&) { return Reply(204); },
      [](const std::string&) { return Batch("other", Json::array({Record("someone-else")})); },
      [](const std::string& id) {
        return Batch("ours", Json::array({Record("x"), Record(id)}));
      },
  };
  ASSERT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback"}), kExitOk) << hub.err.str();
  EXPECT_EQ(server.message_id.size(), 36u) << "a generated UUID";
  EXPECT_EQ(server.ack, "full");
  EXPECT_EQ(server.settles,
            (std::vector<std::string>{std::string("DELETE ") + kFeedbackPath + "/ours",
                                      std::string("POST ") + kFeedbackPath + "/other/abandon"}));
  EXPECT_EQ(hub.sleeps, 1);  // only after the empty answer; a batch is followed at once
  std::string out = hub.out.str();
  EXPECT_NE(out.find("Sent message " + server.message_id + " to d1"), std::string::npos) << out;
  EXPECT_NE(out.find("Feedback: 2024-05-01T10:00:00.0000000Z  Success"), std::string::npos) << out;
}

TEST(C2dSendTest, WaitFeedbackJsonHasTheSendAndTheRecord) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {[](const std::string& id) { return Batch("l", Json::array({Record(id)})); }};
  ASSERT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback", "--message-id", "mine", "--ack",
                     "positive", "--json"}),
            kExitOk);
  Json json = Json::parse(hub.out.str());
  EXPECT_EQ(json["sent"]["messageId"], "mine");
  EXPECT_EQ(json["feedback"]["statusCode"], "Success");
  EXPECT_EQ(server.ack, "positive");
}

TEST(C2dSendTest, NegativeFeedbackHasItsOwnExitCode) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {
      [](const std::string& id) { return Batch("l", Json::array({Record(id, "Rejected")})); }};
  EXPECT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback", "--message-id", "m1"}),
            kExitNegativeFeedback);
  EXPECT_NE(hub.out.str().find("Rejected"), std::string::npos);
  EXPECT_EQ(hub.err.str().substr(hub.err.str().find("iothub:")),
            "iothub: message m1 was not delivered: Rejected\n");
  EXPECT_EQ(server.settles.size(), 1u);
}

TEST(C2dSendTest, WaitFeedbackTimesOutAndGivesHeldBatchesBack) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {[](const std::string&) { return Batch("held", Json::array({Record("x")})); }};
  EXPECT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback", "--timeout", "3"}),
            kExitTimedOut);
  EXPECT_EQ(hub.sleeps, 6);  // 3 s of 500 ms polls
  EXPECT_EQ(server.settles,
            (std::vector<std::string>{std::string("POST ") + kFeedbackPath + "/held/abandon"}));
  EXPECT_NE(hub.err.str().find("no feedback for message"), std::string::npos) << hub.err.str();
}

TEST(C2dSendTest, InterruptedWaitGivesHeldBatchesBack) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {[&hub](const std::string&) {
    hub.interrupted = true;  // Ctrl-C while this batch is out
    return Batch("held", Json::array({Record("x")}));
  }};
  EXPECT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback"}), kExitInterrupted);
  EXPECT_EQ(server.settles,
            (std::vector<std::string>{std::string("POST ") + kFeedbackPath + "/held/abandon"}));
}

TEST(C2dSendTest, FeedbackErrorsEndTheWait) {
  CommandHarness hub;
  FeedbackHub server(hub);
  server.gets = {[](const std::string&) {
    return ErrorReply(401, "IotHubUnauthorizedAccess", "policy lacks ServiceConnect");
  }};
  EXPECT_EQ(hub.Run({"c2d", "send", "d1", "hi", "--wait-feedback"}), kExitUnauthorized);
}

TEST(C2dPurgeTest, PrintsHowManyWentAway) {
  CommandHarness hub;
  hub.transport.replies.push_back(
      Reply(200, R"({"totalMessagesPurged":3,"deviceId":"d1","moduleId":null})"));
  ASSERT_EQ(hub.Run({"c2d", "purge", "d1"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "Purged 3 messages from the queue of d1.\n");
}

TEST(FeedbackReceiveTest, PrintsAndCompletesEveryBatchUntilEmpty) {
  CommandHarness hub;
  hub.transport.replies = {Batch("a", Json::array({Record("m1"), Record("m2", "Expired")})),
                           Reply(204),  // the complete
                           Reply(204),  // the queue is empty
                           Batch("b", Json::array({Record("m3")}))};
  ASSERT_EQ(hub.Run({"feedback", "receive"}), kExitOk) << hub.err.str();
  std::string out = hub.out.str();
  EXPECT_NE(out.find("message m1"), std::string::npos);
  EXPECT_NE(out.find("Expired"), std::string::npos);
  EXPECT_EQ(out.find("m3"), std::string::npos) << "stopped at the first empty answer";
  ASSERT_EQ(hub.transport.requests.size(), 3u);
  EXPECT_EQ(Line(hub.transport.requests[1]), std::string("DELETE ") + kFeedbackPath + "/a");
}

TEST(FeedbackReceiveTest, SaysSoWhenThereIsNone) {
  CommandHarness hub;
  hub.transport.replies = {Reply(204)};
  ASSERT_EQ(hub.Run({"feedback", "receive"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "No feedback records.\n");
  hub.out.str("");
  hub.transport.replies = {Reply(204)};
  ASSERT_EQ(hub.Run({"feedback", "receive", "--json"}), kExitOk);
  EXPECT_EQ(hub.out.str(), "");
}

TEST(FeedbackReceiveTest, FollowPollsUntilTheTimeoutWithJsonLines) {
  CommandHarness hub;
  hub.transport.on_send = [&, n = 0](const HttpRequest& request) mutable -> Result<HttpResponse> {
    if (request.method != "GET") return Reply(204);
    if (++n == 3) return Batch("l", Json::array({Record("m1"), Record("m2")}));
    return Reply(204);
  };
  ASSERT_EQ(hub.Run({"feedback", "receive", "--follow", "--timeout", "5", "--json"}), kExitOk);
  EXPECT_EQ(hub.sleeps, 10);
  std::string out = hub.out.str();
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_EQ(Json::parse(out.substr(0, out.find('\n')))["originalMessageId"], "m1");
}

TEST(FeedbackReceiveTest, FollowEndsQuietlyOnCtrlC) {
  CommandHarness hub;
  hub.transport.on_send = [&](const HttpRequest&) -> Result<HttpResponse> {
    hub.interrupted = true;
    return Unavailable("interrupted", kInterrupted);
  };
  EXPECT_EQ(hub.Run({"feedback", "receive", "--follow"}), kExitOk);
  EXPECT_EQ(hub.err.str(), "");
}

}  // namespace
}  // namespace iothub::cli
