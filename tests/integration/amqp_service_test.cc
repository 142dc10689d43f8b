// The service side of the AMQP endpoint of a real iothubd (started with --c2d-max-queue-depth 2),
// with Debian's python3-qpid-proton (amqp_proton_client.py): C2D sends on /messages/devicebound
// accepted, or rejected with IoT Hub's conditions (unknown device amqp:not-found, full queue
// amqp:resource-limit-exceeded); CBS put-token with a service policy; the feedback receiver,
// where accepting completes a feedback message and releasing brings it back. One hub for the
// suite (a WHOLE_SUITES entry).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/amqp_fixture.h"

namespace iothub::testing {
namespace {

using nlohmann::json;

constexpr char kFeedbackAddress[] = "/messages/serviceBound/feedback";

class AmqpServiceTest : public AmqpHubTest<AmqpServiceTest> {
 public:  // read by SharedHubTest
  static std::vector<std::string> HubArgs() { return {"--c2d-max-queue-depth", "2"}; }

 protected:
  static json Send(const std::string& device_id, const std::string& body, json extra = {}) {
    json step =
        Op("send", {{"link", "c2d"}, {"body", body}, {"to", DeviceboundAddress(device_id)}});
    if (extra.is_object()) step.update(extra);
    return step;
  }
  static json AttachSender() {
    return Op("attach",
              {{"link", "c2d"}, {"address", "/messages/devicebound"}, {"role", "sender"}});
  }
  // The test's device connects, receives what waits for it and accepts the first message.
  AmqpRun ReceiveAndAccept() {
    return Run(
        PlainDevice(id_, key_),
        {Op("connect"),
         Op("attach", {{"link", "in"},
                       {"address", DeviceboundAddress(id_)},
                       {"role", "receiver"},
                       {"credit", 5}}),
         Op("receive", {{"link", "in"}}),
         Op("settle", {{"link", "in"}, {"indices", {0}}, {"outcome", "accepted"}}), Op("close")},
        "device");
  }
};

TEST_F(AmqpServiceTest, SendToAnUnknownDeviceIsRejectedNotFound) {
  NewDevice();
  AmqpRun run = Run(
      PlainPolicy("iothubowner"),
      {Op("connect"), AttachSender(), Send("no-such-device", "lost"), Send(id_, "found"),
       Op("send", {{"link", "c2d"}, {"body", "nowhere"}, {"to", "/not/a/device"}}), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  ASSERT_EQ(run.Step("attach")["attached"], true) << run.Dump() << Log();
  json unknown = run.Step("send", 0);
  EXPECT_EQ(unknown["state"], "rejected") << run.Dump() << Log();
  EXPECT_EQ(unknown["error"]["condition"], "amqp:not-found") << run.Dump();
  EXPECT_FALSE(unknown.contains("detached")) << run.Dump();
  EXPECT_EQ(run.Step("send", 1)["state"], "accepted") << run.Dump() << Log();
  json bad_to = run.Step("send", 2);
  EXPECT_EQ(bad_to["state"], "rejected") << run.Dump() << Log();
  EXPECT_NE(bad_to["error"].value("condition", ""), "") << run.Dump();
}

TEST_F(AmqpServiceTest, SendToAFullQueueIsRejectedResourceLimitExceeded) {
  NewDevice();
  AmqpRun run = Run(PlainPolicy("service"), {Op("connect"), AttachSender(), Send(id_, "1"),
                                             Send(id_, "2"), Send(id_, "3"), Op("close")});
  ASSERT_EQ(run.Step("connect")["open"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send", 0)["state"], "accepted") << run.Dump() << Log();
  EXPECT_EQ(run.Step("send", 1)["state"], "accepted") << run.Dump() << Log();
  json third = run.Step("send", 2);
  EXPECT_EQ(third["state"], "rejected") << run.Dump() << Log();
  EXPECT_EQ(third["error"]["condition"], "amqp:resource-limit-exceeded") << run.Dump();
  EXPECT_FALSE(third.contains("detached")) << run.Dump();
}

TEST_F(AmqpServiceTest, PutTokenOfAServicePolicyAuthorizesSends) {
  NewDevice();
  AmqpRun run = Run(
      AmqpAnonymous(),
      {Op("connect"),
       Op("put-token", {{"token", hub_->PolicyToken("service")}, {"audience", hub_->host()}}),
       // Addresses are compared case-insensitively.
       Op("attach", {{"link", "c2d"}, {"address", "/Messages/DeviceBound"}, {"role", "sender"}}),
       Send(id_, "via cbs", {{"id", "svc-cbs"}, {"properties", {{"p", "q"}}}}), Op("close")});
  ASSERT_EQ(run.Step("put-token")["status"], 200) << run.Dump() << Log();
  ASSERT_EQ(run.Step("attach")["attached"], true) << run.Dump() << Log();
  EXPECT_EQ(run.Step("send")["state"], "accepted") << run.Dump() << Log();
  AmqpRun device = ReceiveAndAccept();
  json messages = device.Step("receive")["messages"];
  ASSERT_EQ(messages.size(), 1u) << device.Dump() << Log();
  EXPECT_EQ(messages[0]["body"], "via cbs");
  EXPECT_EQ(messages[0]["id"], "svc-cbs");
  EXPECT_EQ(messages[0]["properties"]["p"], "q") << messages[0];
}

TEST_F(AmqpServiceTest, FeedbackAcceptCompletesAndReleaseRedelivers) {
  NewDevice();
  const std::string mid = "fb-" + id_;
  AmqpRun send = Run(PlainPolicy("iothubowner"),
                     {Op("connect"), AttachSender(),
                      Send(id_, "ack me", {{"id", mid}, {"ack", "full"}}), Op("close")},
                     "send");
  ASSERT_EQ(send.Step("send")["state"], "accepted") << send.Dump() << Log();
  AmqpRun device = ReceiveAndAccept();
  ASSERT_EQ(device.Step("receive")["messages"].size(), 1u) << device.Dump() << Log();

  AmqpRun feedback = Run(
      PlainPolicy("service"),
      {Op("connect"),
       Op("attach",
          {{"link", "fb"}, {"address", kFeedbackAddress}, {"role", "receiver"}, {"credit", 10}}),
       Op("receive", {{"link", "fb"}, {"timeout", 15}}),
       Op("settle", {{"link", "fb"}, {"indices", {0}}, {"outcome", "released"}}),
       Op("receive", {{"link", "fb"}, {"timeout", 10}}),
       Op("settle", {{"link", "fb"}, {"indices", {1}}, {"outcome", "accepted"}}),
       Op("receive", {{"link", "fb"}, {"timeout", 1.5}}), Op("close")},
      "feedback");
  ASSERT_EQ(feedback.Step("attach")["attached"], true) << feedback.Dump() << Log();
  json first = feedback.Step("receive", 0)["messages"];
  ASSERT_EQ(first.size(), 1u) << feedback.Dump() << Log();
  EXPECT_EQ(first[0]["contentType"], "application/vnd.microsoft.iothub.feedback.json") << first;
  EXPECT_EQ(first[0]["settled"], false) << "feedback must be sent unsettled";
  json records = json::parse(first[0].value("body", ""), nullptr, false);
  ASSERT_TRUE(records.is_array()) << first;
  ASSERT_EQ(records.size(), 1u) << records;
  EXPECT_EQ(records[0]["originalMessageId"], mid) << records;
  EXPECT_EQ(records[0]["statusCode"], "Success") << records;
  EXPECT_EQ(records[0]["deviceId"], id_) << records;

  json again = feedback.Step("receive", 1)["messages"];
  ASSERT_EQ(again.size(), 1u) << "a released feedback message came not back" << feedback.Dump()
                              << Log();
  EXPECT_EQ(again[0]["body"], first[0]["body"]);
  EXPECT_EQ(again[0]["annotations"]["iothub-deliverycount"],
            first[0]["annotations"].value("iothub-deliverycount", -1) + 1)
      << again;
  EXPECT_EQ(again[0]["deliveryCount"], first[0]["deliveryCount"].get<int>() + 1)
      << "header delivery-count (AMQP spec 3.2.1)" << again;
  EXPECT_EQ(feedback.Step("receive", 2)["messages"].size(), 0u)
      << "an accepted feedback message came back" << feedback.Dump();
  // Completed: nothing is left for the REST API either.
  EXPECT_EQ(hub_->Rest("GET", "/messages/serviceBound/feedback").status, 204) << Log();
}

}  // namespace
}  // namespace iothub::testing
